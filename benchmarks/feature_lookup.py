"""What the online feature lookup adds to a request: a feast project's service with the lookup against without it.

    uv run --project <feast project> python benchmarks/feature_lookup.py [--rounds 3] [--duration 10]

A: the project's service as generated; a one-row /predict carries the request columns and the
service reads the views' columns from the online store (one Feast call). B: the same service
without the lookup (`ab_feature_lookup.py`); the same row carries the values A reads. Both
answer the same row identically (checked first), at one connection, pinned to the same CPUs,
loaded by `hey` from others; rounds interleave A and B (alternating which goes first) and the
medians of the rounds' p50 and p99 are compared. Also: each side's time from `bentoml serve` to
`/readyz` (Feast's import is on A's), and the Feast read alone, in process. The project needs
its pipeline run (`uv run dvc repro`: a promoted model and a materialized store). Writes JSON
(`--output`) that `tools/bench_report.py` turns into docs/benchmarks.md's feature-store section.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from serve import Case, Load, gzipped, percentile, probe, run_hey, server_env, split_cpus
from target import TEMPLATE_ROOT, enter_project, import_tools, project_module

import_tools()
from tools.servers import Server, free_port, started_server  # noqa: E402 - after import_tools

SIDES = {"lookup": "the service (reads the online store)", "no_lookup": "without the lookup (B)"}
SERVICES = {"lookup": None, "no_lookup": "ab_feature_lookup:ModelService"}
GOAL_ADDED_P50_MS = 2.0
GOAL_ADDED_P99_MS = 5.0
IN_PROCESS_READS = 2000
RESULTS_DIR = TEMPLATE_ROOT / "build" / "benchmarks" / "feature-lookup"


def fresh_row() -> tuple[dict[str, Any], dict[str, Any]]:
    """A request row for the entity with the newest history, dated a day later; and the view values A reads for it."""
    views = project_module("feature_views").VIEWS
    online = project_module("featurestore.online")
    entity, timestamp = online.entity_column().name, online.event_timestamp_column().name
    history = pd.read_parquet(Path("data/validated/history") / f"{views[0].name}.parquet")
    newest = history.sort_values(views[0].timestamp).iloc[-1]
    when = (newest[views[0].timestamp] + timedelta(days=1)).to_pydatetime()
    row = {column.name: column.example for column in project_module("contract").COLUMNS}
    row |= {entity: newest[entity], timestamp: when.date().isoformat()}
    lookup = online.OnlineFeatures.open()
    read = lookup.read([{**row, timestamp: when}])
    if read.unknown[0] or read.stale[0]:
        sys.exit(f"the benchmark row's entity is unknown or stale in the online store: {read}")
    values = {column.name: read.rows[0][column.name] for column in project_module("core.contract").view_columns()}
    return row, values


def feast_read_alone(row: dict[str, Any]) -> dict[str, float]:
    """The lookup's read in this process, one row at a time: p50 and p99 over `IN_PROCESS_READS` reads."""
    online = project_module("featurestore.online")
    lookup = online.OnlineFeatures.open()
    timestamp = online.event_timestamp_column().name
    rows = [{**row, timestamp: datetime.fromisoformat(row[timestamp])}]
    times = []
    for _ in range(IN_PROCESS_READS):
        started = time.perf_counter()
        lookup.read(rows)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"p50_ms": percentile(times, 50), "p99_ms": percentile(times, 99), "reads": len(times)}


@contextlib.contextmanager
def started_sides(args: argparse.Namespace, env: Mapping[str, str], scratch: Path) -> Iterator[dict[str, Server]]:
    """Both services started one after the other (each timed to /readyz), probed, and paused."""
    bentoml = Path(sys.executable).with_name("bentoml")
    with contextlib.ExitStack() as stack:
        running = {}
        for side, service in SERVICES.items():
            port = free_port()
            command = ["taskset", "-c", args.server_cpus, str(bentoml), "serve"]
            command += [service] if service else []
            command += ["--host", "127.0.0.1", "--port", str(port)]
            started = time.monotonic()
            server = stack.enter_context(
                started_server(command, Path.cwd(), server_env(env, scratch / side), port, args.raw / f"{side}.log")
            )
            args.start_seconds[side] = round(time.monotonic() - started, 1)
            server.pause()
            running[side] = server
        yield running


def run(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, Any]:
    row, values = fresh_row()
    bodies = {"lookup": row, "no_lookup": {**row, **values}}
    headers = {"X-API-Key": args.api_key} if args.api_key else {}
    case = Case("/predict", 1, 1)
    rounds: list[dict[str, Any]] = []
    scratch = tempfile.TemporaryDirectory(prefix="lookup-bench-")
    with scratch, started_sides(args, env, Path(scratch.name)) as sides:
        answers = {}
        for side, server in sides.items():
            server.resume()
            answers[side] = probe(server, case, bodies[side], headers, side)
            server.pause()
        if answers["lookup"] != answers["no_lookup"]:
            raise RuntimeError(f"the two sides answer differently: {answers}")
        for index in range(args.rounds):
            order = list(SIDES) if index % 2 == 0 else list(reversed(SIDES))
            for side in order:
                body = args.raw / f"body-{side}.json"
                body.write_text(json.dumps(bodies[side], default=str), encoding="utf-8")
                load = Load(case, body, args.warmup, args.duration, args.api_key, args.client_cpus)
                raw = args.raw / f"{side}-round{index + 1}.csv"
                print(f"round {index + 1}: {SIDES[side]} ...", file=sys.stderr, flush=True)
                sides[side].resume()
                try:
                    measured = run_hey(sides[side], load, raw)
                finally:
                    sides[side].pause()
                rounds.append({"round": index + 1, "side": side, "raw": gzipped(raw).name, **measured})
    return {"row": row, "view_values": values, "answer": answers["lookup"], "rounds": rounds}


def medians(rounds: list[dict[str, Any]], side: str) -> dict[str, float]:
    mine = [entry for entry in rounds if entry["side"] == side]
    return {
        key: round(statistics.median(entry[key] for entry in mine), 3)
        for key in ("p50_ms", "p99_ms", "max_ms", "server_cpu_ms")
    }


def summarise(measured: dict[str, Any], args: argparse.Namespace, feast_alone: dict[str, float]) -> dict[str, Any]:
    lookup, no_lookup = medians(measured["rounds"], "lookup"), medians(measured["rounds"], "no_lookup")
    added = {key: round(lookup[key] - no_lookup[key], 3) for key in ("p50_ms", "p99_ms", "server_cpu_ms")}
    return {
        "settings": {
            "rounds": args.rounds,
            "warmup_s": args.warmup,
            "duration_s": args.duration,
            "connections": 1,
            "server_cpus": args.server_cpus,
            "client_cpus": args.client_cpus,
            "project": Path.cwd().name,
            "python": platform.python_version(),
        },
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": args.load_at_start,
            "load_average_at_end": [round(value, 2) for value in os.getloadavg()],
        },
        "start_seconds": args.start_seconds,
        "sides": {"lookup": lookup, "no_lookup": no_lookup},
        "added": added,
        "feast_read_in_process": feast_alone,
        "goals": [
            {"goal": "added p50", "value_ms": added["p50_ms"], "limit_ms": GOAL_ADDED_P50_MS},
            {"goal": "added p99", "value_ms": added["p99_ms"], "limit_ms": GOAL_ADDED_P99_MS},
        ],
        **measured,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    server_cpus, client_cpus = split_cpus(os.cpu_count() or 1)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="A and B runs each, interleaved")
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per run, after the warm-up")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of load per run before measuring starts")
    parser.add_argument("--server-cpus", default=server_cpus, help="taskset CPU list of both services")
    parser.add_argument("--client-cpus", default=client_cpus, help="taskset CPU list of the load generator")
    parser.add_argument("--output", type=Path, default=None, help="results JSON (default: in the raw folder)")
    parser.add_argument("--raw", type=Path, default=None, help=f"raw output folder (default: {RESULTS_DIR}/<time>)")
    parser.add_argument("--project", type=Path, default=None, help="the generated feast project (see target.py)")
    args = parser.parse_args(argv)
    args.raw = args.raw or RESULTS_DIR / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    enter_project(args.project)
    if not project_module("core.contract").view_columns():
        sys.exit("not a feature-store project: render the binary-feast variant and run its pipeline")
    args.raw.mkdir(parents=True, exist_ok=True)
    args.load_at_start = [round(value, 2) for value in os.getloadavg()]
    args.start_seconds = {}
    env = dict(os.environ)
    settings = project_module("config").load_project_config().service
    keys_env = project_module("serving.loading").API_KEYS_ENV
    if settings.api_key_auth and not env.get(keys_env):
        env[keys_env] = secrets.token_urlsafe(24)  # a throwaway key for this run only
    args.api_key = env.get(keys_env, "").split(",")[0].strip()
    measured = run(args, env)
    results = summarise(measured, args, feast_read_alone(measured["row"]))
    output = args.output or args.raw / "results.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    print(json.dumps({key: results[key] for key in ("start_seconds", "sides", "added", "feast_read_in_process")}))


if __name__ == "__main__":
    main()
