"""The benchmark page: `docs/benchmarks.md` and its plot, written from one `nox -s bench` run."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

RENDER_GOAL_RATIO = 1.3
FIRST_GREEN_GOAL_S = 20.0
STEP_COLOURS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1")
FIRST_GREEN_RUNS = {
    "first_green_bytecode_cached": "bytecode cached (PYTHONDONTWRITEBYTECODE unset)",
    "first_green_no_bytecode": "no bytecode cache (PYTHONDONTWRITEBYTECODE=1)",
}


def first_green_plot(results: Mapping[str, Any]) -> str:
    """A horizontal stacked bar per run: seconds per step from render to the first answer."""
    runs = [(label, results[key]) for key, label in FIRST_GREEN_RUNS.items() if key in results]
    steps = [step for step in runs[0][1] if step != "total"]
    longest = max(max(run["total"] for _, run in runs), FIRST_GREEN_GOAL_S)
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
    goal_x = left + FIRST_GREEN_GOAL_S * scale
    bottom = 20 + len(runs) * (bar + gap) - gap
    parts.append(
        f'<line x1="{goal_x:.1f}" y1="12" x2="{goal_x:.1f}" y2="{bottom + 6}" stroke="#333" stroke-dasharray="4 3"/>'
        f'<text x="{goal_x + 4:.1f}" y="12">goal {FIRST_GREEN_GOAL_S:g} s</text>'
    )
    for index, step in enumerate(steps):
        x, y = 20 + (index % 3) * 280, bottom + 30 + (index // 3) * 22
        colour = STEP_COLOURS[index % len(STEP_COLOURS)]
        parts.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 18}" y="{y}">{escape(step)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


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


def first_green_section(results: Mapping[str, Any]) -> list[str]:
    runs = [(label, results[key]) for key, label in FIRST_GREEN_RUNS.items() if key in results]
    steps = list(runs[0][1])
    lines = [
        "## Time to first green",
        "",
        "Render → `git init` and commit → `uv sync --frozen` (warm package cache) → `dvc repro` → the",
        "generated project's default `pytest` run → `<package> serve` answering its first `/predict`.",
        "",
        "![Time to first green, by step](benchmarks/first-green.svg)",
        "",
        "| step | " + " | ".join(label for label, _ in runs) + " |",
        "| --- |" + " ---: |" * len(runs),
    ]
    for step in steps:
        cells = " | ".join(f"{run[step]:.1f} s" for _, run in runs)
        lines.append(f"| {'**total**' if step == 'total' else step} | {cells} |")
    totals = ", ".join(f"{run['total']:.1f} s ({verdict(run['total'], FIRST_GREEN_GOAL_S)})" for _, run in runs)
    return [*lines, "", f"Goal: ≤ {FIRST_GREEN_GOAL_S:g} s on 2 cores. Measured: {totals}.", ""]


def demoted(markdown: str) -> list[str]:
    """A report's Markdown with its title dropped and its headings one level down."""
    lines = markdown.strip().splitlines()
    if lines and lines[0].startswith("# "):
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
            "## The generated service against a bare FastAPI app",
            "",
            "`benchmarks/serve.py` in the generated project, run in the first-green project: both servers",
            "serve the same model file through the same request model and prediction function, with the",
            "same number of worker processes, loaded by `hey` on loopback. Raw output: `docs/benchmarks/serve/`.",
            "What the service changes and why, with the A/B runs behind each change, is in the generated",
            "project's `benchmarks/README.md`; the latest A/B's summaries are in `docs/benchmarks/ab-timeout/`.",
            "",
            *demoted(results["serve"]),
            "",
        ]
    if "monitor" in results:
        lines += [
            "## Monitoring 1M rows x 20 features",
            "",
            "`benchmarks/monitor.py` in the generated project: the drift statistics on data already in",
            "memory, and reading the same rows as JSONL prediction-log lines, timed separately.",
            "",
            "```text",
            results["monitor"].strip(),
            "```",
            "",
        ]
    page = docs_dir / "benchmarks.md"
    page.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return page
