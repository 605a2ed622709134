"""Move a file a template release renames, before `copier update` renders the new name.

Copier merges a user's edits into files by path. When a release renames a template file, the
old path is deleted and the new one rendered fresh, so the user's edits to the old file would
vanish without a conflict. Run as a `before` migration, this moves the user's file (with `git mv`,
so the move is staged: copier diffs the index) to the new name first; copier then merges the
template's new content into it and surfaces any clash as a conflict.

Usage (from copier.yml, in the project folder):
    python hooks/move_file.py OLD NEW
Paths are relative to the project; `{package_name}` and any other answer in braces are filled
from `.copier-answers.yml` (copier renders answers empty in `before` migrations).

Idempotent: a second run finds the file already moved and says so. It never overwrites or
deletes a file: if both names exist it stops and says how to merge them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ANSWERS_FILE = ".copier-answers.yml"


class MigrationError(Exception):
    """A migration cannot proceed without the user's decision; the message says what to do."""


def fill_answers(pattern: str, project: Path) -> str:
    """`pattern` with `{answer}` placeholders replaced from the project's answers file."""
    answers_path = project / ANSWERS_FILE
    if "{" not in pattern:
        return pattern
    if not answers_path.is_file():
        raise MigrationError(f"{answers_path} is missing: run this migration from the generated project's folder")
    answers = yaml.safe_load(answers_path.read_text(encoding="utf-8")) or {}
    try:
        return pattern.format(**answers)
    except KeyError as missing:
        raise MigrationError(f"{ANSWERS_FILE} has no answer {missing} needed by the path {pattern!r}") from None


def is_tracked(project: Path, relative: str) -> bool:
    """Whether git tracks `relative` in `project` (False outside a git repository)."""
    result = subprocess.run(
        ["git", "ls-files", "--error-unmatch", "--", relative], cwd=project, capture_output=True, check=False
    )
    return result.returncode == 0


def move_file(project: Path, old: str, new: str) -> str:
    """Move `old` to `new` inside `project`; return what happened, in one line."""
    old, new = fill_answers(old, project), fill_answers(new, project)
    source, target = project / old, project / new
    if not source.exists():
        if target.exists():
            return f"{new} is already in place (moved before); nothing to do"
        return f"{old} does not exist (deleted in this project); nothing to move"
    if target.exists():
        raise MigrationError(
            f"both {old} and {new} exist. Merge what you want to keep from {old} into {new}, delete {old}, "
            "commit, and run `copier update` again"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    if is_tracked(project, old):
        subprocess.run(["git", "mv", "--", old, new], cwd=project, check=True, capture_output=True)
    else:
        source.rename(target)
    return f"moved {old} -> {new}, keeping your edits; the update merges the template's changes into it"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: move_file.py OLD NEW  (paths relative to the project)", file=sys.stderr)
        return 2
    release = os.environ.get("VERSION_PEP440_CURRENT") or os.environ.get("VERSION_CURRENT") or "?"
    try:
        outcome = move_file(Path.cwd(), *argv)
    except MigrationError as error:
        print(f"migration {release} failed: {error}", file=sys.stderr)
        return 1
    print(f"migration {release}: {outcome}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
