"""`benchmarks/pipeline_scale.py` and its section of docs/benchmarks.md: the figures, the verdicts, the page."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tools.bench_report import (
    PIPELINE_HEADING,
    pipeline_plot,
    pipeline_section,
    replace_section,
    write_pipeline_section,
    write_report,
)

STAGES = ("validate", "train", "evaluate")


@pytest.fixture
def scale() -> ModuleType:
    """The script, imported as it runs: with its own folder on the path."""
    return importlib.import_module("benchmarks.pipeline_scale")


def fake_proc(root: Path, processes: dict[int, tuple[dict[int, list[int]], int, int]]) -> Path:
    """A /proc with, per pid, its threads' children and its VmRSS and VmHWM in KiB."""
    for pid, (threads, rss, high_water) in processes.items():
        (root / str(pid)).mkdir(parents=True, exist_ok=True)
        (root / str(pid) / "status").write_text(f"Name:\tpython\nVmHWM:\t{high_water} kB\nVmRSS:\t{rss} kB\n")
        for thread, children in threads.items():
            (root / str(pid) / "task" / str(thread)).mkdir(parents=True)
            (root / str(pid) / "task" / str(thread) / "children").write_text(" ".join(map(str, children)))
    return root


def run(
    scale: ModuleType, label: str, rows: int, seconds: dict[str, float], metric: float, rss: float = 300.0
) -> dict[str, Any]:
    """A run as the script summarises it; each stage used half its wall time in CPU."""
    stages = [scale.StageRun(stage, wall, wall / 2, rss, rss * 1.5, 10) for stage, wall in seconds.items()]
    return scale.summarise_run(label, rows, stages, "roc_auc", metric, rows // 5)


def results(scale: ModuleType, *, current_1m_s: float = 50.0, baseline_1m_s: float = 330.0) -> dict[str, Any]:
    """What the script writes for a 100k/1M/5M series and a baseline at 1M, built by its own functions."""
    series = [
        run(scale, "current", 100_000, {"validate": 2.0, "train": 4.0, "evaluate": 4.0}, 0.8341),
        run(scale, "current", 1_000_000, {"validate": 10.0, "train": current_1m_s - 20.0, "evaluate": 10.0}, 0.8335),
        run(scale, "current", 5_000_000, {"validate": 50.0, "train": 150.0, "evaluate": 60.0}, 0.8338),
    ]
    old = {"validate": 30.0, "train": baseline_1m_s - 80, "evaluate": 50.0}
    baseline = run(scale, "37573ce", 1_000_000, old, 0.8334)
    machine = {"cpus": 2, "memory_gib": 23.4, "load_average_at_start": [0.1], "load_average_at_end": [1.9]}
    settings = {
        "problem_type": "binary_classification",
        "metric": "roc_auc",
        "reference_rows": 1_000_000,
        "seed": 16,
        "sample_interval_s": 0.05,
        "stage_command": "uv run --no-sync dvc repro --single-item --force --quiet <stage>",
        "bytecode": "cached",
        "minutes": 12.5,
    }
    return scale.assemble(machine, settings, series, baseline)


def test_memory_is_summed_over_the_stage_process_tree_and_nothing_else(scale: ModuleType, tmp_path: Path) -> None:
    proc = fake_proc(
        tmp_path,
        {
            10: ({10: [20], 11: [30]}, 1000, 1000),  # uv: one child forked from each of two threads
            20: ({20: [40]}, 200, 200),  # dvc
            40: ({40: []}, 4000, 4000),  # the stage's own python, a grandchild
            30: ({30: []}, 30, 30),
            50: ({50: []}, 99999, 99999),  # another process on the machine
        },
    )
    memory = scale.TreeMemory(10, proc=proc)
    assert sorted(scale.tree_pids(10, proc)) == [10, 20, 30, 40]
    assert memory.sample() == 1000 + 200 + 4000 + 30


def test_a_process_that_ends_while_the_tree_is_read_counts_nothing(scale: ModuleType, tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {10: ({10: [60]}, 500, 500)})  # 60 is listed but already gone
    assert scale.TreeMemory(10, proc=proc).sample() == 500


def test_peak_is_the_largest_sum_at_one_time_and_the_bound_each_process_at_its_own_peak(
    scale: ModuleType, tmp_path: Path
) -> None:
    memory = scale.TreeMemory(10, proc=fake_proc(tmp_path / "first", {10: ({10: [20]}, 100, 100), 20: ({}, 900, 900)}))
    memory.sample()
    memory.proc = fake_proc(tmp_path / "second", {10: ({10: [20]}, 700, 800), 20: ({}, 50, 950)})
    memory.sample()
    assert memory.peak_kib == 1000  # 100 + 900 at the first sample; 750 at the second
    assert memory.high_water_sum_kib == 800 + 950
    assert memory.samples == 2


def test_a_run_is_summed_over_its_stages_and_its_cost_is_per_million_rows(scale: ModuleType) -> None:
    one = run(scale, "current", 250_000, {"validate": 5.0, "train": 10.0}, 0.83, rss=400.0)
    assert one["total_s"] == 15.0
    assert one["cpu_s"] == 7.5
    assert one["s_per_million_rows"] == 60.0
    assert one["peak_rss_mib"] == 400.0  # the largest stage's, not a sum over stages that never overlap
    assert one["test_rows"] == 50_000


def test_linearity_is_the_largest_size_cost_per_row_over_the_next_largest(scale: ModuleType) -> None:
    series = [  # out of order: the sizes decide, not the order they ran in
        run(scale, "current", 5_000_000, {"train": 300.0}, 0.83),  # 60 s per million rows
        run(scale, "current", 100_000, {"train": 10.0}, 0.83),  # 100 s per million: fixed costs
        run(scale, "current", 1_000_000, {"train": 50.0}, 0.83),  # 50 s per million
    ]
    line = scale.linearity(series)
    assert (line["rows"], line["against_rows"]) == (5_000_000, 1_000_000)
    assert line["ratio"] == pytest.approx(1.2)
    assert scale.linearity(series[:1]) is None


def test_the_baseline_comparison_is_its_time_over_ours_and_our_metric_minus_its(scale: ModuleType) -> None:
    comparison = results(scale)["comparison"]
    assert comparison["speedup"] == pytest.approx(330.0 / 50.0)
    assert comparison["metric_difference"] == pytest.approx(0.8335 - 0.8334)


def test_each_goal_of_the_issue_is_judged_from_the_measured_figures(scale: ModuleType) -> None:
    verdicts = {goal["goal"]: goal["verdict"] for goal in results(scale)["goals"]}
    assert verdicts == {
        "whole pipeline at 1,000,000 rows": "meets",  # 50 s <= 60 s
        "speed-up over the baseline at 1,000,000 rows": "meets",  # 6.6x >= 6x
        "peak RSS of any stage's process tree at 1,000,000 rows": "meets",  # 300 MiB <= 1024
        "s per million rows, largest size over the next": "meets",  # 52 / 50 = 1.04 <= 1.2
        "primary metric's difference from the baseline at 1,000,000 rows": "meets",  # 0.0001 <= 0.005
    }
    slow = {goal["goal"]: goal for goal in results(scale, current_1m_s=61.0, baseline_1m_s=360.0)["goals"]}
    assert slow["whole pipeline at 1,000,000 rows"]["verdict"] == "misses"
    assert slow["speed-up over the baseline at 1,000,000 rows"]["verdict"] == "misses"  # 5.9x
    assert slow["whole pipeline at 1,000,000 rows"]["value"] == 61.0


def test_verdicts_hold_at_the_limit_judge_both_directions_and_name_what_was_not_measured(scale: ModuleType) -> None:
    assert scale.verdict(60.0, 60.0) == "meets"
    assert scale.verdict(60.01, 60.0) == "misses"
    assert scale.verdict(6.0, 6.0, at_least=True) == "meets"
    assert scale.verdict(5.99, 6.0, at_least=True) == "misses"
    assert scale.verdict(None, 6.0) == "not measured"


def test_a_metric_worse_than_the_baseline_is_judged_by_its_size(scale: ModuleType) -> None:
    worse = {**results(scale)["comparison"], "metric_difference": -0.006}
    goals = {goal["goal"]: goal for goal in scale.goals([], 1_000_000, None, worse)}
    metric = goals["primary metric's difference from the baseline at 1,000,000 rows"]
    assert (metric["value"], metric["verdict"]) == (0.006, "misses")
    assert goals["whole pipeline at 1,000,000 rows"]["verdict"] == "not measured"  # no run at the reference size


def test_stages_run_in_dvc_yaml_order_and_the_metrics_file_is_the_one_a_stage_declares(
    scale: ModuleType, tmp_path: Path
) -> None:
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n"
        "  validate: {cmd: a}\n"
        "  train: {cmd: b}\n"
        "  evaluate:\n    cmd: c\n    metrics:\n      - scores/metrics.json:\n          cache: false\n"
        "  gate: {cmd: d}\n"
    )
    assert scale.stage_names(tmp_path / "dvc.yaml") == ["validate", "train", "evaluate", "gate"]
    assert scale.metrics_file(tmp_path / "dvc.yaml") == tmp_path / "scores" / "metrics.json"


def test_stages_run_with_bytecode_written_and_in_their_own_project_environment(scale: ModuleType) -> None:
    env = scale.stage_env({"PYTHONDONTWRITEBYTECODE": "1", "VIRTUAL_ENV": "/elsewhere/.venv", "PATH": "/bin"})
    assert env == {"PATH": "/bin", "DVC_NO_ANALYTICS": "1"}


def test_the_section_gives_each_run_by_stage_with_the_baseline_and_every_verdict(scale: ModuleType) -> None:
    section = "\n".join(pipeline_section(results(scale)))
    assert section.startswith(PIPELINE_HEADING)
    stages, total, per_million, cpu = "10.0 s | 30.0 s | 10.0 s", "**50.0 s**", "50.0 s", "25.0 s"
    assert f"| 1M rows | {stages} | {total} | {per_million} | {cpu} | 300 MiB (450) | 0.8335 | 200,000 |" in section
    assert "| 5M rows | 50.0 s | 150.0 s | 60.0 s | **260.0 s** | 52.0 s |" in section
    assert "| 1M rows, 37573ce | 30.0 s | 250.0 s | 50.0 s | **330.0 s** | 330.0 s |" in section
    assert "| whole pipeline at 1,000,000 rows | 50.0 s | ≤ 60.0 s | meets |" in section
    assert "| speed-up over the baseline at 1,000,000 rows | 6.60x | ≥ 6.00x | meets |" in section
    assert "| s per million rows, largest size over the next | 1.04x | ≤ 1.20x | meets |" in section
    assert "![Pipeline seconds per million rows, by stage](benchmarks/pipeline-scale.svg)" in section


def test_rewriting_the_section_leaves_the_rest_of_the_page_as_it_was(scale: ModuleType) -> None:
    before = "# Benchmarks\n\n## Render\n\nfast\n\n## Serving\n\n| a | b |\n"
    section = pipeline_section(results(scale))
    added = replace_section(before, PIPELINE_HEADING, section)
    assert added.startswith(before)
    assert added.endswith("\n".join(section).rstrip() + "\n")
    stale = added.replace("| **50.0 s** |", "| **99.0 s** |") + "\n## Monitoring\n\nkept\n"
    rewritten = replace_section(stale, PIPELINE_HEADING, section)
    assert rewritten == added.rstrip() + "\n\n## Monitoring\n\nkept\n"
    assert rewritten.count(PIPELINE_HEADING) == 1


def test_the_whole_bench_page_ends_with_the_section_and_the_section_alone_can_be_redone(
    scale: ModuleType, tmp_path: Path
) -> None:
    bench = {
        "machine": {"python": "3.11.7"},
        "render": {"shipshape_render_s": 0.9, "copier_floor_s": 0.6, "ratio": 1.5},
        "first_green_bytecode_cached": {"render": 1.0, "dvc repro": 7.0, "total": 8.0},
        "pipeline": results(scale),
    }
    page = write_report(bench, tmp_path)
    whole = page.read_text()
    assert whole.rstrip().endswith("\n".join(pipeline_section(bench["pipeline"])).rstrip())
    assert (tmp_path / "benchmarks" / "pipeline-scale.svg").read_text() == pipeline_plot(bench["pipeline"])
    slower = results(scale, current_1m_s=70.0)
    write_pipeline_section(slower, tmp_path)
    redone = page.read_text()
    assert redone.split(PIPELINE_HEADING)[0] == whole.split(PIPELINE_HEADING)[0]  # the other sections as they were
    assert "| whole pipeline at 1,000,000 rows | 70.0 s | ≤ 60.0 s | misses |" in redone
    assert (tmp_path / "benchmarks" / "pipeline-scale.svg").read_text() == pipeline_plot(slower)


def test_results_written_before_the_series_ends_judge_only_what_was_measured(scale: ModuleType) -> None:
    complete = results(scale)
    so_far = scale.assemble(complete["machine"], complete["settings"], complete["series"][:1], None)
    assert so_far["comparison"] is None
    assert so_far["linearity"] is None
    assert {goal["verdict"] for goal in so_far["goals"]} == {"not measured"}  # nothing at 1M yet
    before_baseline = scale.assemble(complete["machine"], complete["settings"], complete["series"][:2], None)
    verdicts = [goal["verdict"] for goal in before_baseline["goals"]]
    assert verdicts == ["meets", "not measured", "meets", "meets", "not measured"]
    assert complete["comparison"]["label"] == "37573ce"


def test_the_plot_stacks_each_run_by_stage_per_million_rows_against_the_goals(scale: ModuleType) -> None:
    svg = pipeline_plot(results(scale))
    assert svg.count("<rect ") == 4 * len(STAGES) + len(STAGES)  # 3 sizes + the baseline, and the legend
    assert "<title>train: 150.0 s</title>" in svg
    assert "52.0 s per 1M rows (260.0 s)" in svg
    assert "60 s at 1M rows" in svg
    assert "1.2 x 1M" in svg  # the linearity limit, drawn from the 1M run's cost
    assert svg.count("<line ") == 2


def test_plot_bars_are_as_long_as_the_runs_cost_per_million_rows(scale: ModuleType) -> None:
    svg = pipeline_plot(results(scale))
    widths = [float(width) for width in re.findall(r'<rect x="[\d.]+" y="\d+" width="([\d.]+)" height="26"', svg)]
    bars = [sum(widths[index : index + len(STAGES)]) for index in range(0, len(widths), len(STAGES))]
    hundred_k, one_m, five_m, baseline = bars  # 100, 50, 52 and 330 s per million rows
    assert five_m / one_m == pytest.approx(52 / 50, rel=0.01)  # equal bars would be linear cost
    assert hundred_k / one_m == pytest.approx(100 / 50, rel=0.01)
    assert baseline / one_m == pytest.approx(330 / 50, rel=0.01)


def test_the_script_refuses_to_draw_the_shipped_sample(scale: ModuleType) -> None:
    from tools.sample_data import sample_seed

    assert scale.shipped_sample_seed("binary_classification") == sample_seed("binary_classification")
    assert sample_seed("binary_classification") != scale.DEFAULT_SEED
