"""Sessions for the template: lint, test, check generated projects, re-lock, demo.

Sessions run in the environment `uv run` provides (pinned by this repo's uv.lock), so
nox adds no second set of tool versions. List them with `uv run nox -l`; the variant
sessions carry the tags from variants.toml (`uv run nox -t ci`, `uv run nox -l --json`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent))  # nox imports this file without its folder on the path

from tools.variants import ROOT, load_variants

nox.options.default_venv_backend = "none"
nox.options.sessions = ["lint", "tests", "update"]

VARIANT_PARAMS = [nox.param(variant.name, id=variant.name, tags=list(variant.tags)) for variant in load_variants()]


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff check and format check of the template's own code."""
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def tests(session: nox.Session) -> None:
    """Fast tier: render every variant and check it, offline (pass pytest args after --)."""
    session.run("pytest", "-m", "not slow and not update", *session.posargs)


@nox.session
def update(session: nox.Session) -> None:
    """Update tier: fixture releases of the working tree; CI variants' projects updated across them."""
    session.run("pytest", "-m", "update", *session.posargs)


@nox.session
@nox.parametrize("variant", VARIANT_PARAMS)
def generated(session: nox.Session, variant: str) -> None:
    """Slow tier for one variant: the generated project's own sync, pipeline, tests, pre-commit, service."""
    selection = [f"--variants={variant}", f"--pipeline-variants={variant}", f"--s3-variants={variant}"]
    session.run("pytest", "-m", "slow", *selection, *session.posargs)


@nox.session(default=False)
def lock(session: nox.Session) -> None:
    """Re-lock every dependency set of the generated project (`-- --upgrade` to take new versions)."""
    from tools.locks import refresh_locks

    for path in refresh_locks(upgrade="--upgrade" in session.posargs):
        session.log(f"wrote {path.relative_to(ROOT)}")


@nox.session(name="sample-data", default=False)
def sample_data(session: nox.Session) -> None:
    """Regenerate the seeded sample datasets and their DVC pointers."""
    from tools.sample_data import write_samples

    for path in write_samples(ROOT / "includes" / "sample_data"):
        session.log(f"wrote {path.relative_to(ROOT)}")


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Time render and first green step by step, run benchmarks/ against the project; rewrite docs/benchmarks.md.

    `-- --quick` runs every piece briefly (a smoke test of the benchmarks themselves) and writes
    the page under build/bench-quick/ instead of docs/. `-- --only pipeline` runs only the
    pipeline at 100k, 1M and 5M rows against the baseline commit (about 5 minutes) and rewrites
    only that section of the page, its plot and its raw figures.
    """
    import json
    import os
    import shutil

    from tools.bench_report import write_pipeline_section, write_report
    from tools.benchmarks import (
        ab_timeout_benchmark,
        first_green,
        machine,
        monitor_benchmark,
        peers_benchmark,
        pipeline_benchmark,
        render_ratio,
    )

    quick = "--quick" in session.posargs
    only = session.posargs[session.posargs.index("--only") + 1] if "--only" in session.posargs else None
    if only not in (None, "pipeline"):
        session.error(f"--only {only}: only the pipeline benchmark runs alone (`-- --only pipeline`)")
    scratch = ROOT / "build" / ("bench-quick" if quick else "bench") / (only or "")
    docs = scratch / "docs" if quick else ROOT / "docs"
    load = ["--warmup", "1", "--duration", "3"] if quick else []
    soak = ["--soak", "3"] if quick else []
    window = ["--rows", "20000", "--repeats", "1"] if quick else []
    sizes = ["--sizes", "5000,20000,50000", "--reference-rows", "20000"] if quick else []
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    with_bytecode = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    pipeline_raw = docs / "benchmarks" / "pipeline" / "results.json"
    if only == "pipeline":
        session.log("pipeline at each size, and the baseline commit at the reference size")
        pipeline = pipeline_benchmark(with_bytecode, scratch / "pipeline", pipeline_raw, *sizes)
        page = write_pipeline_section(pipeline, docs)
        session.log(f"wrote the pipeline section of {page.relative_to(ROOT)} and {pipeline_raw.relative_to(ROOT)}")
        return
    results: dict[str, object] = {"machine": machine(), "render": render_ratio(rounds=1 if quick else 5)}
    session.log("time to first green, without bytecode caching")
    results["first_green_no_bytecode"] = first_green({**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, scratch / "cold")
    session.log("time to first green, with bytecode caching")
    project = scratch / "warm"
    results["first_green_bytecode_cached"] = first_green(with_bytecode, project)
    session.log("serving benchmark (the service against FastAPI and LitServe; about 18 minutes, 5 with --quick)")
    results["serve"] = peers_benchmark(project, with_bytecode, docs / "benchmarks" / "serve", *load, *soak)
    session.log("timeout A/B (BentoML's middleware against the service's; about 2 minutes)")
    ab_summaries = docs / "benchmarks" / "ab-timeout"
    results["ab_timeout"] = ab_timeout_benchmark(project, with_bytecode, ab_summaries, scratch / "ab-timeout", *load)
    session.log("monitoring benchmark (1M rows x 20 features)")
    results["monitor"] = monitor_benchmark(project, with_bytecode, *window)
    session.log("pipeline at 100k, 1M and 5M rows, and the baseline commit at 1M (about 5 minutes)")
    results["pipeline"] = pipeline_benchmark(with_bytecode, scratch / "pipeline", pipeline_raw, *sizes)
    raw = scratch / "bench.json" if quick else ROOT / "build" / "bench.json"
    raw.write_text(json.dumps(results, indent=2) + "\n")
    page = write_report(results, docs)
    session.log(f"wrote {page.relative_to(ROOT)} and {raw.relative_to(ROOT)}")


@nox.session(default=False)
def docs(session: nox.Session) -> None:
    """Build the documentation site strictly (a broken link or stale nav fails) into build/site."""
    session.run("mkdocs", "build", "--strict", external=True, env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session(default=False)
def demo(session: nox.Session) -> None:
    """Generate the default project into build/demo (or the folder after --) and run its pipeline."""
    target = Path(session.posargs[0] if session.posargs else ROOT / "build" / "demo").resolve()
    if target.exists():
        session.error(f"{target} already exists: remove it or pass another folder after --")
    session.run("copier", "copy", "--defaults", "--vcs-ref", "HEAD", str(ROOT), str(target))
    session.chdir(target)
    session.run("git", "init", "-q", "-b", "main", external=True)
    session.run("git", "add", "-A", external=True)
    session.run(
        "git",
        "-c",
        "user.name=Shipshape demo",
        "-c",
        "user.email=demo@shipshape.invalid",
        "commit",
        "-q",
        "-m",
        "Start from Shipshape",
        external=True,
    )
    session.run("uv", "sync", "--frozen", external=True)
    session.run("uv", "run", "--frozen", "dvc", "repro", external=True, env={"DVC_NO_ANALYTICS": "1"})
    session.log(f"done: {target} trained and evaluated its model; see {target / 'metrics.json'}")
    session.log(f"next: cd {target} && uv run pytest && uv run <package> serve")
