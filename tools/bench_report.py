"""The benchmark page: `docs/benchmarks.md` and its plot, written from one `nox -s bench` run."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

RENDER_GOAL_RATIO = 1.3
STEP_COLOURS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1")
CACHED, NO_BYTECODE = "first_green_bytecode_cached", "first_green_no_bytecode"
FIRST_GREEN_RUNS = {
    CACHED: "bytecode cached (PYTHONDONTWRITEBYTECODE unset)",
    NO_BYTECODE: "no bytecode cache (PYTHONDONTWRITEBYTECODE=1)",
}
AB_TIMEOUT_SIDES = {
    "a-bentoml-timeout": "A: BentoML's `TimeoutMiddleware` put back",
    "b-request-timeout": "B: the service as generated (`RequestTimeout`)",
}
FIRST_GREEN_GOAL_S = 30.0  # with bytecode cached, on 2 idle cores
FIRST_GREEN_BEYOND_S = 20.0  # the goal after this one
PIPELINE_GOAL_S = 60.0  # the whole pipeline on 1M rows (benchmarks/pipeline_scale.py judges it)
PIPELINE_LINEARITY = 1.2  # seconds per million rows at 5M over those at 1M, at most
# Seconds per (run, step of `tools.benchmarks.first_green`): the first-run goals of the default variants.
STEP_GOALS = {
    (CACHED, "total"): FIRST_GREEN_GOAL_S,
    (CACHED, "dvc repro"): 10.0,
    (NO_BYTECODE, "dvc repro"): 10.0,
    (CACHED, "pytest (fast tier)"): 10.0,
    (NO_BYTECODE, "pytest (fast tier)"): 20.0,
}


def first_green_plot(results: Mapping[str, Any]) -> str:
    """A horizontal stacked bar per run: seconds per step from render to the first answer."""
    runs = [(label, results[key]) for key, label in FIRST_GREEN_RUNS.items() if key in results]
    steps = [step for step in runs[0][1] if step != "total"]
    longest = max(max(run["total"] for _, run in runs), FIRST_GREEN_GOAL_S, FIRST_GREEN_BEYOND_S)
    scale, left, bar, gap = 560 / longest, 260, 28, 22
    height = 40 + len(runs) * (bar + gap) + 30 * ((len(steps) + 2) // 3)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="860" height="{height}" '
        'font-family="sans-serif" font-size="12" role="img" aria-label="Time to first green, by step">'
    ]
    for row, (label, run) in enumerate(runs):
        y, x = 20 + row * (bar + gap), float(left)
        parts.append(f'<text x="{left - 8}" y="{y + bar / 2 + 4}" text-anchor="end">{escape(label)}</text>')
        for index, step in enumerate(steps):
            width = run[step] * scale
            colour = STEP_COLOURS[index % len(STEP_COLOURS)]
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{bar}" fill="{colour}">'
                f"<title>{escape(step)}: {run[step]:.1f} s</title></rect>"
            )
            x += width
        parts.append(f'<text x="{x + 6:.1f}" y="{y + bar / 2 + 4}">{run["total"]:.1f} s</text>')
    bottom = 20 + len(runs) * (bar + gap) - gap
    for seconds, label in ((FIRST_GREEN_GOAL_S, "goal"), (FIRST_GREEN_BEYOND_S, "beyond")):
        parts.append(goal_line(left + seconds * scale, 12, 12, bottom, f"{label} {seconds:g} s"))
    colours = {step: STEP_COLOURS[index % len(STEP_COLOURS)] for index, step in enumerate(steps)}
    parts += legend(colours, bottom, per_row=3, column_width=280)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def goal_line(x: float, line_top: float, label_y: float, bottom: float, label: str) -> str:
    """A dashed vertical line at `x` from `line_top` to just below the bars, labelled at its top."""
    return (
        f'<line x1="{x:.1f}" y1="{line_top}" x2="{x:.1f}" y2="{bottom + 6}" stroke="#333" '
        'stroke-dasharray="4 3"/>'
        f'<text x="{x + 4:.1f}" y="{label_y}">{escape(label)}</text>'
    )


def legend(colours: Mapping[str, str], bottom: float, *, per_row: int, column_width: int) -> list[str]:
    """A colour swatch and name per bar segment, `per_row` to a row, below the bars."""
    parts = []
    for index, (name, colour) in enumerate(colours.items()):
        x, y = 20 + (index % per_row) * column_width, bottom + 30 + (index // per_row) * 22
        parts.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 18}" y="{y}">{escape(name)}</text>')
    return parts


PIPELINE_HEADING = "## The pipeline as the data grows"
PIPELINE_PLOT = "pipeline-scale.svg"
PIPELINE_RAW = "benchmarks/pipeline/results.json"
NOT_MEASURED = "\N{EN DASH}"


def rows_label(rows: int) -> str:
    """1000000 -> "1M", 100000 -> "100k", 2500 -> "2.5k"."""
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if rows >= size:
            return f"{rows / size:g}{suffix}"
    return str(rows)


def pipeline_runs(pipeline: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(label, run) per bar and table row: the series by size, then the baseline."""
    runs = [(f"{rows_label(run['rows'])} rows", run) for run in pipeline["series"]]
    if pipeline.get("baseline"):
        baseline = pipeline["baseline"]
        runs.append((f"{rows_label(baseline['rows'])} rows, {baseline['label']}", baseline))
    return runs


def pipeline_plot(pipeline: Mapping[str, Any]) -> str:
    """A horizontal bar per run, stacked by stage: seconds per million rows (equal bars = linear cost)."""
    runs = pipeline_runs(pipeline)
    stages = list(dict.fromkeys(stage["stage"] for _, run in runs for stage in run["stages"]))
    colours = {stage: STEP_COLOURS[index % len(STEP_COLOURS)] for index, stage in enumerate(stages)}
    reference = next((run for run in pipeline["series"] if run["rows"] == pipeline["settings"]["reference_rows"]), None)
    lines = [(PIPELINE_GOAL_S, f"{PIPELINE_GOAL_S:g} s at 1M rows")]
    if reference:
        limit = PIPELINE_LINEARITY * reference["s_per_million_rows"]
        lines.append((limit, f"{PIPELINE_LINEARITY:g} x {rows_label(reference['rows'])}"))
    longest = max(*(run["s_per_million_rows"] for _, run in runs), *(seconds for seconds, _ in lines))
    scale, left, bar, gap = 480 / longest, 200, 26, 18  # room after the longest bar for its label
    height = 50 + len(runs) * (bar + gap) + 30 * ((len(stages) + 3) // 4)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="900" height="{height}" font-family="sans-serif" '
        'font-size="12" role="img" aria-label="Pipeline seconds per million rows, by stage and data size">'
    ]
    for row, (label, run) in enumerate(runs):
        y, x = 34 + row * (bar + gap), float(left)
        parts.append(f'<text x="{left - 8}" y="{y + bar / 2 + 4}" text-anchor="end">{escape(label)}</text>')
        for stage in run["stages"]:
            width = stage["wall_s"] / run["rows"] * 1_000_000 * scale
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{bar}" fill="{colours[stage["stage"]]}">'
                f"<title>{escape(stage['stage'])}: {stage['wall_s']:.1f} s</title></rect>"
            )
            x += width
        parts.append(
            f'<text x="{x + 6:.1f}" y="{y + bar / 2 + 4}">{run["s_per_million_rows"]:.1f} s per 1M rows '
            f"({run['total_s']:.1f} s)</text>"
        )
    bottom = 34 + len(runs) * (bar + gap) - gap
    for index, (seconds, label) in enumerate(lines):
        parts.append(goal_line(left + seconds * scale, 14 + 12 * index, 12 + 12 * index, bottom, label))
    parts += legend(colours, bottom, per_row=4, column_width=210)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def goal_value(goal: Mapping[str, Any]) -> str:
    if goal["value"] is None:
        return NOT_MEASURED
    if goal["unit"] == "s":
        return f"{goal['value']:.1f} s"
    if goal["unit"] == "MiB":
        return f"{goal['value']:,.0f} MiB"
    if goal["unit"] == "x":
        return f"{goal['value']:.2f}x"
    return f"{goal['value']:.4f}"


def pipeline_section(pipeline: Mapping[str, Any], plot: str = f"benchmarks/{PIPELINE_PLOT}") -> list[str]:
    """The pipeline series: seconds per stage and size, the baseline beside it, and each goal's verdict."""
    settings, runs = pipeline["settings"], pipeline_runs(pipeline)
    stages = list(dict.fromkeys(stage["stage"] for _, run in runs for stage in run["stages"]))
    baseline = pipeline["baseline"]["label"] if pipeline.get("baseline") else None
    problem = settings["problem_type"].replace("_", " ")
    lines = [
        PIPELINE_HEADING,
        "",
        f"`benchmarks/pipeline_scale.py` against the default ({problem}) project: data of each size drawn",
        f"by `tools/sample_data.py` (seed {settings['seed']}, not the shipped sample's), each stage of dvc.yaml run",
        f"in order as `{settings['stage_command']}`, bytecode {settings['bytecode']}.",
        f"The baseline is the same variant rendered from the template at `{baseline}`, on the same file, run"
        if baseline
        else "No baseline ran.",
        "right after the project's own run at that size. Peak RSS is the largest sum over a stage's process",
        f"tree (uv, dvc, the stage) sampled every {settings['sample_interval_s'] * 1000:g} ms; the bound in brackets",
        f"sums each process's own high-water mark. Raw figures: `docs/{PIPELINE_RAW}`.",
        "",
        f"![Pipeline seconds per million rows, by stage]({plot})",
        "",
        f"| run | {' | '.join(stages)} | total | s per 1M rows | CPU s | peak RSS (bound) | {settings['metric']} "
        "| test rows |",
        "| --- |" + " ---: |" * (len(stages) + 6),
    ]
    for label, run in runs:
        seconds = {stage["stage"]: stage["wall_s"] for stage in run["stages"]}
        cells = [f"{seconds[stage]:.1f} s" if stage in seconds else NOT_MEASURED for stage in stages]
        cells += [
            f"**{run['total_s']:.1f} s**",
            f"{run['s_per_million_rows']:.1f} s",
            f"{run['cpu_s']:.1f} s",
            f"{run['peak_rss_mib']:,.0f} MiB ({run['rss_bound_mib']:,.0f})",
            f"{run['metric_value']:.4f}",
            f"{run['test_rows']:,}" if run.get("test_rows") is not None else NOT_MEASURED,
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "| goal (issue #16) | measured | limit | verdict |", "| --- | ---: | ---: | --- |"]
    for goal in pipeline["goals"]:
        limit = goal_value({**goal, "value": goal["limit"]})
        sign = "≥" if goal["at_least"] else "≤"
        lines.append(f"| {goal['goal']} | {goal_value(goal)} | {sign} {limit} | {goal['verdict']} |")
    load = pipeline["machine"]
    lines += [
        "",
        f"Measured on {load['cpus']} CPUs and {load['memory_gib']} GiB, load average (1, 5, 15 min) "
        f"{', '.join(map(str, load['load_average_at_start']))} at the start and "
        f"{', '.join(map(str, load['load_average_at_end']))} at the end; {settings['minutes']} minutes in all.",
        "Rerun this section alone (the other sections stay as they are): `uv run nox -s bench -- --only pipeline`.",
        "",
    ]
    return lines


def replace_section(page: str, heading: str, section: list[str]) -> str:
    """`page` with the section under `heading` (up to the next `## `) replaced by `section`, or it appended."""
    lines = page.rstrip("\n").split("\n")
    if heading not in lines:
        return "\n".join([*lines, "", *section]).rstrip() + "\n"
    start = lines.index(heading)
    end = next((index for index in range(start + 1, len(lines)) if lines[index].startswith("## ")), len(lines))
    return "\n".join([*lines[:start], *section, *lines[end:]]).rstrip() + "\n"


def write_pipeline_section(pipeline: Mapping[str, Any], docs_dir: Path) -> Path:
    """Rewrite only the pipeline section of `docs_dir/benchmarks.md` and its plot; return the page."""
    figures = docs_dir / "benchmarks"
    figures.mkdir(parents=True, exist_ok=True)
    (figures / PIPELINE_PLOT).write_text(pipeline_plot(pipeline), encoding="utf-8")
    page = docs_dir / "benchmarks.md"
    text = page.read_text(encoding="utf-8") if page.is_file() else "# Benchmarks\n"
    page.write_text(replace_section(text, PIPELINE_HEADING, pipeline_section(pipeline)), encoding="utf-8")
    return page


FEATURE_LOOKUP_HEADING = "## The online feature lookup"
FEATURE_LOOKUP_RAW = "benchmarks/feature-lookup/results.json"


def feature_lookup_section(lookup: Mapping[str, Any]) -> list[str]:
    """The feast service with its online lookup against the same service without it: p50/p99 added, start times."""
    settings, sides, added = lookup["settings"], lookup["sides"], lookup["added"]
    rounds = f"{settings['rounds']} interleaved rounds of {settings['warmup_s']} s warm-up + {settings['duration_s']} s"
    lines = [
        FEATURE_LOOKUP_HEADING,
        "",
        "`benchmarks/feature_lookup.py` against the feast variant's project (pipeline run, store materialized):",
        "one-row `/predict` requests at 1 connection to the service as generated, which reads the views' columns",
        "from the SQLite online store (one Feast call per batch), and to the same service without the lookup",
        "(`benchmarks/ab_feature_lookup.py`: the store never opened, the request carrying the values the lookup",
        f"reads). Both answer the benchmark row identically. Medians of {rounds} each, loaded by `hey`.",
        f"Raw figures: `docs/{FEATURE_LOOKUP_RAW}`.",
        "",
        "| | p50 ms | p99 ms | max ms | server CPU ms / request | start to /readyz s |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for side, label in (("lookup", "with the lookup"), ("no_lookup", "without (B)")):
        figures = sides[side]
        lines.append(
            f"| {label} | {figures['p50_ms']:.2f} | {figures['p99_ms']:.2f} | {figures['max_ms']:.1f} "
            f"| {figures['server_cpu_ms']:.2f} | {lookup['start_seconds'][side]:.1f} |"
        )
    lines.append(f"| added | {added['p50_ms']:+.2f} | {added['p99_ms']:+.2f} | | {added['server_cpu_ms']:+.2f} | |")
    lines += ["", "| goal | measured | limit | verdict |", "| --- | ---: | ---: | --- |"]
    for goal in lookup["goals"]:
        met = "meets the goal" if goal["value_ms"] <= goal["limit_ms"] else "misses the goal"
        lines.append(f"| {goal['goal']} | {goal['value_ms']:+.2f} ms | ≤ {goal['limit_ms']:g} ms | {met} |")
    alone = lookup["feast_read_in_process"]
    machine = lookup["machine"]
    lines += [
        "",
        f"The Feast read alone, in process ({alone['reads']} one-row reads): p50 {alone['p50_ms']:.2f} ms, "
        f"p99 {alone['p99_ms']:.2f} ms. The start time with the lookup includes importing Feast and opening the",
        "store in the `bentoml serve` process's check and again in the worker.",
        f"Measured on {machine['cpus']} CPUs, load average (1, 5, 15 min) "
        f"{', '.join(map(str, machine['load_average_at_start']))} at the start and "
        f"{', '.join(map(str, machine['load_average_at_end']))} at the end.",
        "Rerun: `uv run --project <feast project> python benchmarks/feature_lookup.py --output "
        f"docs/{FEATURE_LOOKUP_RAW}`, then",
        f"`uv run python tools/bench_report.py --feature-lookup docs/{FEATURE_LOOKUP_RAW}`.",
        "",
    ]
    return lines


def saved_feature_lookup(docs_dir: Path) -> dict[str, Any] | None:
    """The feature-lookup figures committed beside the page, if any: a run without that benchmark keeps its section."""
    import json

    raw = docs_dir / FEATURE_LOOKUP_RAW
    return json.loads(raw.read_text(encoding="utf-8")) if raw.is_file() else None


def write_feature_lookup_section(lookup: Mapping[str, Any], docs_dir: Path) -> Path:
    """Rewrite only the feature-lookup section of `docs_dir/benchmarks.md`; return the page."""
    page = docs_dir / "benchmarks.md"
    text = page.read_text(encoding="utf-8") if page.is_file() else "# Benchmarks\n"
    page.write_text(replace_section(text, FEATURE_LOOKUP_HEADING, feature_lookup_section(lookup)), encoding="utf-8")
    return page


def verdict(value: float, goal: float) -> str:
    return "meets the goal" if value <= goal else "misses the goal"


def machine_section(machine: Mapping[str, str]) -> list[str]:
    lines = ["## Machine", "", "| | |", "| --- | --- |"]
    lines += [f"| {key} | {value} |" for key, value in machine.items()]
    return [*lines, ""]


def render_section(render: Mapping[str, float]) -> list[str]:
    ratio = render["ratio"]
    return [
        "## Render time against copier's floor",
        "",
        "Median of interleaved `copier copy --defaults` runs through the copier CLI: the default variant",
        "against a one-question, one-file template (copier's own floor), in the same run.",
        "",
        "| default variant | copier floor | ratio | goal |",
        "| ---: | ---: | ---: | --- |",
        f"| {render['shipshape_render_s']:.2f} s | {render['copier_floor_s']:.2f} s | **{ratio:.2f}x** "
        f"| ≤ {RENDER_GOAL_RATIO}x: {verdict(ratio, RENDER_GOAL_RATIO)} |",
        "",
    ]


def step_cell(key: str, step: str, seconds: float) -> str:
    """One step's time, with its goal and verdict where the step has one."""
    goal = STEP_GOALS.get((key, step))
    if goal is None:
        return f"{seconds:.1f} s"
    return f"{seconds:.1f} s (goal ≤ {goal:g} s: {verdict(seconds, goal)})"


def first_green_section(results: Mapping[str, Any]) -> list[str]:
    keys = [key for key in FIRST_GREEN_RUNS if key in results]
    steps = list(results[keys[0]])
    lines = [
        "## Time to first green",
        "",
        "The default variant as a new user starts it, each step timed: render → `git init` and commit →",
        "`uv sync --frozen` (warm package cache) → `dvc repro` → the default `uv run pytest` (the fast",
        "tier) → `<package> serve` answering its first `/predict`. Twice: with Python writing bytecode",
        "as it goes (later steps reuse what earlier ones compiled), and with `PYTHONDONTWRITEBYTECODE=1`,",
        "as this machine's environment sets it (every process compiles what it imports again).",
        "",
        "![Time to first green, by step](benchmarks/first-green.svg)",
        "",
        "| step | " + " | ".join(FIRST_GREEN_RUNS[key] for key in keys) + " |",
        "| --- |" + " ---: |" * len(keys),
    ]
    for step in steps:
        cells = " | ".join(step_cell(key, step, results[key][step]) for key in keys)
        lines.append(f"| {'**total**' if step == 'total' else step} | {cells} |")
    lines += [
        "",
        f"Goals on 2 idle cores: first green ≤ {FIRST_GREEN_GOAL_S:g} s with bytecode cached (the goal beyond",
        f"it: ≤ {FIRST_GREEN_BEYOND_S:g} s), `dvc repro` on the sample ≤ 10 s, the fast tier ≤ 10 s with",
        "bytecode cached and ≤ 20 s without.",
    ]
    if CACHED in results:
        total = results[CACHED]["total"]
        lines.append(
            f"First green with bytecode cached: {total:.1f} s; ≤ {FIRST_GREEN_GOAL_S:g} s: "
            f"{verdict(total, FIRST_GREEN_GOAL_S)}; ≤ {FIRST_GREEN_BEYOND_S:g} s (beyond): "
            f"{verdict(total, FIRST_GREEN_BEYOND_S)}."
        )
    return [*lines, ""]


def demoted(markdown: str) -> list[str]:
    """A report's Markdown with its title dropped and its headings one level down."""
    lines = markdown.strip().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    while lines and not lines[0].strip():
        lines = lines[1:]
    return [f"#{line}" if line.startswith("#") else line for line in lines]


def write_report(results: Mapping[str, Any], docs_dir: Path) -> Path:
    """Write `benchmarks.md` and `benchmarks/first-green.svg` under `docs_dir`; return the page."""
    figures = docs_dir / "benchmarks"
    figures.mkdir(parents=True, exist_ok=True)
    (figures / "first-green.svg").write_text(first_green_plot(results), encoding="utf-8")
    lines = [
        "# Benchmarks",
        "",
        "Written by `uv run nox -s bench` from one run on the machine below; rerun it to reproduce.",
        "Absolute times depend on the machine; the ratios, measured in the same run, travel better.",
        "",
        *machine_section(results["machine"]),
        *render_section(results["render"]),
        *first_green_section(results),
    ]
    if "serve" in results:
        lines += [
            "## The generated service against FastAPI and LitServe",
            "",
            "`benchmarks/serve.py` (in this repo, not shipped to projects) run against the first-green",
            "project: its BentoML service and three peers built on the same answering code",
            "(`benchmarks/peers/`: FastAPI, FastAPI with the service's batching, LitServe with its own),",
            "each doing the service's per-request work and once bare, all on the same CPUs with as many",
            "inference processes, interleaved, loaded by `hey` on loopback. Raw output: `docs/benchmarks/serve/`.",
            "What the service changes and why, with the A/B runs behind each change, is in `benchmarks/README.md`.",
            "",
            *demoted(results["serve"]),
            "",
        ]
    if "ab_timeout" in results:
        lines += [
            "## A/B: BentoML's request timeout against the service's",
            "",
            "One change, at 16 connections: `benchmarks/ab_bentoml_timeout.py` puts BentoML's own",
            "`TimeoutMiddleware` back into the service (A), against the service as generated (B). Compare",
            "max and stalls. Summaries: `docs/benchmarks/ab-timeout/`.",
            "",
        ]
        for side, summary in results["ab_timeout"].items():
            lines += [f"### {AB_TIMEOUT_SIDES.get(side, side)}", "", *demoted(summary), ""]
    if "monitor" in results:
        lines += [
            "## Monitoring a large window",
            "",
            "`benchmarks/monitor.py` against the first-green project's monitoring code: the drift",
            "statistics on data already in memory, and reading the same rows as JSONL prediction-log",
            "lines, timed separately.",
            "",
            "```text",
            results["monitor"].strip(),
            "```",
            "",
        ]
    if "pipeline" in results:
        (figures / PIPELINE_PLOT).write_text(pipeline_plot(results["pipeline"]), encoding="utf-8")
        lines += pipeline_section(results["pipeline"])
    lookup = results.get("feature_lookup") or saved_feature_lookup(docs_dir)
    if lookup:
        lines += feature_lookup_section(lookup)
    page = docs_dir / "benchmarks.md"
    page.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return page


def main(argv: list[str] | None = None) -> None:
    """`--feature-lookup <results.json>`: rewrite docs/benchmarks.md's feature-lookup section from its results."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--feature-lookup", type=Path, required=True, help="benchmarks/feature_lookup.py's JSON")
    parser.add_argument("--docs", type=Path, default=Path(__file__).resolve().parents[1] / "docs")
    args = parser.parse_args(argv)
    lookup = json.loads(args.feature_lookup.read_text(encoding="utf-8"))
    print(write_feature_lookup_section(lookup, args.docs))


if __name__ == "__main__":
    main()
