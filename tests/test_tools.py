"""Maintainer tools: the committed locks, sample data and docs are what the tools produce."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from benchmarks import target
from tools.bench_report import write_report
from tools.benchmarks import batch_rows_allowed
from tools.ci_budget import Budget
from tools.locks import NAME_PLACEHOLDER, lock_path, to_template
from tools.questionnaire_doc import DOC_PATH, render_reference
from tools.sample_data import write_samples
from tools.variants import ROOT, load_variants

LOCK_SNIPPET = """version = 1

[[package]]
name = "idna"
version = "3.20"

[[package]]
name = "my-pilot"
version = "0.1.0"
source = { editable = "." }
dependencies = [{ name = "idna" }]
"""


def test_lock_template_replaces_only_the_projects_own_entry() -> None:
    templated = to_template(LOCK_SNIPPET, "my-pilot")
    assert f'name = "{NAME_PLACEHOLDER}"' in templated
    assert 'name = "idna"' in templated
    assert "my-pilot" not in templated


def test_lock_template_refuses_a_lock_without_the_project() -> None:
    with pytest.raises(ValueError, match="expected one package entry"):
        to_template(LOCK_SNIPPET, "other-name")


def test_lock_template_refuses_jinja_syntax() -> None:
    with pytest.raises(ValueError, match="Jinja"):
        to_template(LOCK_SNIPPET + '# "{{ x }}"\n', "my-pilot")


def test_every_dependency_set_has_a_committed_lock_synced_and_tested_in_ci(render_variant) -> None:
    """CI syncs the lock of each "ci" and "pipeline" variant and runs its project's own tests."""
    sets_by_variant = {variant.name: render_variant(variant)[1]["dependency_set"] for variant in load_variants()}
    tested = [variant for variant in load_variants() if {"ci", "pipeline"} & set(variant.tags)]
    ci_sets = {sets_by_variant[variant.name] for variant in tested}
    assert set(sets_by_variant.values()) == ci_sets
    for dependency_set in ci_sets:
        assert NAME_PLACEHOLDER in lock_path(dependency_set).read_text()


def test_sample_data_is_reproducible_from_its_seed(tmp_path: Path) -> None:
    for written in write_samples(tmp_path):
        committed = ROOT / "includes" / "sample_data" / written.relative_to(tmp_path)
        assert written.read_bytes() == committed.read_bytes(), f"{committed.name} is stale: run `nox -s sample-data`"


def test_questionnaire_reference_is_current() -> None:
    assert DOC_PATH.read_text(encoding="utf-8") == render_reference(), (
        "docs/questionnaire.md is stale: run `uv run python -m tools.questionnaire_doc`"
    )


def test_benchmarks_name_the_package_the_project_was_rendered_with(tmp_path: Path) -> None:
    (tmp_path / target.ANSWERS_FILE).write_text("_commit: v1\npackage_name: delivery_eta\n")
    assert target.package_name(tmp_path) == "delivery_eta"


def test_benchmarks_refuse_a_folder_that_is_no_generated_project(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"no \.copier-answers\.yml"):
        target.enter_project(tmp_path)


BENCH_RESULTS = {
    "machine": {"python": "3.11.7", "cpus": "2"},
    "render": {"shipshape_render_s": 0.9, "copier_floor_s": 0.6, "ratio": 1.5},
    "first_green_bytecode_cached": {"render": 1.0, "dvc repro": 7.0, "pytest (fast tier)": 12.0, "total": 25.0},
    "first_green_no_bytecode": {"render": 1.2, "dvc repro": 11.0, "pytest (fast tier)": 18.0, "total": 38.2},
    "serve": "# Serving benchmark\n\n| case | server |\n|---|---|\n| /predict 1 row, c=16 | LitServe |\n",
    "ab_timeout": {
        "a-bentoml-timeout": "# Serving benchmark\n\n| /predict | 16 | BentoML | 499 |\n",
        "b-request-timeout": "# Serving benchmark\n\n| /predict | 16 | BentoML | 531 |\n",
    },
    "monitor": "statistics 1M x 20: 0.47 s\n",
}


def test_benchmark_page_states_each_figure_against_its_goal(tmp_path: Path) -> None:
    page = write_report(BENCH_RESULTS, tmp_path).read_text()
    assert "**1.50x** | ≤ 1.3x: misses the goal" in page
    assert "| dvc repro | 7.0 s (goal ≤ 10 s: meets the goal) | 11.0 s (goal ≤ 10 s: misses the goal) |" in page
    assert (
        "| pytest (fast tier) | 12.0 s (goal ≤ 10 s: misses the goal) | 18.0 s (goal ≤ 20 s: meets the goal) |" in page
    )
    assert (
        "| **total** | 25.0 s (goal ≤ 30 s: meets the goal) | 38.2 s |" in page
    )  # no first-green goal without bytecode
    assert "25.0 s; ≤ 30 s: meets the goal; ≤ 20 s (beyond): misses the goal." in page
    assert "| render | 1.0 s | 1.2 s |" in page
    assert "## Serving benchmark" not in page  # the serve report's title is dropped, its headings demoted
    assert "| /predict 1 row, c=16 | LitServe |" in page
    assert page.index("BentoML | 499") < page.index("BentoML | 531")  # A before B, each under its side's heading
    assert "### A: BentoML's `TimeoutMiddleware` put back" in page
    assert "statistics 1M x 20: 0.47 s" in page
    assert "| python | 3.11.7 |" in page


def test_benchmark_plot_has_one_bar_per_run_and_step(tmp_path: Path) -> None:
    write_report(BENCH_RESULTS, tmp_path)
    svg = (tmp_path / "benchmarks" / "first-green.svg").read_text()
    assert svg.count("<rect") == 2 * 3 + 3  # three steps in each of two runs, plus the legend
    assert "goal 30 s" in svg
    assert "beyond 20 s" in svg


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """`benchmarks/serve.py`, imported as the benchmark runs it: with its own folder on the path."""
    monkeypatch.syspath_prepend(str(target.BENCHMARKS_DIR))
    return importlib.import_module("serve")


def run_result(serve: ModuleType, app: str, case: str, **measured: float) -> Any:
    """A load run of `case` ("<endpoint> <rows> <connections>") with the figures that matter to a test."""
    endpoint, rows, connections = case.split()
    figures = {"requests": 1000, "p50_ms": 5.0, "p99_ms": 10.0, "max_ms": 20.0, "server_cpu_ms": 5.0, **measured}
    return serve.Result(
        app=app,
        case=case,
        endpoint=endpoint,
        connections=int(connections),
        rows_per_request=int(rows),
        seconds=10.0,
        stalls=0,
        errors=0,
        rss_mb=200.0,
        raw=f"{app}.csv.gz",
        **figures,
    )


def test_serving_ratios_compare_the_service_with_the_best_peer_doing_its_work(serve: ModuleType) -> None:
    case = "/predict 1 16"
    results = [
        run_result(serve, "bentoml", case, requests=4000, p99_ms=22.0, server_cpu_ms=1.0),
        run_result(serve, "fastapi", case, requests=1000, p99_ms=20.0, server_cpu_ms=5.0),
        run_result(serve, "litserve", case, requests=5000, p99_ms=30.0, server_cpu_ms=2.0),
        run_result(serve, "litserve-bare", case, requests=9000, p99_ms=1.0, server_cpu_ms=0.5),  # reference only
    ]
    row = serve.ratio_table(results)[2]
    assert "| LitServe 500 req/s | 0.80x |" in row  # throughput against the fastest, not the bare one
    assert "| FastAPI 20.0 ms | 1.10x |" in row  # p99 against the lowest
    assert "| LitServe 2.00 ms | 0.50x |" in row
    assert row.endswith("| **missed** |")  # 0.80x < 1.0x, though p99 is within 1.1x
    results[0] = run_result(serve, "bentoml", case, requests=5000, p99_ms=22.0)
    assert serve.ratio_table(results)[2].endswith("| met |")


def test_serving_goals_hold_the_service_to_the_issue_figures(serve: ModuleType) -> None:
    results = [
        run_result(serve, "bentoml", "/predict 1 1", server_cpu_ms=2.5, p99_ms=9.0),
        run_result(serve, "bentoml", "/predict_batch 32 16", requests=6250),  # 625 req/s x 32 rows
        run_result(serve, "fastapi", "/predict 1 1", server_cpu_ms=1.0, p99_ms=1.0),  # a peer: no goal
    ]
    assert serve.goals_table(results)[2:] == [
        "| CPU per request, 1 row, c=1 | 2.50 ms | ≤ 2 ms | **missed** |",
        "| p99, 1 row, c=1 | 9.0 ms | ≤ 10 ms | met |",
        "| rows/s, 32-row requests, c=16 | 20,000 | ≥ 20,000 rows/s | met |",
    ]


def test_serving_stalls_are_not_counted_where_every_request_queues(serve: ModuleType) -> None:
    queued = run_result(serve, "fastapi", "/predict 1 16", requests=2000)  # 16 / 200 req/s = 80 ms in the server
    flowing = run_result(serve, "bentoml", "/predict 1 16", requests=8000)  # 20 ms
    assert (queued.queued, flowing.queued) == (True, False)
    assert "| 0 | 0 | 5.00 |" not in serve.results_table([queued])[2]  # stalls shown as queued, not 0
    assert "| 0 | 0 | 5.00 |" in serve.results_table([flowing])[2]


def test_serving_soak_splits_its_rate_over_its_connections_on_the_client_cpus(serve: ModuleType) -> None:
    soak = serve.Case("/predict", 1, 4, rate=100.0)
    command = serve.hey_command(serve.Load(soak, Path("body.json"), 3, 60, "", "0"), "http://127.0.0.1:1")
    assert command[:3] == ["taskset", "-c", "0"]
    assert command[command.index("-q") + 1] == "25"
    assert command[command.index("-z") + 1] == "63s"
    assert "-q" not in serve.hey_command(serve.Load(serve.Case("/predict", 1, 4), Path("b"), 3, 10, "", "0"), "u")


def test_serving_cpu_sets_split_the_machine_between_servers_and_load(serve: ModuleType) -> None:
    assert serve.split_cpus(2) == ("1", "0")
    assert serve.split_cpus(8) == ("4-7", "0-3")
    assert serve.cpu_set("0,2-3") == {0, 2, 3}


def test_batch_limit_is_raised_for_the_benchmark_and_put_back(tmp_path: Path) -> None:
    config = tmp_path / "ml-project.yaml"
    original = "service:\n  max_batch_rows: 256  # bounds the work\n  max_body_bytes: 1048576\n"
    config.write_text(original)
    with batch_rows_allowed(tmp_path, 1000):
        assert "  max_batch_rows: 1000  # bounds the work\n" in config.read_text()
    assert config.read_text() == original


def test_ci_budget_sums_test_time_per_tier_and_variant() -> None:
    budget = Budget(["binary-defaults", "multiclass", "multiclass-sklearn"])
    budget.add("tests/test_generated.py::test_own_fast_tier_passes[multiclass-sklearn]", ["slow"], 120.0)
    budget.add("tests/test_generated.py::test_own_fast_tier_passes[multiclass]", ["slow"], 60.0)
    budget.add("tests/test_update.py::test_update_keeps_edits[multiclass]", ["update", "slow"], 30.0)
    budget.add("tests/test_render.py::test_exact_file_set[binary-defaults]", [], 6.0)
    budget.add("tests/test_docs.py::test_the_site_builds_in_strict_mode", [], 12.0)
    assert budget.table() == [
        "| variant | fast | slow | update | total |",
        "|---|---:|---:|---:|---:|",
        "| (all variants' files) | 0.2 | 0.0 | 0.0 | 0.2 |",
        "| binary-defaults | 0.1 | 0.0 | 0.0 | 0.1 |",
        "| multiclass | 0.0 | 1.0 | 0.5 | 1.5 |",
        "| multiclass-sklearn | 0.0 | 2.0 | 0.0 | 2.0 |",
        "| **total** | 0.3 | 3.0 | 0.5 | 3.8 |",
    ]
