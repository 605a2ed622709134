"""Benchmarks a user feels: render time against copier's floor and time to first green, step by
step; then the maintainers' benchmarks in `benchmarks/` run against the first-green project:
serving against FastAPI and LitServe peers, the BentoML timeout A/B, and monitoring on 1M rows;
and the pipeline at 100k, 1M and 5M rows against a project rendered from an older commit.

Run with `uv run nox -s bench` (it writes docs/benchmarks.md through `tools.bench_report`).
Render figures are medians of repeated runs on this machine; ratios measured in the same run
are the numbers to compare across machines.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import yaml

from tools.projects import GIT_IDENTITY, example_request, project_env
from tools.servers import free_port, request, running_server
from tools.variants import ROOT, variant_named

COPIER = [sys.executable, "-m", "copier"]
BENCHMARKS_DIR = ROOT / "benchmarks"
SERVE_PEER_PACKAGES = ("litserve==0.2.19",)  # installed beside the project's environment for the serving peers
SERVE_BATCH_ROWS = (32, 1000)  # rows per /predict_batch request in the serving benchmark
PIPELINE_BASELINE_REF = "37573ce"  # main before #16 changed the pipeline: the pipeline benchmark's baseline
PIPELINE_VARIANT = "binary-defaults"
FEATURE_LOOKUP_VARIANT = "binary-feast"  # the feature-lookup benchmark's project: the sample's history in Feast
AB_TIMEOUT_SERVICES = {  # the A/B of benchmarks/README.md: one change, BentoML's timeout middleware
    "a-bentoml-timeout": "ab_bentoml_timeout:ModelService",
    "b-request-timeout": None,  # the project's own service
}


def run(command: list[str], cwd: Path, env: Mapping[str, str]) -> float:
    """Run a command to completion (failing loudly, with the end of its output) and return its wall time."""
    start = time.perf_counter()
    finished = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if finished.returncode != 0:
        output = (finished.stdout + finished.stderr)[-3000:]
        raise RuntimeError(f"`{' '.join(command)}` in {cwd} exited with {finished.returncode}:\n{output}")
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
    """Seconds from render to the service's first answer, step by step, into `project` (a new folder).

    The steps a new user takes, as the generated README gives them: the default variant
    rendered, committed, synced from its lock, its pipeline run, its default `pytest` (the fast
    tier) and its service started until it answers a `/predict`.
    """
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
    steps["pytest (fast tier)"] = run(["uv", "run", "--frozen", "pytest", "-q", "-p", "no:cacheprovider"], project, env)
    log = project.parent / f"{project.name}-serve.log"
    steps["serve to first answer"] = serve_to_first_answer(project, env, log)
    steps["total"] = sum(steps.values())
    return steps


def ensure_load_generator() -> str:
    """`hey` for the serving benchmark; installed from Debian's packages when running as root."""
    if found := shutil.which("hey"):
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "hey"], check=True, capture_output=True)
        if found := shutil.which("hey"):
            return found
    raise RuntimeError("the serving benchmark needs `hey`: install it (`apt-get install hey`) and rerun")


def run_benchmark(
    project: Path, env: Mapping[str, str], script: str, *args: str, packages: tuple[str, ...] = ()
) -> str:
    """Run `benchmarks/<script>` in `project`'s environment (plus `packages`) against it; return what it printed."""
    command = ["uv", "run", "--project", str(project), "--frozen", *(f"--with={package}" for package in packages)]
    command += ["python", str(BENCHMARKS_DIR / script), "--project", str(project), *args]
    result = subprocess.run(command, cwd=project, env=project_env(env), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"benchmarks/{script} exited with {result.returncode}:\n{result.stderr[-3000:]}")
    return result.stdout


@contextmanager
def batch_rows_allowed(project: Path, rows: int) -> Iterator[None]:
    """`service.max_batch_rows` in `project`'s ml-project.yaml raised to `rows` (if lower) until the block ends."""
    config = project / "ml-project.yaml"
    text = config.read_text(encoding="utf-8")
    pattern = re.compile(r"^(  max_batch_rows: )(\d+)", re.MULTILINE)
    found = pattern.search(text)
    if found is None:
        raise RuntimeError(f"no service.max_batch_rows in {config}")
    if int(found[2]) < rows:
        config.write_text(pattern.sub(rf"\g<1>{rows}", text, count=1), encoding="utf-8")
    try:
        yield
    finally:
        config.write_text(text, encoding="utf-8")


def serve_benchmark(project: Path, env: Mapping[str, str], raw_dir: Path, *args: str) -> str:
    """`benchmarks/serve.py` against `project`, with the LitServe peer installed; returns its summary.

    Its raw output and `summary.md` go to `raw_dir`, replacing what was there; the servers'
    access logs are dropped.
    """
    ensure_load_generator()
    shutil.rmtree(raw_dir, ignore_errors=True)
    run_benchmark(project, env, "serve.py", "--raw", str(raw_dir), *args, packages=SERVE_PEER_PACKAGES)
    for log in raw_dir.glob("*.log"):
        log.unlink()
    return (raw_dir / "summary.md").read_text(encoding="utf-8")


def peers_benchmark(project: Path, env: Mapping[str, str], raw_dir: Path, *args: str) -> str:
    """The service against its FastAPI and LitServe peers, with `project` allowing the largest batch requests."""
    with batch_rows_allowed(project, max(SERVE_BATCH_ROWS)):
        return serve_benchmark(project, env, raw_dir, "--batch-rows", ",".join(map(str, SERVE_BATCH_ROWS)), *args)


def ab_timeout_benchmark(
    project: Path, env: Mapping[str, str], summaries_dir: Path, scratch: Path, *args: str
) -> dict[str, str]:
    """The timeout A/B at 16 connections: the service with BentoML's middleware put back, then as it is.

    Each side's summary goes to `summaries_dir/<side>.md`; the raw output stays in `scratch`.
    """
    summaries_dir.mkdir(parents=True, exist_ok=True)
    summaries = {}
    for name, service in AB_TIMEOUT_SERVICES.items():
        choice = ["--service", service] if service else []
        load = ["--apps", "bentoml", "--connections", "16", "--batch-rows", "32", "--soak", "0", *choice, *args]
        summaries[name] = serve_benchmark(project, env, scratch / name, *load)
        (summaries_dir / f"{name}.md").write_text(summaries[name], encoding="utf-8")
    return summaries


def monitor_benchmark(project: Path, env: Mapping[str, str], *args: str) -> str:
    """`benchmarks/monitor.py` against `project`: 1M rows x 20 features unless `args` say otherwise."""
    return run_benchmark(project, env, "monitor.py", *args)


def serve_to_first_answer(project: Path, env: Mapping[str, str], log: Path) -> float:
    """Seconds from `<package> serve` (the README's command) to a 200 answer for the contract's example row."""
    body = example_request(project, env)
    package = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))["package_name"]
    port = free_port()
    command = ["uv", "run", "--frozen", package, "serve", "--host", "127.0.0.1", "--port", str(port)]
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


def template_at(ref: str, folder: Path) -> Path:
    """This repository's committed state at `ref`, cloned into `folder` (a new folder) to render from."""
    env = {**os.environ, **GIT_IDENTITY}
    run(["git", "clone", "--quiet", str(ROOT), str(folder)], ROOT, env)
    run(["git", "checkout", "--quiet", ref], folder, env)
    return folder


def synced_project(
    project: Path, env: Mapping[str, str], template: Path = ROOT, variant: str = PIPELINE_VARIANT
) -> Path:
    """`variant` (the pipeline benchmark's by default) rendered from `template` into `project`, committed and synced."""
    answers = [f"--data={key}={value}" for key, value in variant_named(variant).data.items()]
    copy = [*COPIER, "copy", "--quiet", "--defaults", "--vcs-ref", "HEAD", *answers, str(template), str(project)]
    env = project_env(env)
    run(copy, project.parent, env)
    for command in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"], ["git", "commit", "-qm", "x"]):
        run(command, project, env)
    run(["uv", "sync", "--frozen", "--quiet"], project, env)
    return project


def pipeline_benchmark(
    env: Mapping[str, str], scratch: Path, output: Path, *args: str, baseline_ref: str = PIPELINE_BASELINE_REF
) -> dict:
    """`benchmarks/pipeline_scale.py`: the working tree's project against one rendered at `baseline_ref`.

    Both projects are rendered into `scratch` (a new folder); the results go to `output` (JSON) and
    are returned.
    """
    scratch.mkdir(parents=True)
    project = synced_project(scratch / "current", env)
    baseline_template = template_at(baseline_ref, scratch / "baseline-template")
    baseline = synced_project(scratch / "baseline", env, template=baseline_template)
    output.parent.mkdir(parents=True, exist_ok=True)
    comparison = ["--baseline-project", str(baseline), "--baseline-label", baseline_ref]
    run_benchmark(project, env, "pipeline_scale.py", *comparison, "--output", str(output.resolve()), *args)
    return json.loads(output.read_text(encoding="utf-8"))


def feature_lookup_benchmark(env: Mapping[str, str], scratch: Path, output: Path, *args: str) -> dict:
    """`benchmarks/feature_lookup.py` against the feast variant rendered into `scratch` (a new folder), its
    pipeline run (a promoted model, a materialized store); the results go to `output` (JSON) and are returned."""
    scratch.mkdir(parents=True)
    project = synced_project(scratch / "project", env, variant=FEATURE_LOOKUP_VARIANT)
    run(["uv", "run", "--frozen", "dvc", "repro", "--quiet"], project, project_env(env))
    output.parent.mkdir(parents=True, exist_ok=True)
    run_benchmark(project, env, "feature_lookup.py", "--output", str(output.resolve()), *args)
    return json.loads(output.read_text(encoding="utf-8"))
