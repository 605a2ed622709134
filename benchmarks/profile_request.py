"""Where a request's time goes in a generated project's service: its worker sampled under load, by stage.

    uv run --project <project> python benchmarks/profile_request.py [--rows 1] [--connections 1] [--duration 15]

Starts the project's BentoML service on 127.0.0.1, sends one-row requests to `/predict` (or
`--rows` rows to `/predict_batch`) from `hey` at `--connections`, and samples the worker with
py-spy (`py-spy` on PATH, else `uvx py-spy`) meanwhile. Each sample is put in the stage of its
innermost frame that names one (`STAGES`), so a stage's share is its own work, not what it calls
in another stage. Prints each stage's share of the samples and its CPU ms per request (the share
of the server's CPU time, divided by the requests answered). `--raw` keeps py-spy's stacks.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from target import enter_project, import_tools, project_module

import_tools()
from tools.servers import Server, free_port, started_server  # noqa: E402 - after import_tools

# (stage, pattern a frame's "function (file)" text matches), innermost stage first when a
# stack holds several. Frames that match none are the HTTP server and its event loop.
STAGES = (
    ("model (estimator and encoder)", re.compile(r"^predict \(.*/core/predict\.py")),
    ("features (build_features, checked)", re.compile(r"^model_inputs ")),
    ("request frame", re.compile(r"^frame_from_records ")),
    ("prediction log", re.compile(r"^PredictionLog\.write ")),
    ("metrics (Prometheus)", re.compile(r"^record_predictions ")),
    ("answers (from predictions)", re.compile(r"^answers_from ")),
    ("batching and request handling", re.compile(r"^(RowBatcher|Answering|ModelService)\.")),
    ("request parsing and validation", re.compile(r"^(JSONSerde\.parse_request|IOMixin\.from_http_request) ")),
    ("response serialisation", re.compile(r"^IOMixin\.to_http_response ")),
    ("access log", re.compile(r"^AccessLogMiddleware\.|^Logger\.")),
    ("tracing (OpenTelemetry)", re.compile(r"^OpenTelemetryMiddleware|\(trace/|opentelemetry")),
    ("middleware and routing", re.compile(r"Middleware|middleware|starlette/|ServiceAppFactory|_bentoml_sdk/")),
    ("background threads", re.compile(r"^Thread\._bootstrap ")),
)
SERVER = "HTTP server and event loop (uvicorn)"
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*?)(:\d+)?\)$")


def stage_of(stack: list[str]) -> str:
    """The stage of the innermost frame of `stack` (outermost first) that names one."""
    for frame in reversed(stack):
        for stage, pattern in STAGES:
            if pattern.search(frame):
                return stage
    return SERVER


def stage_samples(raw: Path) -> Counter[str]:
    """Samples per stage, from py-spy's raw (collapsed) output: `frame;frame;... count` per line."""
    samples: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            frames = [frame.split("site-packages/")[-1] for frame in stack.split(";")]
            samples[stage_of(frames)] += int(count)
    return samples


def py_spy() -> list[str]:
    found = shutil.which("py-spy")
    if found:
        return [found]
    uvx = shutil.which("uvx")
    if uvx is None:
        sys.exit("needs py-spy: install it (`uv tool install py-spy`) or put uv's uvx on PATH")
    return [uvx, "py-spy"]


def worker_pid(server: Server) -> int:
    """The BentoML worker (the process that runs the service), among the server's processes."""
    for pid in server.pids():
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        if b"_bentoml_impl.worker" in command:
            return pid
    raise SystemExit("no BentoML worker among the server's processes")


def load(url: str, body: Path, connections: int, seconds: float) -> int:
    """Requests answered with 200 during `seconds` of load from hey."""
    command = ["hey", "-z", f"{seconds}s", "-c", str(connections), "-m", "POST", "-T", "application/json"]
    output = subprocess.run([*command, "-D", str(body), url], capture_output=True, text=True, check=True).stdout  # noqa: S603
    answered = re.search(r"\[200\]\s+(\d+) responses", output)
    if answered is None:
        raise SystemExit(f"no request was answered with 200:\n{output}")
    return int(answered.group(1))


def request_body(rows: int) -> tuple[str, dict]:
    """The endpoint and body: the contract's example row, alone or repeated."""
    limit = project_module("config").load_project_config().service.max_batch_rows
    if rows > limit:
        raise SystemExit(f"{rows} rows is over service.max_batch_rows ({limit}): raise it in ml-project.yaml")
    example = project_module("serving.loading").example_rows()[0]
    row = {name: value.isoformat() if hasattr(value, "isoformat") else value for name, value in example.items()}
    return ("/predict", row) if rows == 1 else ("/predict_batch", {"rows": [row] * rows})


def profile(args: argparse.Namespace, scratch: Path) -> tuple[Counter[str], float, int]:
    """Samples per stage, the server's CPU seconds and the requests answered while py-spy recorded."""
    endpoint, body = request_body(args.rows)
    body_file, raw = scratch / "body.json", args.raw or scratch / "stacks.txt"
    body_file.write_text(json.dumps(body))
    service = project_module("serving.service")
    port = free_port()
    command = [str(Path(sys.executable).with_name("bentoml")), "serve", f"{service.__name__}:ModelService"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with started_server(command, Path.cwd(), dict(os.environ), port, scratch / "server.log") as server:
        url = f"{server.url}{endpoint}"
        load(url, body_file, args.connections, args.warmup)
        record = [*py_spy(), "record", "--pid", str(worker_pid(server)), "--duration", str(args.duration)]
        record += ["--rate", "250", "--format", "raw", "--nonblocking", "--output", str(raw)]
        with subprocess.Popen(record, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as spy:  # noqa: S603
            cpu_before = server.cpu_seconds()
            answered = load(url, body_file, args.connections, args.duration)
            cpu = server.cpu_seconds() - cpu_before
            _, errors = spy.communicate(timeout=60)
        if spy.returncode != 0:
            raise SystemExit(f"py-spy failed (it needs ptrace permission):\n{errors.decode()[-2000:]}")
    return stage_samples(raw), cpu, answered


def report(samples: Counter[str], cpu_seconds: float, answered: int, args: argparse.Namespace) -> str:
    total = sum(samples.values())
    lines = [
        f"{args.rows} row(s) per request, {args.connections} connection(s), {args.duration} s: {answered} requests, "
        f"{cpu_seconds * 1000 / answered:.2f} CPU ms per request (all server processes; py-spy adds a little)",
        "",
        "| stage | share of the worker's samples | CPU ms per request |",
        "|---|---:|---:|",
    ]
    for stage, count in samples.most_common():
        share = count / total
        lines.append(f"| {stage} | {share:.1%} | {share * cpu_seconds * 1000 / answered:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1, help="rows per request (1: /predict)")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--duration", type=int, default=15, help="seconds recorded")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of load before recording")
    parser.add_argument("--raw", type=Path, help="keep py-spy's collapsed stacks here")
    parser.add_argument("--project", type=Path, help="the generated project (default: see target.py)")
    args = parser.parse_args()
    enter_project(args.project)
    with tempfile.TemporaryDirectory() as scratch:
        samples, cpu_seconds, answered = profile(args, Path(scratch))
    print(report(samples, cpu_seconds, answered, args))


if __name__ == "__main__":
    main()
