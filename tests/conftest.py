"""Fixtures for the template's tests: one render per variant, shared by every fast test."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from tools.variants import Variant, load_variants, render

VARIANTS = load_variants()


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
