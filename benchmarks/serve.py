"""Load-test a generated project's BentoML service against a bare FastAPI baseline, on loopback.

    uv run --project <project> python benchmarks/serve.py [--duration 20] [--warmup 5] [--connections 1,16]

Starts each server in turn on 127.0.0.1 with the same number of workers, drives `/predict`
(one row) and `/predict_batch` (`--batch-rows` rows) with one compiled load generator
(`hey`, else `wrk`) at each connection count, and prints p50/p99/max latency, throughput and
stalls against `service.latency_budget_ms`. Raw output goes to `build/benchmarks/serve/<time>/`
in this repo (or `--raw`). A stall is a request slower than 50 ms after the warm-up; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import secrets
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from target import BENCHMARKS_DIR, TEMPLATE_ROOT, enter_project, import_tools, project_module

import_tools()
from tools.servers import Server, free_port, request, started_server  # noqa: E402 - after import_tools

STALL_MS = 50.0
PROBE_RETRIES = 5  # a cold first request may time out (503/504); the service is warm after it
MIN_STALL_RUN_SECONDS = 20
RESULTS_DIR = TEMPLATE_ROOT / "build" / "benchmarks" / "serve"
APPS = {"bentoml": "BentoML", "fastapi": "FastAPI"}
BASELINE_OPENMP_THREADS = "1"


@dataclass(frozen=True)
class Scenario:
    """One endpoint under load: its path and the JSON body every request sends."""

    endpoint: str
    body: Any
    rows: int


@dataclass(frozen=True)
class Load:
    """How one run loads a server: which endpoint, with which body, how hard and how long."""

    endpoint: str
    body: Path
    connections: int
    warmup: int
    duration: int
    api_key: str


@dataclass(frozen=True)
class Result:
    """What one load run measured, from the requests started after the warm-up."""

    app: str
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
    server_cpu_ms: float
    raw: str  # the load generator's output, in the raw folder

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds


def server_command(app: str, service: str, workers: int, port: int) -> list[str]:
    """`bentoml serve` of the service, or uvicorn serving `baseline_app` with as many workers."""
    if app == "bentoml":
        bentoml = Path(sys.executable).with_name("bentoml")
        return [str(bentoml), "serve", service, "--host", "127.0.0.1", "--port", str(port)]
    return [
        *(sys.executable, "-m", "uvicorn", "baseline_app:create_app", "--factory", "--app-dir", str(BENCHMARKS_DIR)),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
    ]


def server_env(env: Mapping[str, str]) -> dict[str, str]:
    """`env` with this folder importable: `--service ab_bentoml_timeout:ModelService` and the baseline live here."""
    path = os.pathsep.join(filter(None, (str(BENCHMARKS_DIR), env.get("PYTHONPATH"))))
    return {**env, "PYTHONPATH": path}


def service_workers(service: str) -> int:
    """How many worker processes the BentoML service is configured with (the baseline gets as many)."""
    module, _, name = service.partition(":")
    for folder in (Path.cwd(), BENCHMARKS_DIR):  # import it as `bentoml serve` will, from either place
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    workers = getattr(__import__(module, fromlist=[name]), name).config.get("workers", 1)
    return (os.cpu_count() or 1) if workers == "cpu_count" else int(workers)


# --- load generators: hey (per-request CSV) or wrk (latency histogram from a Lua script) ---

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = io.open(os.getenv("BENCHMARK_BODY"), "rb"):read("*a")
wrk.headers["Content-Type"] = "application/json"
local api_key = os.getenv("BENCHMARK_API_KEY")
if api_key ~= "" then wrk.headers["X-API-Key"] = api_key end

-- wrk's Lua API gives percentiles, not a histogram: the share of requests over the stall line is
-- 100 minus the lowest percentile above it, found by bisection (exact to about one request).
function done(summary, latency, requests)
  local stalls = 0
  if latency.max > STALL_US then
    local low, high = 0.0, 100.0
    for _ = 1, 50 do
      local middle = (low + high) / 2
      if latency:percentile(middle) > STALL_US then high = middle else low = middle end
    end
    stalls = math.floor(summary.requests * (100 - high) / 100 + 0.5)
  end
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %f, "p50_us": %d, "p99_us": %d, "max_us": %d, "stalls": %d, '
    .. '"errors": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99), latency.max, stalls,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status
      + summary.errors.timeout))
end
"""


def percentile(ordered: list[float], share: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return ordered[max(0, math.ceil(share / 100 * len(ordered)) - 1)]


def run_hey(server: Server, load: Load, raw: Path) -> dict:
    """One hey run of warm-up + duration seconds; statistics over the requests started after the warm-up."""
    command = ["hey", "-z", f"{load.warmup + load.duration}s", "-c", str(load.connections), "-m", "POST", "-t", "10"]
    command += ["-T", "application/json", "-D", str(load.body), "-o", "csv"]
    command += ["-H", f"X-API-Key: {load.api_key}"] if load.api_key else []
    with raw.open("w") as output:
        hey = subprocess.Popen([*command, server.url + load.endpoint], stdout=output)  # noqa: S603
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
    warmup, duration = load.warmup, load.duration
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
        "seconds": float(duration),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": latencies[-1],
        "stalls": sum(latency > STALL_MS for latency in latencies),
        "errors": errors,
        "server_cpu_ms": cpu_seconds * 1000 / len(latencies),
    }


def run_wrk(server: Server, load: Load, raw: Path) -> dict:
    """A wrk warm-up run (discarded), then a measured run whose Lua `done` counts the stalls."""
    script = raw.with_suffix(".lua")
    script.write_text(WRK_SCRIPT.replace("STALL_US", str(int(STALL_MS * 1000))))
    env = {**os.environ, "BENCHMARK_BODY": str(load.body), "BENCHMARK_API_KEY": load.api_key}
    output, cpu_before = "", 0.0
    for seconds in (load.warmup, load.duration):
        cpu_before = server.cpu_seconds()
        command = ["wrk", "-t", "1", "-c", str(load.connections), "-d", f"{seconds}s", "--timeout", "10s", "--latency"]
        finished = subprocess.run(  # noqa: S603
            [*command, "-s", str(script), server.url + load.endpoint],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 120,
        )
        output = finished.stdout
    cpu_seconds = server.cpu_seconds() - cpu_before
    raw.write_text(output)
    line = next((line for line in output.splitlines() if line.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result line: see {raw}")
    measured = json.loads(line.removeprefix("RESULT "))
    return {
        "requests": measured["requests"],
        "seconds": measured["seconds"],
        "p50_ms": measured["p50_us"] / 1000,
        "p99_ms": measured["p99_us"] / 1000,
        "max_ms": measured["max_us"] / 1000,
        "stalls": measured["stalls"],
        "errors": measured["errors"],
        "server_cpu_ms": cpu_seconds * 1000 / max(1, measured["requests"]),
    }


GENERATORS = {"hey": (run_hey, "csv"), "wrk": (run_wrk, "txt")}


def load_generator() -> str:
    for name in GENERATORS:
        if shutil.which(name):
            return name
    sys.exit("no load generator on PATH: install one with `apt-get install hey` (or wrk), then rerun")


# --- the benchmark ---


def example_row() -> dict[str, object]:
    """One valid request row: each input column's example value from the project's data contract."""
    return {column.name: column.example for column in project_module("contract").COLUMNS}


def scenarios(batch_rows: int) -> list[Scenario]:
    row = example_row()
    return [Scenario("/predict", row, 1), Scenario("/predict_batch", {"rows": [row] * batch_rows}, batch_rows)]


def default_service() -> str:
    """The service `bentoml serve` would start in the project: pyproject's `[tool.bentoml.build] service`."""
    pyproject = tomllib.loads(Path("pyproject.toml").read_text(encoding="utf-8"))
    return pyproject["tool"]["bentoml"]["build"]["service"]


def benchmark_app(
    app: str, args: argparse.Namespace, generator: str, workers: int, env: Mapping[str, str], raw_dir: Path
) -> tuple[list[Result], list[str]]:
    """Start one server, run every scenario at every connection count, stop it."""
    run, suffix = GENERATORS[generator]
    if app == "fastapi":  # one OpenMP thread per prediction, as the service sets for its own
        env = {**env, "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", BASELINE_OPENMP_THREADS)}
    api_key = env.get(api_keys_env(), "").split(",")[0].strip()
    headers = {"X-API-Key": api_key} if api_key else {}
    results, notes = [], []
    port = free_port()
    command = server_command(app, args.service, workers, port)
    with started_server(command, Path.cwd(), server_env(env), port, raw_dir / f"{app}.log") as server:
        for scenario in scenarios(args.batch_rows):
            url = server.url + scenario.endpoint
            status, answer = request("POST", url, scenario.body, timeout=30, headers=headers)
            for _ in range(PROBE_RETRIES):
                if status not in (503, 504):
                    break
                notes.append(f"{APPS[app]} {scenario.endpoint}: a first request answered {status}; retried")
                status, answer = request("POST", url, scenario.body, timeout=30, headers=headers)
            if status == 404 and scenario.endpoint != "/predict":
                notes.append(f"{APPS[app]} has no {scenario.endpoint} (404): skipped")
                continue
            if status != 200:
                raise RuntimeError(f"{APPS[app]} {scenario.endpoint} answered {status}: {answer[:500]}")
            body = raw_dir / f"body-{scenario.endpoint.strip('/')}.json"
            body.write_text(json.dumps(scenario.body), encoding="utf-8")
            for connections in args.connections:
                raw = raw_dir / f"{app}-{scenario.endpoint.strip('/')}-c{connections}.{suffix}"
                print(f"{APPS[app]} {scenario.endpoint} c={connections} ...", file=sys.stderr, flush=True)
                load = Load(scenario.endpoint, body, connections, args.warmup, args.duration, api_key)
                measured = run(server, load, raw)
                result = Result(app, scenario.endpoint, connections, scenario.rows, raw=raw.name, **measured)
                results.append(result)
    return results, notes


def summary(results: list[Result], notes: list[str], facts: Mapping[str, object], budget_ms: int) -> str:
    """The markdown report: one row per server and run, then BentoML ÷ FastAPI where both ran."""
    lines = [
        "# Serving benchmark",
        "",
        ", ".join(f"{key}: {value}" for key, value in facts.items()),
        "",
        f"Latency budget (ml-project.yaml `service.latency_budget_ms`): p99 ≤ {budget_ms} ms. "
        f"Stall: a request over {STALL_MS:g} ms after the warm-up.",
        "",
        "| endpoint | conns | server | req/s | rows/s | p50 ms | p99 ms | max ms | stalls | errors | CPU ms/req "
        "| p99 vs budget |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for result in sorted(results, key=lambda r: (r.endpoint, r.connections, r.app)):
        verdict = "within" if result.p99_ms <= budget_ms else "OVER"
        lines.append(
            f"| {result.endpoint} | {result.connections} | {APPS[result.app]} | {result.requests_per_second:.0f} "
            f"| {result.requests_per_second * result.rows_per_request:.0f} | {result.p50_ms:.1f} | {result.p99_ms:.1f} "
            f"| {result.max_ms:.1f} | {result.stalls} | {result.errors} | {result.server_cpu_ms:.2f} | {verdict} |"
        )
    by_run = {(r.endpoint, r.connections, r.app): r for r in results}
    pairs = [
        (key[:2], by_run[key], by_run[(*key[:2], "fastapi")])
        for key in sorted(by_run)
        if key[2] == "bentoml" and (*key[:2], "fastapi") in by_run
    ]
    if pairs:
        lines += [
            "",
            "| endpoint | conns | BentoML ÷ FastAPI throughput | BentoML ÷ FastAPI p99 |",
            "|---|---:|---:|---:|",
        ]
        for (endpoint, connections), bento, fast in pairs:
            throughput = bento.requests_per_second / fast.requests_per_second
            lines.append(f"| {endpoint} | {connections} | {throughput:.2f}x | {bento.p99_ms / fast.p99_ms:.2f}x |")
    queued = [
        f"{APPS[result.app]} {result.endpoint} c={result.connections} ({wait_ms:.0f} ms)"
        for result in sorted(results, key=lambda r: (r.endpoint, r.connections, r.app))
        if result.connections > 1 and (wait_ms := result.connections / result.requests_per_second * 1000) > STALL_MS
    ]
    if queued:
        notes.append(
            f"connections ÷ throughput, the mean time a request spends in the server (Little's law), is over "
            f"{STALL_MS:g} ms for {', '.join(queued)}: there every request waits for the others and stalls count "
            "queueing, not pauses; compare max with p99 instead"
        )
    lines += [""] + [f"Note: {note}" for note in notes]
    return "\n".join(lines).rstrip() + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=20, help="measured seconds per run, after the warm-up")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of load per run before measuring starts")
    parser.add_argument("--connections", default="1,16", help="comma-separated concurrent connections")
    parser.add_argument("--batch-rows", type=int, default=32, help="rows per /predict_batch request")
    parser.add_argument("--apps", default="bentoml,fastapi", help="servers to run, of: bentoml, fastapi")
    parser.add_argument("--service", default=None, help="BentoML service (default: pyproject's)")
    parser.add_argument("--output", type=Path, default=None, help="summary file (default: in the raw folder)")
    parser.add_argument("--raw", type=Path, default=None, help=f"raw output folder (default: {RESULTS_DIR}/<time>)")
    parser.add_argument("--project", type=Path, default=None, help="the generated project (default: see target.py)")
    args = parser.parse_args(argv)
    args.output = args.output and args.output.resolve()  # before moving into the project's folder
    args.raw = (args.raw or RESULTS_DIR / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")).resolve()
    args.connections = [int(value) for value in args.connections.split(",")]
    args.apps = [app.strip() for app in args.apps.split(",")]
    if unknown := set(args.apps) - set(APPS):
        parser.error(f"unknown --apps {', '.join(sorted(unknown))}: use bentoml and/or fastapi")
    return args


def api_keys_env() -> str:
    """The environment variable the service reads its API keys from."""
    return project_module("serving.loading").API_KEYS_ENV


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    project = enter_project(args.project)
    args.service = args.service or default_service()
    generator = load_generator()
    settings = project_module("config").load_project_config().service
    workers = service_workers(args.service)
    env = dict(os.environ)
    if settings.api_key_auth and not env.get(api_keys_env()):
        env[api_keys_env()] = secrets.token_urlsafe(24)  # a throwaway key for this run only
    raw_dir = args.raw
    raw_dir.mkdir(parents=True, exist_ok=True)
    if args.duration < MIN_STALL_RUN_SECONDS:
        print(f"note: stall counts need runs of at least {MIN_STALL_RUN_SECONDS} s", file=sys.stderr)
    results, notes = [], []
    for app in args.apps:
        app_results, app_notes = benchmark_app(app, args, generator, workers, env, raw_dir)
        results += app_results
        notes += app_notes
    facts = {
        "project": project.name,
        "service": args.service,
        "workers each": workers,
        "baseline OpenMP threads": env.get("OMP_NUM_THREADS", BASELINE_OPENMP_THREADS),
        "generator": generator,
        "runs": f"{args.warmup} s warm-up + {args.duration} s measured",
        "CPUs": os.cpu_count(),
        "Python": platform.python_version(),
        "bentoml": version("bentoml"),
        "fastapi": version("fastapi"),
        "uvicorn": version("uvicorn"),
        "raw": str(raw_dir.relative_to(TEMPLATE_ROOT) if raw_dir.is_relative_to(TEMPLATE_ROOT) else raw_dir),
    }
    report = summary(results, notes, facts, settings.latency_budget_ms)
    (raw_dir / "results.json").write_text(json.dumps([asdict(result) for result in results], indent=2) + "\n")
    output = args.output or raw_dir / "summary.md"
    output.write_text(report, encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()
