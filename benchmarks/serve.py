"""Load-test a generated project's BentoML service against FastAPI and LitServe peers, on loopback.

    uv run --project <project> --with litserve==0.2.19 python benchmarks/serve.py [--duration 10] [--warmup 3]

Starts every server (the service, then each peer in `peers/`, with work and bare) on
127.0.0.1, all pinned to the same CPUs (`taskset`), with the service's number of inference
processes and one OpenMP thread, and pauses each (SIGSTOP) until its turn: then, case by case,
each server in turn (a different one first in each case) is resumed, loaded by `hey` (pinned
to other CPUs) and paused again. Prints req/s, rows/s, p50/p99/max, the CPU time of all the
server's processes per request and per row, their RSS, and the service ÷ the best peer.
Raw output goes to `build/benchmarks/serve/<time>/` in this repo (or `--raw`); see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gzip
import json
import math
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from target import BENCHMARKS_DIR, TEMPLATE_ROOT, enter_project, import_tools, project_module

import_tools()
from tools.servers import Server, free_port, request, started_server  # noqa: E402 - after import_tools

STALL_MS = 50.0
QUEUED = "q"  # in place of a stall count where every request queues behind the others
PROBE_RETRIES = 5  # a cold first request may time out (503/504); the service is warm after it
MIN_STALL_RUN_SECONDS = 20
SOAK_CONNECTIONS = 4  # the soak's rate is split over this many connections (hey's -q is per connection)
RESULTS_DIR = TEMPLATE_ROOT / "build" / "benchmarks" / "serve"
SERVICE = "bentoml"
# LitServe's batch settings, tuned on the sample model (benchmarks/README.md): requests per call, and
# how long its inference worker waits for them (every lone request waits that long). No one window
# suits every case (1 ms is best at one connection, 10 ms at 16), so LitServe runs with both.
LITSERVE_MAX_BATCH_SIZE = 16
LITSERVE_BATCH_TIMEOUT = 0.001
LITSERVE_WIDE_BATCH_TIMEOUT = 0.010
# The goals of issue #19 beyond "throughput ≥ 1.0x and p99 ≤ 1.1x the best peer in every case".
GOAL_THROUGHPUT_RATIO = 1.0
GOAL_P99_RATIO = 1.1
GOAL_ROWS_PER_SECOND_32 = 20_000  # 32-row requests at 16 connections
GOAL_CPU_MS_ONE_ROW = 2.0  # one row at one connection
GOAL_P99_MS_ONE_ROW = 10.0  # one row at one connection


@dataclass(frozen=True)
class App:
    """A server the benchmark runs: what it is, and whether it does the service's per-request work."""

    name: str
    label: str
    work: bool
    per_endpoint: bool = False  # one server per endpoint (LitServe: each endpoint has its own workers)
    ready_path: str = "/readyz"
    batch_timeout: float | None = None  # LitServe's window, when not `--litserve-timeout`


APPS = {
    app.name: app
    for app in (
        App(SERVICE, "BentoML (the service)", work=True),
        App("fastapi", "FastAPI", work=True),
        App("fastapi-batching", "FastAPI + batching", work=True),
        App("litserve", "LitServe", work=True, per_endpoint=True, ready_path="/health"),
        App(
            "litserve-wide",
            "LitServe, 10 ms window",
            work=True,
            per_endpoint=True,
            ready_path="/health",
            batch_timeout=LITSERVE_WIDE_BATCH_TIMEOUT,
        ),
        App("fastapi-bare", "FastAPI, bare", work=False),
        App("fastapi-batching-bare", "FastAPI + batching, bare", work=False),
        App("litserve-bare", "LitServe, bare", work=False, per_endpoint=True, ready_path="/health"),
    )
}
FASTAPI_FACTORIES = {
    "fastapi": "sync_app",
    "fastapi-bare": "sync_bare_app",
    "fastapi-batching": "batching_app",
    "fastapi-batching-bare": "batching_bare_app",
}


@dataclass(frozen=True)
class Case:
    """One load: an endpoint, rows per request, connections, and a soak's request rate (else as fast as answered)."""

    endpoint: str
    rows: int
    connections: int
    rate: float | None = None

    @property
    def name(self) -> str:
        rows = "1 row" if self.endpoint == "/predict" else f"{self.rows} rows"
        load = f"soak at {self.rate:g} req/s" if self.rate else f"c={self.connections}"
        return f"{self.endpoint} {rows}, {load}"

    @property
    def slug(self) -> str:
        """The case in file names."""
        soak = f"-soak{self.rate:g}" if self.rate else ""
        return f"{self.endpoint.strip('/')}-r{self.rows}-c{self.connections}{soak}"

    def body(self, row: Mapping[str, Any]) -> Any:
        return dict(row) if self.endpoint == "/predict" else {"rows": [row] * self.rows}


@dataclass(frozen=True)
class Result:
    """What one load run measured, from the requests started after the warm-up."""

    app: str
    case: str
    endpoint: str
    connections: int
    rows_per_request: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    stalls: int
    errors: int
    server_cpu_ms: float  # CPU time of all the server's processes per request
    rss_mb: float  # resident memory of all the server's processes at the end of the run
    raw: str  # the load generator's output, in the raw folder
    rate: float | None = None  # a soak's request rate

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def queued(self) -> bool:
        """Whether a request's mean time in the server (connections ÷ throughput) crosses the stall line."""
        return not self.rate and self.connections / self.requests_per_second * 1000 > STALL_MS

    @property
    def rows_per_second(self) -> float:
        return self.requests_per_second * self.rows_per_request

    @property
    def cpu_us_per_row(self) -> float:
        return self.server_cpu_ms * 1000 / self.rows_per_request


# --- the servers ---


def server_command(app: App, args: argparse.Namespace, workers: int, port: int, endpoint: str) -> list[str]:
    """The command starting `app` (for `endpoint` when it serves one endpoint per server), pinned to the server CPUs."""
    pinned = ["taskset", "-c", args.server_cpus]
    if app.name == SERVICE:
        bentoml = Path(sys.executable).with_name("bentoml")
        return [*pinned, str(bentoml), "serve", args.service, "--host", "127.0.0.1", "--port", str(port)]
    if app.name.startswith("litserve"):
        script = [sys.executable, str(BENCHMARKS_DIR / "peers" / "litserve_peer.py"), "--endpoint", endpoint]
        timeout = args.litserve_timeout if app.batch_timeout is None else app.batch_timeout
        batching = ["--max-batch-size", str(args.litserve_batch_size), "--batch-timeout", str(timeout)]
        bare = ["--bare"] if not app.work else []
        return [*pinned, *script, "--port", str(port), "--workers", str(workers), *batching, *bare]
    factory = f"peers.fastapi_peer:{FASTAPI_FACTORIES[app.name]}"
    uvicorn = [sys.executable, "-m", "uvicorn", factory, "--factory", "--app-dir", str(BENCHMARKS_DIR)]
    access_log = [] if app.work else ["--no-access-log"]
    return [*pinned, *uvicorn, "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), *access_log]


def server_env(env: Mapping[str, str], scratch: Path) -> dict[str, str]:
    """`env` for one server: this folder importable, one OpenMP thread, its own prediction log and metrics folders.

    `--service ab_bentoml_timeout:ModelService` and the peers live in this folder.
    """
    path = os.pathsep.join(filter(None, (str(BENCHMARKS_DIR), env.get("PYTHONPATH"))))
    for folder in ("predictions", "metrics"):
        (scratch / folder).mkdir(parents=True)
    return {
        **env,
        "PYTHONPATH": path,
        "OMP_NUM_THREADS": "1",
        "PREDICTION_LOG_DIR": str(scratch / "predictions"),
        "PROMETHEUS_MULTIPROC_DIR": str(scratch / "metrics"),
    }


def service_workers(service: str) -> int:
    """How many worker processes the BentoML service is configured with (every peer gets as many)."""
    module, _, name = service.partition(":")
    for folder in (Path.cwd(), BENCHMARKS_DIR):  # import it as `bentoml serve` will, from either place
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    workers = getattr(__import__(module, fromlist=[name]), name).config.get("workers", 1)
    return (os.cpu_count() or 1) if workers == "cpu_count" else int(workers)


def split_cpus(count: int) -> tuple[str, str]:
    """Default CPU sets (servers, load generator): the upper half for the servers, the rest for `hey`."""
    if count < 2:
        return "0", "0"
    half = count // 2
    return cpu_list(half, count - 1), cpu_list(0, half - 1)


def cpu_list(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}-{last}"


# --- the load generator ---


def percentile(ordered: list[float], share: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return ordered[max(0, math.ceil(share / 100 * len(ordered)) - 1)]


@dataclass(frozen=True)
class Load:
    """How one run loads a server: which case, with which body, for how long, from which CPUs."""

    case: Case
    body: Path
    warmup: int
    duration: int
    api_key: str
    client_cpus: str


def hey_command(load: Load, url: str) -> list[str]:
    """hey for warm-up + duration seconds, pinned to the client CPUs; a soak's rate split over its connections."""
    case = load.case
    command = ["taskset", "-c", load.client_cpus, "hey", "-z", f"{load.warmup + load.duration}s"]
    command += ["-c", str(case.connections), "-m", "POST", "-t", "10", "-T", "application/json"]
    command += ["-q", f"{case.rate / case.connections:g}"] if case.rate else []
    command += ["-H", f"X-API-Key: {load.api_key}"] if load.api_key else []
    return [*command, "-D", str(load.body), "-o", "csv", url + case.endpoint]


def statistics(raw: Path, warmup: int) -> dict[str, Any]:
    """Latency, stall and error figures from hey's per-request CSV, over the requests started after the warm-up."""
    latencies, errors = [], 0
    with raw.open() as lines:
        for row in csv.DictReader(lines):
            if float(row["offset"]) >= warmup:
                latencies.append(float(row["response-time"]) * 1000)
                errors += row["status-code"] != "200"
    if not latencies:
        raise RuntimeError(f"hey recorded no requests after the warm-up: see {raw}")
    latencies.sort()
    return {
        "requests": len(latencies),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": latencies[-1],
        "stalls": sum(latency > STALL_MS for latency in latencies),
        "errors": errors,
    }


def run_hey(server: Server, load: Load, raw: Path) -> dict[str, Any]:
    """One hey run; the server's CPU time is read over the measured window only."""
    with raw.open("w") as output:
        hey = subprocess.Popen(hey_command(load, server.url), stdout=output)  # noqa: S603
        try:
            time.sleep(load.warmup)
            cpu_before = server.cpu_seconds()
            hey.wait(timeout=load.duration + 120)
            cpu_seconds = server.cpu_seconds() - cpu_before
        finally:
            if hey.poll() is None:
                hey.kill()
                hey.wait(timeout=10)
    if hey.returncode != 0:
        raise RuntimeError(f"hey exited with {hey.returncode}: see {raw}")
    measured = statistics(raw, load.warmup)
    return {
        **measured,
        "seconds": float(load.duration),
        "server_cpu_ms": cpu_seconds * 1000 / measured["requests"],
        "rss_mb": server.rss_bytes() / 2**20,
    }


def gzipped(raw: Path) -> Path:
    """`raw` compressed beside itself (hey's CSV shrinks about tenfold), the original removed."""
    packed = raw.with_name(raw.name + ".gz")
    with raw.open("rb") as source, gzip.open(packed, "wb") as target:
        shutil.copyfileobj(source, target)
    raw.unlink()
    return packed


# --- the benchmark ---


def example_row() -> dict[str, object]:
    """One valid request row: each input column's example value from the project's data contract."""
    return {column.name: column.example for column in project_module("contract").COLUMNS}


def cases(args: argparse.Namespace, max_batch_rows: int, peak_rps: float) -> tuple[list[Case], list[str]]:
    """The load cases in run order, the soak last; and notes on any left out."""
    chosen, notes = [], []
    for rows in [1, *args.batch_rows]:
        if rows > max_batch_rows:
            notes.append(f"{rows}-row requests skipped: service.max_batch_rows is {max_batch_rows} in ml-project.yaml")
            continue
        endpoint = "/predict" if rows == 1 else "/predict_batch"
        chosen += [Case(endpoint, rows, connections) for connections in args.connections]
    if args.soak > 0:
        chosen.append(Case("/predict", 1, SOAK_CONNECTIONS, rate=2 * peak_rps))
    return chosen, notes


def default_service() -> str:
    """The service `bentoml serve` would start in the project: pyproject's `[tool.bentoml.build] service`."""
    pyproject = tomllib.loads(Path("pyproject.toml").read_text(encoding="utf-8"))
    return pyproject["tool"]["bentoml"]["build"]["service"]


@dataclass(frozen=True)
class Running:
    """A started server, paused between its runs: which app, and how many processes it runs."""

    app: App
    server: Server
    processes: int


def probe(server: Server, case: Case, body: Any, headers: Mapping[str, str], label: str) -> Any:
    """One request of `case`: it must answer 200 (after retries while a cold worker answers 503/504)."""
    url = server.url + case.endpoint
    status, answer = request("POST", url, body, timeout=30, headers=headers)
    for _ in range(PROBE_RETRIES):
        if status not in (503, 504):
            break
        status, answer = request("POST", url, body, timeout=30, headers=headers)
    if status != 200:
        raise RuntimeError(f"{label} {case.endpoint} answered {status}: {answer[:500]}")
    return json.loads(answer)


@contextlib.contextmanager
def servers(
    args: argparse.Namespace, chosen: list[Case], workers: int, env: Mapping[str, str], raw_dir: Path
) -> Iterator[dict[tuple[str, str], Running]]:
    """Every server started one at a time, checked on each case's body, and paused; all stopped at the end.

    Keyed by (app, endpoint). Every answer must equal the service's (or the first app's): the
    same model, request model and prediction function behind every server.
    """
    headers = {"X-API-Key": args.api_key} if args.api_key else {}
    row = example_row()
    reference: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="serve-bench-")))
        running: dict[tuple[str, str], Running] = {}
        for app in (APPS[name] for name in args.apps):
            endpoints = sorted({case.endpoint for case in chosen})
            for group in [[endpoint] for endpoint in endpoints] if app.per_endpoint else [endpoints]:
                port, name = free_port(), "-".join([app.name, *(e.strip("/") for e in group if app.per_endpoint)])
                print(f"starting {name} ...", file=sys.stderr, flush=True)
                command = server_command(app, args, workers, port, group[0])
                log = raw_dir / f"{name}.log"
                marked_env = server_env(env, scratch / name)
                server = stack.enter_context(
                    started_server(command, Path.cwd(), marked_env, port, log, ready=app.ready_path)
                )
                for case in chosen:
                    if case.endpoint in group:
                        answer = probe(server, case, case.body(row), headers, app.label)
                        if reference.setdefault(case.slug, answer) != answer:
                            raise RuntimeError(f"{app.label} answered {case.name} differently: {answer}")
                if (cpus := server.cpus()) != {args.server_cpus_set}:
                    raise RuntimeError(f"{app.label}'s processes run on CPUs {cpus}, not {args.server_cpus}")
                server.pause()
                for endpoint in group:
                    running[(app.name, endpoint)] = Running(app, server, len(server.pids()))
        yield running


def benchmark(
    args: argparse.Namespace, chosen: list[Case], workers: int, env: Mapping[str, str]
) -> tuple[list[Result], dict[str, list[int]]]:
    """Every case on every server, interleaved: case by case, each server in turn, starting with a different one.

    Also returns how many processes each app's servers ran.
    """
    raw_dir = args.raw
    row = example_row()
    results = []
    with servers(args, chosen, workers, env, raw_dir) as running:
        processes: dict[str, list[int]] = {}
        for target in {id(target.server): target for target in running.values()}.values():
            processes.setdefault(target.app.name, []).append(target.processes)
        for index, case in enumerate(chosen):
            body = raw_dir / f"body-{case.endpoint.strip('/')}-r{case.rows}.json"
            body.write_text(json.dumps(case.body(row)), encoding="utf-8")
            order = args.apps[index % len(args.apps) :] + args.apps[: index % len(args.apps)]
            duration = args.soak if case.rate else args.duration
            load = Load(case, body, args.warmup, duration, args.api_key, args.client_cpus)
            for name in order:
                target = running[(name, case.endpoint)]
                print(f"{target.app.label}: {case.name} ...", file=sys.stderr, flush=True)
                raw = raw_dir / f"{name}-{case.slug}.csv"
                target.server.resume()
                try:
                    measured = run_hey(target.server, load, raw)
                finally:
                    target.server.pause()
                fields = {"case": case.name, "endpoint": case.endpoint, "connections": case.connections}
                fields |= {"rows_per_request": case.rows, "rate": case.rate, "raw": gzipped(raw).name}
                results.append(Result(name, **fields, **measured))
    cases_run = [case.name for case in chosen]
    results.sort(key=lambda result: (cases_run.index(result.case), args.apps.index(result.app)))
    return results, processes


# --- the report ---


def results_table(results: list[Result]) -> list[str]:
    lines = [
        "| case | server | req/s | rows/s | p50 ms | p99 ms | max ms | stalls | errors | CPU ms/req | CPU µs/row "
        "| RSS MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        lines.append(
            f"| {result.case} | {APPS[result.app].label} | {result.requests_per_second:,.0f} "
            f"| {result.rows_per_second:,.0f} | {result.p50_ms:.1f} | {result.p99_ms:.1f} | {result.max_ms:.1f} "
            f"| {QUEUED if result.queued else result.stalls} | {result.errors} | {result.server_cpu_ms:.2f} "
            f"| {result.cpu_us_per_row:,.0f} "
            f"| {result.rss_mb:,.0f} |"
        )
    return lines


def ratio_table(results: list[Result]) -> list[str]:
    """Per case: the service ÷ the best peer doing the same work, in throughput, p99 and CPU per request."""
    lines = [
        "| case | best peer throughput | service ÷ it | best peer p99 | service ÷ it | lowest peer CPU/req "
        "| service ÷ it | goals: throughput ≥ 1.0x, p99 ≤ 1.1x |",
        "|---|---|---:|---|---:|---|---:|---|",
    ]
    for case in dict.fromkeys(result.case for result in results):
        ran = [result for result in results if result.case == case]
        service = next((result for result in ran if result.app == SERVICE), None)
        peers = [result for result in ran if result.app != SERVICE and APPS[result.app].work]
        if service is None or not peers:
            continue
        fastest = max(peers, key=lambda r: r.requests_per_second)
        steadiest = min(peers, key=lambda r: r.p99_ms)
        thriftiest = min(peers, key=lambda r: r.server_cpu_ms)
        throughput = service.requests_per_second / fastest.requests_per_second
        p99 = service.p99_ms / steadiest.p99_ms
        cpu = service.server_cpu_ms / thriftiest.server_cpu_ms
        met = throughput >= GOAL_THROUGHPUT_RATIO and p99 <= GOAL_P99_RATIO
        lines.append(
            f"| {case} | {APPS[fastest.app].label} {fastest.requests_per_second:,.0f} req/s | {throughput:.2f}x "
            f"| {APPS[steadiest.app].label} {steadiest.p99_ms:.1f} ms | {p99:.2f}x "
            f"| {APPS[thriftiest.app].label} {thriftiest.server_cpu_ms:.2f} ms | {cpu:.2f}x | {verdict(met)} |"
        )
    return lines


def verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def goals_table(results: list[Result]) -> list[str]:
    """The service's absolute goals, where this run measured them."""
    service = {(r.endpoint, r.rows_per_request, r.connections): r for r in results if r.app == SERVICE}
    checks = []
    if one := service.get(("/predict", 1, 1)):
        checks.append(("CPU per request, 1 row, c=1", f"{one.server_cpu_ms:.2f} ms", GOAL_CPU_MS_ONE_ROW, "ms", True))
        checks.append(("p99, 1 row, c=1", f"{one.p99_ms:.1f} ms", GOAL_P99_MS_ONE_ROW, "ms", True))
    if batch := service.get(("/predict_batch", 32, 16)):
        rows = batch.rows_per_second
        checks.append(("rows/s, 32-row requests, c=16", f"{rows:,.0f}", GOAL_ROWS_PER_SECOND_32, "rows/s", False))
    lines = ["| the service's | measured | goal | |", "|---|---:|---:|---|"]
    for label, measured, goal, unit, at_most in checks:
        value = float(measured.split()[0].replace(",", ""))
        met = value <= goal if at_most else value >= goal
        lines.append(f"| {label} | {measured} | {'≤' if at_most else '≥'} {goal:,g} {unit} | {verdict(met)} |")
    return lines if checks else []


def servers_table(processes: Mapping[str, list[int]], args: argparse.Namespace) -> list[str]:
    """What each server is, and how many processes it ran (all of them counted in CPU and RSS)."""
    details = {
        SERVICE: f"`bentoml serve {args.service}`: async endpoints, adaptive batching (`RowBatcher`)",
        "fastapi": "sync `def` endpoints on uvicorn, one prediction call per request",
        "fastapi-batching": "`async def` endpoints on uvicorn, the service's adaptive batching (`Answering.answer`)",
        "litserve": f"LitServe's batching: `max_batch_size={args.litserve_batch_size}`, "
        f"`batch_timeout={args.litserve_timeout:g}` s; one server per endpoint",
        "litserve-wide": f"the same with `batch_timeout={LITSERVE_WIDE_BATCH_TIMEOUT:g}` s",
    }
    lines = ["| server | what | per-request work | processes |", "|---|---|---|---:|"]
    for name in args.apps:
        app = APPS[name]
        work = "request id, prediction log, counters, access log" if app.work else "none (bare)"
        counts = " + ".join(str(count) for count in processes.get(name, []))
        lines.append(f"| {app.label} | {details[name.removesuffix('-bare')]} | {work} | {counts} |")
    return lines


def summary(results: list[Result], notes: list[str], facts: Mapping[str, object], servers: list[str]) -> str:
    """The markdown report: the servers, one row per server and case, the service ÷ the best peer, the goals."""
    lines = [
        "# Serving benchmark",
        "",
        ", ".join(f"{key}: {value}" for key, value in facts.items()),
        "",
        *servers,
        "",
        f"A stall is a request over {STALL_MS:g} ms after the warm-up. CPU counts every process of the server.",
        "",
        *results_table(results),
    ]
    if ratios := ratio_table(results):
        lines += ["", "The service ÷ the best peer doing the same work (bare peers left out):", "", *ratios]
    if goals := goals_table(results):
        lines += ["", *goals]
    if any(result.queued for result in results):
        notes = [
            *notes,
            f"stalls {QUEUED}: connections ÷ throughput, the mean time a request spends in the server (Little's law), "
            f"is over {STALL_MS:g} ms: its own work, and the others' ahead of it, cross the stall line, not pauses; "
            "compare max with p99 instead",
        ]
    lines += [""] + [f"Note: {note}" for note in notes]
    return "\n".join(lines).rstrip() + "\n"


# --- the command line ---


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    server_cpus, client_cpus = split_cpus(os.cpu_count() or 1)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per run, after the warm-up")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of load per run before measuring starts")
    parser.add_argument("--connections", default="1,16", help="comma-separated concurrent connections")
    parser.add_argument("--batch-rows", default="32,1000", help="rows per /predict_batch request, comma-separated")
    parser.add_argument("--soak", type=int, default=60, help="measured seconds at 2x peak_throughput_rps (0: none)")
    parser.add_argument("--apps", default=",".join(APPS), help=f"servers to run, of: {', '.join(APPS)}")
    parser.add_argument("--service", default=None, help="BentoML service (default: pyproject's)")
    parser.add_argument("--server-cpus", default=server_cpus, help="taskset CPU list of every server")
    parser.add_argument("--client-cpus", default=client_cpus, help="taskset CPU list of the load generator")
    parser.add_argument("--litserve-batch-size", type=int, default=LITSERVE_MAX_BATCH_SIZE, help="max_batch_size")
    parser.add_argument("--litserve-timeout", type=float, default=LITSERVE_BATCH_TIMEOUT, help="batch_timeout, s")
    parser.add_argument("--output", type=Path, default=None, help="summary file (default: in the raw folder)")
    parser.add_argument("--raw", type=Path, default=None, help=f"raw output folder (default: {RESULTS_DIR}/<time>)")
    parser.add_argument("--project", type=Path, default=None, help="the generated project (default: see target.py)")
    args = parser.parse_args(argv)
    args.output = args.output and args.output.resolve()  # before moving into the project's folder
    args.raw = (args.raw or RESULTS_DIR / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")).resolve()
    args.connections = [int(value) for value in args.connections.split(",")]
    args.batch_rows = [int(value) for value in args.batch_rows.split(",") if value.strip()]
    args.apps = [app.strip() for app in args.apps.split(",")]
    if unknown := set(args.apps) - set(APPS):
        parser.error(f"unknown --apps {', '.join(sorted(unknown))}: use {', '.join(APPS)}")
    args.server_cpus_set = cpu_set(args.server_cpus)
    return args


def cpu_set(cpus: str) -> frozenset[int]:
    """A taskset CPU list ("1", "2-3", "0,2") as a set."""
    chosen: set[int] = set()
    for part in cpus.split(","):
        low, _, high = part.partition("-")
        chosen.update(range(int(low), int(high or low) + 1))
    return frozenset(chosen)


def api_keys_env() -> str:
    """The environment variable the service reads its API keys from."""
    return project_module("serving.loading").API_KEYS_ENV


def package_versions(names: list[str]) -> dict[str, str]:
    versions = {}
    for name in names:
        with contextlib.suppress(PackageNotFoundError):
            versions[name] = version(name)
    return versions


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    project = enter_project(args.project)
    args.service = args.service or default_service()
    if not shutil.which("hey") or not shutil.which("taskset"):
        sys.exit("the serving benchmark needs `hey` and `taskset` on PATH: `apt-get install hey util-linux`")
    if any(name.startswith("litserve") for name in args.apps) and not package_versions(["litserve"]):
        sys.exit("LitServe is not installed: run with `uv run --project <project> --with litserve==0.2.19 ...`")
    settings = project_module("config").load_project_config().service
    workers = service_workers(args.service)
    env = dict(os.environ)
    if settings.api_key_auth and not env.get(api_keys_env()):
        env[api_keys_env()] = secrets.token_urlsafe(24)  # a throwaway key for this run only
    args.api_key = env.get(api_keys_env(), "").split(",")[0].strip()
    args.raw.mkdir(parents=True, exist_ok=True)
    chosen, notes = cases(args, settings.max_batch_rows, settings.peak_throughput_rps)
    if args.duration < MIN_STALL_RUN_SECONDS:
        notes.append(f"runs of {args.duration} s: stall counts need runs of at least {MIN_STALL_RUN_SECONDS} s")
    results, processes = benchmark(args, chosen, workers, env)
    facts = {
        "project": project.name,
        "service": args.service,
        "inference processes each": workers,
        "service.max_batch_rows": settings.max_batch_rows,
        "OpenMP threads": 1,
        "server CPUs": args.server_cpus,
        "hey CPUs": args.client_cpus,
        "runs": f"{args.warmup} s warm-up + {args.duration} s measured (soak: {args.soak} s)",
        "soak": f"{SOAK_CONNECTIONS} connections at 2 x service.peak_throughput_rps ({settings.peak_throughput_rps})",
        "CPUs": os.cpu_count(),
        "Python": platform.python_version(),
        **package_versions(["bentoml", "fastapi", "uvicorn", "litserve"]),
        "raw": str(args.raw.relative_to(TEMPLATE_ROOT) if args.raw.is_relative_to(TEMPLATE_ROOT) else args.raw),
    }
    report = summary(results, notes, facts, servers_table(processes, args))
    (args.raw / "results.json").write_text(json.dumps([asdict(result) for result in results], indent=2) + "\n")
    output = args.output or args.raw / "summary.md"
    output.write_text(report, encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()
