"""Time a generated project's DVC pipeline at growing data sizes, stage by stage, against a baseline.

    uv run --project <project> python benchmarks/pipeline_scale.py --project <project> \
        [--baseline-project <older project> --baseline-label 37573ce] \
        [--sizes 100000,1000000,5000000] [--reference-rows 1000000] [--output results.json]

Data: `tools/sample_data.py` draws a dataset of each size with `--seed` (not the shipped sample's)
and writes it with its DVC pointer over the project's raw data (`data.raw` in params.yaml). The
baseline, a project rendered from another template commit, gets the same file at
`--reference-rows`, run right after the project's own run at that size, so machine noise in that
stretch hits both.

Each stage of dvc.yaml runs in file order as `uv run --no-sync dvc repro --single-item --force
<stage>`: what a team runs, including DVC's hashing and caching of each stage's outputs, and
without assuming what files the stages pass each other. Per stage: wall seconds, CPU seconds
(user + system of the whole process tree, from the kernel's accounting of waited-for children),
and the peak RSS of the process tree, read from /proc every `--interval` seconds (summed over the
tree at each sample), with the sum of each process's own high-water mark (VmHWM) beside it as an
upper bound that no sampling gap can miss. Then the primary metric (ml-project.yaml's gate
metric) and `test_rows` from the pipeline's metrics file.

Before measuring, each project runs its pipeline once on `--warmup-rows` rows with bytecode
writing on (PYTHONDONTWRITEBYTECODE removed), so the measured runs start with bytecode cached.
Writes one JSON file: the machine, each run's figures, seconds per million rows, the linearity
ratio, the baseline comparison and the goals of issue #16 with computed verdicts. Keep the
machine otherwise idle.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

BENCHMARKS_DIR = Path(__file__).resolve().parent
TEMPLATE_ROOT = BENCHMARKS_DIR.parent
PROC = Path("/proc")
MIB = 2**20
DEFAULT_SIZES = (100_000, 1_000_000, 5_000_000)
DEFAULT_SEED = 16  # any seed but the shipped sample's: the data is new to the project

# Issue #16, part 1: the goals at the reference size (1M rows).
GOAL_TOTAL_S = 60.0
GOAL_SPEEDUP = 6.0
GOAL_PEAK_RSS_MIB = 1024.0
GOAL_LINEARITY = 1.2
GOAL_METRIC_DIFFERENCE = 0.005


# --- the process tree's memory ---


def tree_pids(root: int, proc: Path = PROC) -> list[int]:
    """`root` and its descendants alive now; Linux lists a process's children per thread."""
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        for children in (proc / str(pid) / "task").glob("*/children"):
            try:
                pending += [int(child) for child in children.read_text().split()]
            except OSError:  # the thread or process ended while being read
                continue
    return found


def memory_kib(pid: int, proc: Path = PROC) -> tuple[int, int]:
    """(current RSS, high-water RSS) of `pid` in KiB; zeros once it has ended."""
    try:
        status = (proc / str(pid) / "status").read_text()
    except OSError:
        return 0, 0
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return tuple(int(fields.get(key, "0 kB").split()[0]) for key in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


@dataclass
class TreeMemory:
    """The peak of a process tree's summed RSS over samples, and each process's own high-water mark."""

    root: int
    proc: Path = PROC
    peak_kib: int = 0
    high_water_kib: dict[int, int] = field(default_factory=dict)
    samples: int = 0

    def sample(self) -> int:
        """Sum the tree's RSS now, keep the peak and each process's high-water mark; return the sum."""
        total = 0
        for pid in tree_pids(self.root, self.proc):
            rss, high_water = memory_kib(pid, self.proc)
            total += rss
            self.high_water_kib[pid] = max(self.high_water_kib.get(pid, 0), high_water)
        self.peak_kib = max(self.peak_kib, total)
        self.samples += 1
        return total

    @property
    def high_water_sum_kib(self) -> int:
        """An upper bound on the tree's peak: every process at its own peak at once."""
        return sum(self.high_water_kib.values())


# --- running the pipeline ---


@dataclass(frozen=True)
class StageRun:
    stage: str
    wall_s: float
    cpu_s: float
    peak_rss_mib: float
    rss_bound_mib: float  # sum of each process's VmHWM: no sampling gap can hide a peak above it
    samples: int


def stage_names(dvc_yaml: Path) -> list[str]:
    """The pipeline's stages in the order dvc.yaml lists them (the order `dvc repro` documents)."""
    return list(yaml.safe_load(dvc_yaml.read_text(encoding="utf-8"))["stages"])


def metrics_file(dvc_yaml: Path) -> Path:
    """The first metrics file a stage of dvc.yaml declares."""
    for stage in yaml.safe_load(dvc_yaml.read_text(encoding="utf-8"))["stages"].values():
        for entry in stage.get("metrics", []):
            return dvc_yaml.parent / (next(iter(entry)) if isinstance(entry, dict) else entry)
    raise RuntimeError(f"no stage in {dvc_yaml} declares a metrics file")


def stage_env(base: Mapping[str, str]) -> dict[str, str]:
    """`base` with bytecode writing on, no outer virtualenv (each project's uv finds its own) and no DVC analytics."""
    dropped = {"PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV"}
    return {**{key: value for key, value in base.items() if key not in dropped}, "DVC_NO_ANALYTICS": "1"}


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_stage(project: Path, stage: str, env: Mapping[str, str], interval: float) -> StageRun:
    """Run one stage with `dvc repro`, sampling its process tree's memory until it exits; fail loudly."""
    command = ["uv", "run", "--no-sync", "dvc", "repro", "--single-item", "--force", "--quiet", stage]
    with tempfile.TemporaryFile("w+") as log:
        cpu_before, started = children_cpu_s(), time.perf_counter()
        process = subprocess.Popen(command, cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        memory = TreeMemory(process.pid)
        while process.poll() is None:
            memory.sample()
            time.sleep(interval)
        wall = time.perf_counter() - started
        cpu = children_cpu_s() - cpu_before  # the tree's CPU: each process waited for its children
        if process.returncode != 0:
            log.seek(0)
            raise RuntimeError(f"stage {stage} in {project} exited with {process.returncode}:\n{log.read()[-3000:]}")
    return StageRun(stage, wall, cpu, memory.peak_kib / 1024, memory.high_water_sum_kib / 1024, memory.samples)


def dataset(data_dir: Path, problem_type: str, seed: int, rows: int) -> Path:
    """A CSV of `rows` rows (and its `.dvc` pointer) from tools/sample_data.py, drawn once per size."""
    path = data_dir / f"{problem_type}-seed{seed}-{rows}.csv"
    if not (path.is_file() and path.with_name(path.name + ".dvc").is_file()):
        command = [sys.executable, "-m", "tools.sample_data", "--problem-type", problem_type]
        command += ["--seed", str(seed), "--rows", str(rows), "--output", str(path)]
        subprocess.run(command, cwd=TEMPLATE_ROOT, check=True, capture_output=True)  # noqa: S603
    return path


def shipped_sample_seed(problem_type: str) -> int:
    """The seed of the sample the template ships, from tools/sample_data.py."""
    if str(TEMPLATE_ROOT) not in sys.path:
        sys.path.insert(0, str(TEMPLATE_ROOT))
    from tools.sample_data import sample_seed

    return sample_seed(problem_type)


def install_data(source: Path, project: Path) -> None:
    """Put `source` and its pointer where the project's pipeline reads its raw data."""
    params = yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))
    raw = project / params["data"]["raw"]
    raw.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, raw)
    shutil.copyfile(source.with_name(source.name + ".dvc"), raw.with_name(raw.name + ".dvc"))


def project_facts(project: Path) -> dict[str, str]:
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    config = yaml.safe_load((project / "ml-project.yaml").read_text(encoding="utf-8"))
    return {"problem_type": answers["problem_type"], "metric": config["gate"]["metric"]}


def run_pipeline(
    label: str, project: Path, data: Path, rows: int, env: Mapping[str, str], interval: float
) -> dict[str, Any]:
    """Every stage of `project`'s pipeline on `data`, then its primary metric and test rows."""
    install_data(data, project)
    print(f"{label}: {rows:,} rows", file=sys.stderr, flush=True)
    stages = []
    for stage in stage_names(project / "dvc.yaml"):
        stages.append(run_stage(project, stage, env, interval))
        print(f"  {stage:<10} {stages[-1].wall_s:7.1f} s  {stages[-1].peak_rss_mib:6.0f} MiB", file=sys.stderr)
    metrics = json.loads(metrics_file(project / "dvc.yaml").read_text(encoding="utf-8"))
    metric = project_facts(project)["metric"]
    return summarise_run(label, rows, stages, metric, metrics[metric], metrics.get("test_rows"))


# --- the figures ---


def summarise_run(
    label: str, rows: int, stages: Sequence[StageRun], metric: str, value: float, test_rows: int | None
) -> dict[str, Any]:
    """One pipeline run: its stages and totals, its seconds per million rows, its metric."""
    total = sum(stage.wall_s for stage in stages)
    return {
        "label": label,
        "rows": rows,
        "stages": [asdict(stage) for stage in stages],
        "total_s": total,
        "cpu_s": sum(stage.cpu_s for stage in stages),
        "peak_rss_mib": max(stage.peak_rss_mib for stage in stages),
        "rss_bound_mib": max(stage.rss_bound_mib for stage in stages),
        "s_per_million_rows": total / rows * 1_000_000,
        "metric": metric,
        "metric_value": value,
        "test_rows": test_rows,
    }


def linearity(series: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Seconds per million rows at the largest size over that at the next largest (1.0: linear)."""
    if len(series) < 2:
        return None
    below, largest = sorted(series, key=lambda run: run["rows"])[-2:]
    ratio = largest["s_per_million_rows"] / below["s_per_million_rows"]
    return {"rows": largest["rows"], "against_rows": below["rows"], "ratio": ratio}


def baseline_comparison(current: Mapping[str, Any], baseline: Mapping[str, Any], label: str) -> dict[str, Any]:
    """The project against the baseline on the same data: the speed-up and the metric's difference."""
    return {
        "label": label,
        "rows": current["rows"],
        "current_s": current["total_s"],
        "baseline_s": baseline["total_s"],
        "speedup": baseline["total_s"] / current["total_s"],
        "metric": current["metric"],
        "current_metric": current["metric_value"],
        "baseline_metric": baseline["metric_value"],
        "metric_difference": current["metric_value"] - baseline["metric_value"],
        "baseline_peak_rss_mib": baseline["peak_rss_mib"],
    }


def verdict(value: float | None, limit: float, *, at_least: bool = False) -> str:
    """`meets`, `misses`, or `not measured` when this run did not produce the figure."""
    if value is None:
        return "not measured"
    return "meets" if (value >= limit if at_least else value <= limit) else "misses"


def goals(
    series: Sequence[Mapping[str, Any]],
    reference_rows: int,
    line: Mapping[str, Any] | None,
    comparison: Mapping[str, Any] | None,
) -> list[dict[str, Any]]:
    """Issue #16's goals for the pipeline at `reference_rows`, each with the measured value and a verdict."""
    reference = next((run for run in series if run["rows"] == reference_rows), None)
    at = f"at {reference_rows:,} rows"
    total = reference and reference["total_s"]
    peak = reference and reference["peak_rss_mib"]
    speedup = comparison and comparison["speedup"]
    difference = comparison and abs(comparison["metric_difference"])
    ratio = line and line["ratio"]
    rows = [
        (f"whole pipeline {at}", total, GOAL_TOTAL_S, "s", False),
        (f"speed-up over the baseline {at}", speedup, GOAL_SPEEDUP, "x", True),
        (f"peak RSS of any stage's process tree {at}", peak, GOAL_PEAK_RSS_MIB, "MiB", False),
        ("s per million rows, largest size over the next", ratio, GOAL_LINEARITY, "x", False),
        (f"primary metric's difference from the baseline {at}", difference, GOAL_METRIC_DIFFERENCE, "", False),
    ]
    return [
        {
            "goal": name,
            "value": value,
            "limit": limit,
            "unit": unit,
            "at_least": at_least,
            "verdict": verdict(value, limit, at_least=at_least),
        }
        for name, value, limit, unit, at_least in rows
    ]


def machine() -> dict[str, Any]:
    """What the figures were measured on, and how busy it was when they started."""
    memory = dict(line.split(":", 1) for line in (PROC / "meminfo").read_text().splitlines() if ":" in line)
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_gib": round(int(memory["MemTotal"].split()[0]) / 2**20, 1),
        "load_average_at_start": [round(load, 2) for load in os.getloadavg()],
    }


# --- the command line ---


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, required=True, help="the generated project (rendered, synced, in git)")
    parser.add_argument("--baseline-project", type=Path, default=None, help="a project from another template ref")
    parser.add_argument("--baseline-label", default="baseline", help="what the baseline is, e.g. its commit")
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="rows, comma-separated")
    parser.add_argument("--reference-rows", type=int, default=1_000_000, help="the size the goals and baseline use")
    parser.add_argument("--warmup-rows", type=int, default=2000, help="rows of the unmeasured first run (0: none)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="the generator's seed")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between memory samples")
    parser.add_argument("--data-dir", type=Path, default=None, help="where datasets are drawn (default: a temp dir)")
    parser.add_argument("--output", type=Path, default=Path("pipeline-scale.json"), help="the results file")
    args = parser.parse_args(argv)
    args.sizes = sorted(int(size) for size in args.sizes.split(","))
    if args.baseline_project and args.reference_rows not in args.sizes:
        parser.error(f"--reference-rows {args.reference_rows} is not one of --sizes: the baseline runs beside it")
    return args


def assemble(
    info: Mapping[str, Any],
    settings: Mapping[str, Any],
    series: Sequence[Mapping[str, Any]],
    baseline: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The results file: the runs so far, and the figures and verdicts they allow."""
    reference_rows = settings["reference_rows"]
    reference = next((run for run in series if run["rows"] == reference_rows), None)
    comparison = baseline_comparison(reference, baseline, baseline["label"]) if reference and baseline else None
    line = linearity(series)
    return {
        "machine": dict(info),
        "settings": dict(settings),
        "series": list(series),
        "baseline": baseline,
        "comparison": comparison,
        "linearity": line,
        "goals": goals(series, reference_rows, line, comparison),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    project = args.project.resolve()
    facts = project_facts(project)
    if args.seed == shipped_sample_seed(facts["problem_type"]):
        sys.exit(f"--seed {args.seed} draws the shipped sample: pick another")
    env = stage_env(os.environ)
    started, info = time.time(), machine()
    settings = {
        "project": project.name,
        **facts,
        "sizes": args.sizes,
        "reference_rows": args.reference_rows,
        "seed": args.seed,
        "sample_interval_s": args.interval,
        "stage_command": "uv run --no-sync dvc repro --single-item --force --quiet <stage>",
        "bytecode": "cached (an unmeasured run first, PYTHONDONTWRITEBYTECODE unset)"
        if args.warmup_rows
        else "as left by earlier runs",
    }
    series: list[dict[str, Any]] = []
    baseline = None
    args.output.parent.mkdir(parents=True, exist_ok=True)

    def write() -> dict[str, Any]:  # after every run: a failure later keeps what was measured
        now = {**info, "load_average_at_end": [round(load, 2) for load in os.getloadavg()]}
        results = assemble(now, {**settings, "minutes": round((time.time() - started) / 60, 1)}, series, baseline)
        args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        return results

    with tempfile.TemporaryDirectory(prefix="pipeline-scale-") as scratch:
        data_dir = args.data_dir or Path(scratch)
        data_dir.mkdir(parents=True, exist_ok=True)
        draw = functools.partial(dataset, data_dir, facts["problem_type"], args.seed)
        if args.warmup_rows:
            for label, folder in (("warm-up", project), ("baseline warm-up", args.baseline_project)):
                if folder:
                    run_pipeline(label, folder.resolve(), draw(args.warmup_rows), args.warmup_rows, env, args.interval)
        for rows in args.sizes:
            series.append(run_pipeline("current", project, draw(rows), rows, env, args.interval))
            write()
            if args.baseline_project and rows == args.reference_rows:
                folder = args.baseline_project.resolve()
                baseline = run_pipeline(args.baseline_label, folder, draw(rows), rows, env, args.interval)
                write()
    results = write()
    for goal in results["goals"]:
        value = "-" if goal["value"] is None else f"{goal['value']:.4g}"
        print(f"{goal['goal']}: {value} {goal['unit']} ({goal['verdict']})")
    for run in series:
        print(f"{run['rows']:>10,} rows: {run['total_s']:7.1f} s, {run['s_per_million_rows']:7.1f} s per 1M rows")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
