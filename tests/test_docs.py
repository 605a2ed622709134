"""The documentation site builds strictly, its snippets match a real render, and its traceability table is true."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools.doc_snippets import DOCS_DIR, all_snippets
from tools.variants import ROOT, variant_named

TRACEABILITY = DOCS_DIR / "traceability.md"
DEFAULT_VARIANT = "binary-defaults"
CODE = re.compile(r"`([^`]+)`")


def test_the_site_builds_in_strict_mode(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]


SNIPPETS = all_snippets()


def test_the_docs_carry_snippets() -> None:
    assert SNIPPETS, "no `<!-- snippet: ... -->` blocks found in docs/"


@pytest.mark.parametrize("snippet", SNIPPETS, ids=lambda snippet: f"{snippet.doc.name}:{snippet.source}")
def test_every_snippet_matches_a_fresh_render(snippet, render_variant) -> None:
    project, _ = render_variant(variant_named(snippet.variant))
    assert snippet.body == snippet.expected(project), (
        f"{snippet.doc.name}: snippet `{snippet.source}` is stale: run `uv run python -m tools.doc_snippets`"
    )


def traceability_rows() -> list[list[str]]:
    """The table's body rows, each a list of cells."""
    rows = [line for line in TRACEABILITY.read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def defines(file: Path, test: str) -> bool:
    return re.search(rf"^(async )?def {re.escape(test)}\(", file.read_text(encoding="utf-8"), re.MULTILINE) is not None


def missing_references(cell: str, root: Path, package: str) -> list[str]:
    """Paths and `file::test` references in one table cell that do not exist under `root`."""
    missing = []
    for reference in CODE.findall(cell):
        path, _, test = reference.partition("::")
        file = root / path.replace("<package>", package)
        if not file.is_file() or (test and not defines(file, test)):
            missing.append(reference)
    return missing


def test_the_traceability_table_has_every_failure_cause() -> None:
    causes = {row[0].lower() for row in traceability_rows()}
    for cause in ("skew", "deployed", "owner", "drift", "retraining", "rollback", "latency", "bad input", "log"):
        assert any(cause in text for text in causes), f"no row for {cause!r} in {TRACEABILITY.name}"


def test_every_file_and_test_in_the_traceability_table_exists(render_variant) -> None:
    project, answers = render_variant(variant_named(DEFAULT_VARIANT))
    missing = []
    for cause, answered_by, generated_tests, template_tests in traceability_rows():
        for cell in (answered_by, generated_tests):
            missing += [f"{cause}: {item}" for item in missing_references(cell, project, answers["package_name"])]
        missing += [f"{cause}: {item}" for item in missing_references(template_tests, ROOT, "")]
    assert not missing, f"{TRACEABILITY.name} names what does not exist: {missing}"
