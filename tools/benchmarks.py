"""Benchmarks a user feels: render time against copier's floor, time to first green, and the
generated project's own serving and monitoring benchmarks.

Run with `uv run nox -s bench` (it writes docs/benchmarks.md through `tools.bench_report`).
Figures are medians of repeated runs on this machine; ratios measured in the same run are the
numbers to compare across machines.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from tools.projects import GIT_IDENTITY, example_request, project_env
from tools.servers import free_port, request, running_server
from tools.variants import ROOT

COPIER = [sys.executable, "-m", "copier"]


def run(command: list[str], cwd: Path, env: Mapping[str, str]) -> float:
    """Run a command to completion (failing loudly) and return its wall time in seconds."""
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def one_file_template(folder: Path) -> Path:
    """The smallest template copier can render: one question, one file, committed."""
    folder.mkdir()
    (folder / "copier.yml").write_text("name:\n  type: str\n  default: floor\n")
    (folder / "README.md.jinja").write_text("# {{ name }}\n")
    env = {**os.environ, **GIT_IDENTITY}
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "floor"]):
        subprocess.run(command, cwd=folder, env=env, check=True)
    return folder


def render_ratio(rounds: int = 5) -> dict[str, float]:
    """Median CLI render time of the default variant and of the one-file floor, interleaved."""
    env = {**os.environ, **GIT_IDENTITY}
    with tempfile.TemporaryDirectory(prefix="shipshape-bench-") as scratch:
        workdir = Path(scratch)
        floor_template = one_file_template(workdir / "floor-template")
        shipshape, floor = [], []
        for index in range(rounds):
            copy = [*COPIER, "copy", "--quiet", "--defaults", "--vcs-ref", "HEAD"]
            shipshape.append(run([*copy, str(ROOT), str(workdir / f"shipshape-{index}")], workdir, env))
            floor.append(run([*copy, str(floor_template), str(workdir / f"floor-{index}")], workdir, env))
    return {
        "shipshape_render_s": statistics.median(shipshape),
        "copier_floor_s": statistics.median(floor),
        "ratio": statistics.median(shipshape) / statistics.median(floor),
    }


def first_green(env: Mapping[str, str], project: Path) -> dict[str, float]:
    """Seconds from render to the service's first answer, step by step, into `project` (a new folder)."""
    steps: dict[str, float] = {}
    env = project_env(env)
    copy = [*COPIER, "copy", "--quiet", "--defaults", "--vcs-ref", "HEAD", str(ROOT), str(project)]
    steps["render"] = run(copy, project.parent, env)
    steps["git init + commit"] = sum(
        run(command, project, env)
        for command in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"], ["git", "commit", "-qm", "x"])
    )
    steps["uv sync --frozen"] = run(["uv", "sync", "--frozen", "--quiet"], project, env)
    steps["dvc repro"] = run(["uv", "run", "--frozen", "dvc", "repro", "--quiet"], project, env)
    steps["pytest"] = run(["uv", "run", "--frozen", "pytest", "-q", "-p", "no:cacheprovider"], project, env)
    steps["serve to first answer"] = serve_to_first_answer(project, env, project.parent / f"{project.name}-serve.log")
    steps["total"] = sum(steps.values())
    return steps


def ensure_load_generator() -> str:
    """`hey` (or `wrk`) for the serving benchmark; installed from Debian's packages when running as root."""
    for name in ("hey", "wrk"):
        if found := shutil.which(name):
            return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "hey"], check=True, capture_output=True)
        if found := shutil.which("hey"):
            return found
    raise RuntimeError("the serving benchmark needs `hey` or `wrk`: install one (`apt-get install hey`) and rerun")


def serve_benchmark(project: Path, env: Mapping[str, str], raw_copy: Path) -> str:
    """The generated project's serving benchmark (BentoML against FastAPI); its raw output goes to `raw_copy`."""
    ensure_load_generator()
    env = project_env(env)
    summary = project / "benchmarks" / "summary.md"
    command = ["uv", "run", "--frozen", "python", "benchmarks/serve.py", "--output", str(summary)]
    subprocess.run(command, cwd=project, env=env, check=True, capture_output=True)
    runs = sorted((project / "benchmarks" / "results").iterdir())
    shutil.rmtree(raw_copy, ignore_errors=True)
    shutil.copytree(runs[-1], raw_copy, ignore=shutil.ignore_patterns("*.log"))  # the servers' access logs
    shutil.copy2(summary, raw_copy / "summary.md")
    return summary.read_text(encoding="utf-8")


def monitor_benchmark(project: Path, env: Mapping[str, str]) -> str:
    """The generated project's monitoring benchmark output: 1M rows x 20 features."""
    command = ["uv", "run", "--frozen", "python", "benchmarks/monitor.py"]
    result = subprocess.run(command, cwd=project, env=project_env(env), check=True, capture_output=True, text=True)
    return result.stdout


def serve_to_first_answer(project: Path, env: Mapping[str, str], log: Path) -> float:
    """Seconds from `bentoml serve` to a 200 answer for the contract's example row."""
    body = example_request(project, env)
    port = free_port()
    command = ["uv", "run", "--frozen", "bentoml", "serve", "--host", "127.0.0.1", "--port", str(port)]
    start = time.perf_counter()
    with running_server(command, project, env, port, log) as url:
        status, text = request("POST", f"{url}/predict", body)
        elapsed = time.perf_counter() - start
    if status != 200:
        raise RuntimeError(f"first prediction failed with {status}: {text}")
    return elapsed


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    uv = subprocess.run(["uv", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    copier = subprocess.run([*COPIER, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": str(os.cpu_count()),
        "uv": uv,
        "copier": copier,
    }
