"""Snippets of generated files in the docs, taken from a real render so they cannot go stale.

A snippet is an HTML comment naming a variant, a file of its render and optionally a line
range, followed by a fenced code block holding those lines:

    <!-- snippet: binary-defaults ml-project.yaml 24-29 -->
    ```yaml
    ...
    ```

`uv run python -m tools.doc_snippets` renders the variants the docs name and rewrites every
block; the template's tests fail when a block differs from a fresh render.
"""

from __future__ import annotations

import re
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from tools.variants import ROOT, render, variant_named

DOCS_DIR = ROOT / "docs"
SNIPPET = re.compile(
    r"<!-- snippet: (?P<variant>[\w-]+) (?P<path>\S+?)(?: (?P<start>\d+)-(?P<end>\d+))? -->\n"
    r"(?P<fence>```[^\n]*)\n(?P<body>.*?)^```$",
    re.DOTALL | re.MULTILINE,
)


@dataclass(frozen=True)
class Snippet:
    """One snippet in a doc: where its text comes from, and the text the doc holds now."""

    doc: Path
    variant: str
    path: str
    start: int | None
    end: int | None
    body: str

    @classmethod
    def from_match(cls, doc: Path, match: re.Match[str]) -> Snippet:
        start, end = (int(match[name]) if match[name] else None for name in ("start", "end"))
        return cls(doc, match["variant"], match["path"], start, end, match["body"])

    @property
    def source(self) -> str:
        lines = f" {self.start}-{self.end}" if self.start else ""
        return f"{self.variant} {self.path}{lines}"

    def expected(self, project: Path) -> str:
        """The lines this snippet should hold, from the variant's render in `project`."""
        file = project / self.path
        if not file.is_file():
            raise ValueError(f"{self.doc.name}: snippet `{self.source}`: the render has no {self.path}")
        lines = file.read_text(encoding="utf-8").splitlines(keepends=True)
        if self.start is None or self.end is None:
            return "".join(lines)
        if not 1 <= self.start <= self.end <= len(lines):
            raise ValueError(f"{self.doc.name}: snippet `{self.source}`: {self.path} has {len(lines)} lines")
        return "".join(lines[self.start - 1 : self.end])


def snippets_in(doc: Path) -> list[Snippet]:
    """Every snippet in one Markdown file."""
    return [Snippet.from_match(doc, match) for match in SNIPPET.finditer(doc.read_text(encoding="utf-8"))]


def all_snippets(docs_dir: Path = DOCS_DIR) -> list[Snippet]:
    return [snippet for doc in sorted(docs_dir.rglob("*.md")) for snippet in snippets_in(doc)]


def rewrite(doc: Path, project_of: Callable[[str], Path]) -> bool:
    """Replace every snippet body in `doc` with the render's lines; True if anything changed."""
    text = doc.read_text(encoding="utf-8")

    def fresh(match: re.Match[str]) -> str:
        start, end = match["start"], match["end"]
        snippet = Snippet(
            doc, match["variant"], match["path"], int(start) if start else None, int(end) if end else None, ""
        )
        body = snippet.expected(project_of(snippet.variant))
        header = match.group(0)[: match.start("body") - match.start()]
        return f"{header}{body}```"

    updated = SNIPPET.sub(fresh, text)
    if updated != text:
        doc.write_text(updated, encoding="utf-8")
    return updated != text


def render_all(variants: Iterable[str], folder: Path) -> dict[str, Path]:
    """Render each named variant once into `folder`."""
    projects = {}
    for name in sorted(set(variants)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DirtyLocalWarning: rendering uncommitted work is the point
            render(variant_named(name), folder / name)
        projects[name] = folder / name
    return projects


def main() -> int:
    snippets = all_snippets()
    with tempfile.TemporaryDirectory(prefix="shipshape-snippets-") as scratch:
        projects = render_all((snippet.variant for snippet in snippets), Path(scratch))
        changed = [doc for doc in sorted({s.doc for s in snippets}) if rewrite(doc, projects.__getitem__)]
    for doc in changed:
        print(f"updated {doc.relative_to(ROOT)}")
    print(f"{len(snippets)} snippet(s) checked, {len(changed)} file(s) updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
