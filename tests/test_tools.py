"""Maintainer tools: the committed locks, sample data and docs are what the tools produce."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.bench_report import write_report
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


def test_every_dependency_set_has_a_committed_lock_tested_by_a_ci_variant(render_variant) -> None:
    sets_by_variant = {variant.name: render_variant(variant)[1]["dependency_set"] for variant in load_variants()}
    ci_sets = {sets_by_variant[variant.name] for variant in load_variants() if "ci" in variant.tags}
    assert set(sets_by_variant.values()) == ci_sets
    for dependency_set in ci_sets:
        assert NAME_PLACEHOLDER in lock_path(dependency_set).read_text()


def test_sample_data_is_reproducible_from_its_seed(tmp_path: Path) -> None:
    for written in write_samples(tmp_path):
        committed = ROOT / "includes" / "sample_data" / written.name
        assert written.read_bytes() == committed.read_bytes(), f"{committed.name} is stale: run `nox -s sample-data`"


def test_questionnaire_reference_is_current() -> None:
    assert DOC_PATH.read_text(encoding="utf-8") == render_reference(), (
        "docs/questionnaire.md is stale: run `uv run python -m tools.questionnaire_doc`"
    )


BENCH_RESULTS = {
    "machine": {"python": "3.11.7", "cpus": "2"},
    "render": {"shipshape_render_s": 0.9, "copier_floor_s": 0.6, "ratio": 1.5},
    "first_green_bytecode_cached": {"render": 1.0, "dvc repro": 12.0, "pytest": 5.0, "total": 18.0},
    "first_green_no_bytecode": {"render": 1.2, "dvc repro": 20.0, "pytest": 9.0, "total": 30.2},
    "serve": "# Serving benchmark\n\n| endpoint | conns |\n|---|---:|\n| /predict | 16 |\n",
    "monitor": "statistics 1M x 20: 0.47 s\n",
}


def test_benchmark_page_states_each_figure_against_its_goal(tmp_path: Path) -> None:
    page = write_report(BENCH_RESULTS, tmp_path).read_text()
    assert "**1.50x** | ≤ 1.3x: misses the goal" in page
    assert "18.0 s (meets the goal)" in page
    assert "30.2 s (misses the goal)" in page
    assert "## Serving benchmark" not in page  # the serve report's title is dropped, its headings demoted
    assert "| /predict | 16 |" in page
    assert "statistics 1M x 20: 0.47 s" in page
    assert "| python | 3.11.7 |" in page


def test_benchmark_plot_has_one_bar_per_run_and_step(tmp_path: Path) -> None:
    write_report(BENCH_RESULTS, tmp_path)
    svg = (tmp_path / "benchmarks" / "first-green.svg").read_text()
    assert svg.count("<rect") == 2 * 3 + 3  # three steps in each of two runs, plus the legend
    assert "goal 20 s" in svg
