"""Fixtures for the template's tests: one render per variant, shared by every fast test."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from tools.ci_budget import Budget
from tools.variants import Variant, load_variants, render

VARIANTS = load_variants()
BUDGET = Budget(variant.name for variant in VARIANTS)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--variants",
        default="tag:ci",
        help="variants whose generated projects the slow tier checks: tag:<tag>, all, or comma-separated names",
    )
    parser.addoption(
        "--pipeline-variants",
        default="tag:pipeline",
        help="variants whose pipeline the slow tier reproduces in a fresh clone (same forms as --variants)",
    )
    parser.addoption(
        "--s3-variants",
        default="tag:s3",
        help="variants pushed to and pulled from a local S3 server (those tagged s3 among the selection)",
    )


def selected_variants(selection: str) -> list[Variant]:
    """The variants named by a `--variants` value."""
    if selection == "all":
        return VARIANTS
    if selection.startswith("tag:"):
        return [variant for variant in VARIANTS if selection.removeprefix("tag:") in variant.tags]
    names = selection.split(",")
    unknown = set(names) - {variant.name for variant in VARIANTS}
    if unknown:
        raise pytest.UsageError(f"unknown variant(s) {sorted(unknown)} in --variants; see variants.toml")
    return [variant for variant in VARIANTS if variant.name in names]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize the slow tier's `generated_variant` over the selected variants."""
    if "generated_variant" in metafunc.fixturenames:
        # Variants tagged "s3" need a local S3 server: tests/test_remotes.py runs them with one.
        selection = selected_variants(metafunc.config.getoption("--variants"))
        chosen = [variant for variant in selection if "s3" not in variant.tags]
        metafunc.parametrize("generated_variant", chosen, ids=[variant.name for variant in chosen], scope="module")
    if "pipeline_variant" in metafunc.fixturenames:
        chosen = selected_variants(metafunc.config.getoption("--pipeline-variants"))
        metafunc.parametrize("pipeline_variant", chosen, ids=[variant.name for variant in chosen])
    if "s3_variant" in metafunc.fixturenames:
        selection = selected_variants(metafunc.config.getoption("--s3-variants"))
        chosen = [variant for variant in selection if "s3" in variant.tags]
        metafunc.parametrize("s3_variant", chosen, ids=[variant.name for variant in chosen], scope="module")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group tests for xdist (`--dist loadgroup`): by file, and by variant within a per-variant file.

    A generated variant's tests share its module-scoped project, so they stay together; different
    variants' slow checks (minutes each) can then run on both workers instead of one.
    """
    for item in items:
        group = item.nodeid.partition("::")[0]
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec else {}
        variant = params.get("generated_variant", params.get("pipeline_variant"))
        if isinstance(variant, Variant):
            group += f"[{variant.name}]"
        item.add_marker(pytest.mark.xdist_group(group))


def pytest_collection_finish(session: pytest.Session) -> None:
    """A run that selects no test is a failure: an empty suite proves nothing."""
    if not session.items:
        raise pytest.UsageError("no tests were collected; check the selection (-m/-k) and tests/")


@pytest.fixture(scope="session")
def render_variant(tmp_path_factory: pytest.TempPathFactory):
    """Render a variant once per session (into its own folder) and return the project path."""
    cache: dict[str, tuple[Path, dict]] = {}

    def _render(variant: Variant) -> tuple[Path, dict]:
        if variant.name not in cache:
            destination = tmp_path_factory.mktemp("render") / variant.name
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # DirtyLocalWarning: rendering uncommitted work is the point
                answers = render(variant, destination)
            cache[variant.name] = (destination, answers)
        return cache[variant.name]

    return _render


@pytest.fixture(params=VARIANTS, ids=lambda variant: variant.name)
def variant(request: pytest.FixtureRequest) -> Variant:
    return request.param


@pytest.fixture
def project(variant: Variant, render_variant) -> Path:
    """The rendered project of the current variant."""
    return render_variant(variant)[0]


@pytest.fixture
def answers(variant: Variant, render_variant) -> dict:
    """Every answer of the current variant's render, computed values included."""
    return render_variant(variant)[1]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count each test phase's time towards its tier and variant (reports reach the controller under xdist)."""
    BUDGET.add(report.nodeid, report.keywords, report.duration)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print where the run's test time went, in minutes per tier and variant (docs/maintainers.md budgets it)."""
    terminalreporter.write_sep("-", "test minutes per tier and variant (two workers share the wall clock)")
    for line in BUDGET.table():
        terminalreporter.write_line(line)
