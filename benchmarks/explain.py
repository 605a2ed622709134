"""What a per-prediction explanation costs a request, and what the `explain` flag costs when it is off.

    uv run --project <project> python benchmarks/explain.py --base <base project> [--rounds 5] [--duration 10]

Three sides, each a one-row /predict at one connection, loaded by `hey` pinned to other CPUs
than the services:

    base  the base project's service: the same variant rendered from a commit before
          explanations (e.g. 4c1f2f0), its pipeline run (`uv run dvc repro`), its own venv
    off   this project's service, /predict (no explanation asked)
    on    the same service, /predict?explain=3 (the top 3 contributions)

`off` and `on` are one server; `base` is another, paused while the others run. Rounds interleave
the sides, rotating which goes first; the medians of the rounds' server CPU per request, p50
and p99 are compared: on / off is the explanation's cost, off / base the flag's cost when off
(the goal: at most 1.02). SHAP (scikit-learn family) is loaded by a probe before the rounds, so
the rounds time the explanation, not the import. Writes JSON (`--output`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from serve import Case, Load, gzipped, probe, run_hey, server_env, split_cpus
from target import TEMPLATE_ROOT, enter_project, import_tools, package_name, project_module

import_tools()
from tools.servers import Server, free_port, started_server  # noqa: E402 - after import_tools

EXPLAINED = 3
SIDES = {
    "base": "the base commit's service, /predict",
    "off": "this service, /predict",
    "on": f"this service, /predict?explain={EXPLAINED}",
}
ENDPOINTS = {"base": "/predict", "off": "/predict", "on": f"/predict?explain={EXPLAINED}"}
GOAL_OFF_CPU_RATIO = 1.02
RESULTS_DIR = TEMPLATE_ROOT / "build" / "benchmarks" / "explain"


def example_request(project: Path) -> dict[str, Any]:
    """The project's own valid /predict body (`<package> example-request`): the base's contract may differ."""
    command = [str(project / ".venv" / "bin" / package_name(project)), "example-request"]
    printed = subprocess.run(command, cwd=project, capture_output=True, text=True, check=True).stdout  # noqa: S603
    return json.loads(printed)


@contextlib.contextmanager
def started_servers(args: argparse.Namespace, env: Mapping[str, str], scratch: Path) -> Iterator[dict[str, Server]]:
    """This project's service and the base project's, each from its own folder and venv, started and paused."""
    projects = {"this": Path.cwd(), "base": args.base.resolve()}
    with contextlib.ExitStack() as stack:
        running = {}
        for name, folder in projects.items():
            port = free_port()
            bentoml = folder / ".venv" / "bin" / "bentoml"
            command = ["taskset", "-c", args.server_cpus, str(bentoml), "serve", "--host", "127.0.0.1"]
            command += ["--port", str(port)]
            started = time.monotonic()
            server = stack.enter_context(
                started_server(command, folder, server_env(env, scratch / name), port, args.raw / f"{name}.log")
            )
            args.start_seconds[name] = round(time.monotonic() - started, 1)
            server.pause()
            running[name] = server
        yield {"base": running["base"], "off": running["this"], "on": running["this"]}


def run(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, Any]:
    rows = {"base": example_request(args.base.resolve()), "this": example_request(Path.cwd())}
    headers = {"X-API-Key": args.api_key} if args.api_key else {}
    bodies = {}
    for side in SIDES:
        row = rows["base" if side == "base" else "this"]
        bodies[side] = args.raw / f"body-{side}.json"
        bodies[side].write_text(json.dumps(row), encoding="utf-8")
    rounds: list[dict[str, Any]] = []
    scratch = tempfile.TemporaryDirectory(prefix="explain-bench-")
    with scratch, started_servers(args, env, Path(scratch.name)) as sides:
        answers = {}
        for side, server in sides.items():  # `on` last: its probe loads SHAP where the family needs it
            server.resume()
            row = json.loads(bodies[side].read_text(encoding="utf-8"))
            answers[side] = probe(server, Case(ENDPOINTS[side], 1, 1), row, headers, side)
            server.pause()
        if len(answers["on"].get("explanation", {}).get("contributions", [])) != EXPLAINED:
            raise RuntimeError(f"the explained answer has no {EXPLAINED} contributions: {answers['on']}")
        for index in range(args.rounds):
            order = list(SIDES)[index % 3 :] + list(SIDES)[: index % 3]
            for side in order:
                case = Case(ENDPOINTS[side], 1, 1)
                load = Load(case, bodies[side], args.warmup, args.duration, args.api_key, args.client_cpus)
                raw = args.raw / f"{side}-round{index + 1}.csv"
                print(f"round {index + 1}: {SIDES[side]} ...", file=sys.stderr, flush=True)
                sides[side].resume()
                try:
                    measured = run_hey(sides[side], load, raw)
                finally:
                    sides[side].pause()
                rounds.append({"round": index + 1, "side": side, "raw": gzipped(raw).name, **measured})
    return {"rows": rows, "answers": answers, "rounds": rounds}


def medians(rounds: list[dict[str, Any]], side: str) -> dict[str, float]:
    mine = [entry for entry in rounds if entry["side"] == side]
    return {
        key: round(statistics.median(entry[key] for entry in mine), 3)
        for key in ("p50_ms", "p99_ms", "max_ms", "server_cpu_ms", "errors")
    }


def ratios(numerator: Mapping[str, float], denominator: Mapping[str, float]) -> dict[str, float]:
    return {key: round(numerator[key] / denominator[key], 3) for key in ("server_cpu_ms", "p50_ms", "p99_ms")}


def summarise(measured: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    sides = {side: medians(measured["rounds"], side) for side in SIDES}
    off_over_base = ratios(sides["off"], sides["base"])
    return {
        "settings": {
            "rounds": args.rounds,
            "warmup_s": args.warmup,
            "duration_s": args.duration,
            "connections": 1,
            "explained": EXPLAINED,
            "server_cpus": args.server_cpus,
            "client_cpus": args.client_cpus,
            "project": Path.cwd().name,
            "base": str(args.base),
            "python": platform.python_version(),
        },
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": args.load_at_start,
            "load_average_at_end": [round(value, 2) for value in os.getloadavg()],
        },
        "start_seconds": args.start_seconds,
        "sides": sides,
        "on_over_off": ratios(sides["on"], sides["off"]),
        "off_over_base": off_over_base,
        "added_by_explanation_cpu_ms": round(sides["on"]["server_cpu_ms"] - sides["off"]["server_cpu_ms"], 3),
        "goals": [
            {
                "goal": "CPU per request with the flag off, against the base",
                "ratio": off_over_base["server_cpu_ms"],
                "limit": GOAL_OFF_CPU_RATIO,
                "met": off_over_base["server_cpu_ms"] <= GOAL_OFF_CPU_RATIO,
            }
        ],
        **measured,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    server_cpus, client_cpus = split_cpus(os.cpu_count() or 1)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, required=True, help="the same variant rendered from the base commit")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each side, interleaved")
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per run, after the warm-up")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of load per run before measuring starts")
    parser.add_argument("--server-cpus", default=server_cpus, help="taskset CPU list of the services")
    parser.add_argument("--client-cpus", default=client_cpus, help="taskset CPU list of the load generator")
    parser.add_argument("--output", type=Path, default=None, help="results JSON (default: in the raw folder)")
    parser.add_argument("--raw", type=Path, default=None, help=f"raw output folder (default: {RESULTS_DIR}/<time>)")
    parser.add_argument("--project", type=Path, default=None, help="the generated project (see target.py)")
    args = parser.parse_args(argv)
    args.raw = args.raw or RESULTS_DIR / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    enter_project(args.project)
    args.raw.mkdir(parents=True, exist_ok=True)
    args.load_at_start = [round(value, 2) for value in os.getloadavg()]
    args.start_seconds = {}
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)  # each service runs from its own project's venv
    settings = project_module("config").load_project_config().service
    keys_env = project_module("serving.loading").API_KEYS_ENV
    if settings.api_key_auth and not env.get(keys_env):
        env[keys_env] = secrets.token_urlsafe(24)  # a throwaway key for this run only
    args.api_key = env.get(keys_env, "").split(",")[0].strip()
    results = summarise(run(args, env), args)
    output = args.output or args.raw / "results.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    keys = ("start_seconds", "sides", "on_over_off", "off_over_base", "added_by_explanation_cpu_ms")
    print(json.dumps({key: results[key] for key in keys}))


if __name__ == "__main__":
    main()
