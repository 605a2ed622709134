"""The documentation site builds strictly, its snippets match a real render, and its traceability table is true.

Inside every generated project, each doc a file refers to exists.
"""

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
    for cause in (
        "skew",
        "deployed",
        "owner",
        "drift",
        "retraining",
        "rollback",
        "latency",
        "bad input",
        "log",
        "staged rollout",
        "review",
    ):
        assert any(cause in text for text in causes), f"no row for {cause!r} in {TRACEABILITY.name}"


def test_every_file_and_test_in_the_traceability_table_exists(render_variant) -> None:
    project, answers = render_variant(variant_named(DEFAULT_VARIANT))
    missing = []
    for cause, answered_by, generated_tests, template_tests in traceability_rows():
        for cell in (answered_by, generated_tests):
            missing += [f"{cause}: {item}" for item in missing_references(cell, project, answers["package_name"])]
        missing += [f"{cause}: {item}" for item in missing_references(template_tests, ROOT, "")]
    assert not missing, f"{TRACEABILITY.name} names what does not exist: {missing}"


# A doc a generated file names: a relative path ending in `.md`, not part of a URL, an absolute
# path or a shell variable's (`$RUNNER_TEMP/body.md`).
DOC_PATH = re.compile(r"(?<![\w$/.{}-])((?:[\w.-]+/)*[\w.-]+\.md)\b")
# A Markdown link's target, e.g. `[the runbook](docs/RUNBOOK.md#rollback)`.
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
URL_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
# Docs of the Shipshape repository itself, named as such: "the template's docs/updating.md".
TEMPLATE_REPOSITORY_DOC = re.compile(r"(?:template's|Shipshape's|Shipshape repository's)[\s#`]*$")
# A verbatim copy of an older release's file, kept as test data: its comments are history.
FROZEN_FILES = ("tests/previous_release/",)


def generated_text_files(project: Path) -> list[Path]:
    """Every text file of a render, outside .git and the virtual environment."""
    files = []
    for path in sorted(project.rglob("*")):
        relative = path.relative_to(project).as_posix()
        if not path.is_file() or relative.startswith((".git/", ".venv/", *FROZEN_FILES)):
            continue
        try:
            path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        files.append(path)
    return files


def doc_references(text: str, markdown: bool) -> list[tuple[str, bool]]:
    """Each doc path `text` names, with True when it is a Markdown link (resolved from the file's folder only)."""
    references = []
    for match in DOC_PATH.finditer(text):
        if not TEMPLATE_REPOSITORY_DOC.search(text[max(0, match.start() - 40) : match.start()]):
            references.append((match[1], False))
    if markdown:
        for target in MARKDOWN_LINK.findall(text):
            path = target.split("#", 1)[0]
            if path and not URL_SCHEME.match(path):
                references.append((path, True))
    return references


def missing_docs(project: Path) -> list[str]:
    """`file: reference` for every doc reference in the render that names no file.

    A path in a Markdown link resolves from the linking file's folder, as Markdown does; a path
    in text from the project root or from the file's folder (`RUNBOOK.md` beside `OWNERSHIP.md`).
    """
    missing = []
    for file in generated_text_files(project):
        text = file.read_text(encoding="utf-8")
        for reference, is_link in doc_references(text, markdown=file.suffix == ".md"):
            bases = (file.parent,) if is_link else (project, file.parent)
            if not any((base / reference).is_file() for base in bases):
                missing.append(f"{file.relative_to(project).as_posix()}: {reference}")
    return sorted(set(missing))


def test_doc_references_find_paths_links_and_skip_the_template_repositorys_docs() -> None:
    text = (
        "See docs/monitoring.md and [the runbook](RUNBOOK.md#rollback), not https://x.example/a/b.md,\n"
        "$RUNNER_TEMP/body.md, /abs/c.md or the template's `docs/updating.md` (Shipshape's\n"
        "benchmarks/README.md)."
    )
    assert doc_references(text, markdown=True) == [
        ("docs/monitoring.md", False),
        ("RUNBOOK.md", False),
        ("RUNBOOK.md", True),
    ]


def test_every_doc_a_generated_file_names_exists(project: Path) -> None:
    missing = missing_docs(project)
    assert not missing, f"generated files name docs the project does not have: {missing}"
