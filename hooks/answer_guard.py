"""Refuse an update whose new answers would delete or re-template files the team still has.

Copier renders the project with the old answers and with the new ones and applies the difference:
a file only the old answers render (`src/<old package>/...`, `deploy/` when `kubernetes` goes off)
is deleted, the team's edits with it; a team-owned file whose template an answer picks
(`contract.py` per problem type, `estimator.py` per model family) is kept as it is, so the change
silently does not reach it. This guard works out those files from the template's file names and
refuses while any of them is still in the project, saying what to run: `git mv` the package to its
new name, or `git rm` what the change drops, commit, and update again; copier then merges the
template's changes into the moved files and the edits come along.

Run by copier as the first `before` migration of every update, with `_copier_conf.data` (the
`--data` answers; copier renders the answers themselves empty in `before` migrations). An answer
changed at the prompt arrives only after the migrations: the last `_exclude` entry in copier.yml
refuses those of `file_moving_answers` (tests/test_answer_changes.py keeps that list complete).

Usage (in the project's folder): python answer_guard.py DATA_JSON [ANSWERS_FILE]
"""

from __future__ import annotations

import fnmatch
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import yaml

TEMPLATE_ROOT = Path(__file__).resolve().parents[1]
ANSWERS_FILE = ".copier-answers.yml"
TRUE_WORDS = {"y", "yes", "t", "true", "on", "1"}  # copier's spellings of a true yes/no answer
COPIER_SKIPS = {"__pycache__", ".DS_Store", ".git"}  # copier's default exclusions
UPDATE_ONLY = re.compile(r"\{%\s*if _copier_operation == 'update'\s*%\}(.*?)\{%\s*endif\s*%\}")
HOW_TO = 'the template\'s docs/updating.md, "Change an answer that moves files"'


class Template:
    """The template's questions, file names and update-time exclusions, read from copier.yml."""

    def __init__(self, root: Path = TEMPLATE_ROOT) -> None:
        self.settings = yaml.safe_load((root / "copier.yml").read_text(encoding="utf-8"))
        self.files_root = root / self.settings.get("_subdirectory", "")
        self.suffix = self.settings.get("_templates_suffix", ".jinja")
        # Copier's filters (a dependency of copier, so in its interpreter); file names, not HTML: unescaped.
        environment = jinja2.Environment(  # noqa: S701
            undefined=jinja2.StrictUndefined, extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"]
        )
        self.files: list[tuple[str, list[jinja2.Template]]] = []
        for source in sorted(self.files_root.rglob("*")):
            relative = source.relative_to(self.files_root).as_posix()
            if source.is_file() and not COPIER_SKIPS & set(relative.split("/")) and not relative.endswith(".pyc"):
                parts = relative.removesuffix(self.suffix).split("/")
                self.files.append((relative, [environment.from_string(part) for part in parts]))
        self.kept_on_update = [
            match.group(1) for entry in self.settings.get("_exclude", []) if (match := UPDATE_ONLY.fullmatch(entry))
        ]

    def typed(self, name: str, value: Any) -> Any:
        """`value` as copier reads an answer to `name` given on the command line (always a string there)."""
        kind = self.settings.get(name, {}).get("type", "str") if isinstance(self.settings.get(name), dict) else "str"
        if not isinstance(value, str) or kind == "str":
            return value
        if kind == "bool":
            return value.strip().lower() in TRUE_WORDS
        return {"int": int, "float": float}.get(kind, yaml.safe_load)(value)

    def source_map(self, answers: Mapping[str, Any], answers_file: str = ANSWERS_FILE) -> dict[str, str]:
        """Rendered path -> the template file it comes from, named as copier names them: the suffix
        dropped, each path part rendered with the answers, a part that renders empty skipping the file."""
        context = {**answers, "_copier_conf": {"answers_file": answers_file}}
        files = {}
        for relative, parts in self.files:
            rendered = [part.render(context) for part in parts]
            if all(rendered):
                files["/".join(rendered)] = relative
        return files

    def moved_files(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, str | None]:
        """Files an update from answers `old` to `new` deletes or re-templates -> their new path, if renamed."""
        before, after = self.source_map(old), self.source_map(new)
        new_path = {source: path for path, source in after.items()}
        return {
            path: new_path.get(source)
            for path, source in before.items()
            if after.get(path) != source and not any(fnmatch.fnmatch(path, kept) for kept in self.kept_on_update)
        }


def changed_answers(previous: Mapping[str, Any], data: Mapping[str, Any], template: Template) -> dict[str, Any]:
    """The answers in `data` that differ from `previous`, typed."""
    typed = {name: template.typed(name, value) for name, value in data.items()}
    return {name: value for name, value in typed.items() if name in previous and previous[name] != value}


def common_move(moves: Mapping[str, str | None]) -> tuple[str, str] | None:
    """The one folder move (`src/old`, `src/new`) that accounts for every renamed file, if there is one."""
    folders = set()
    for old, new in moves.items():
        if new is None:
            return None
        old_parts, new_parts = old.split("/"), new.split("/")
        while old_parts and new_parts and old_parts[-1] == new_parts[-1]:
            old_parts, new_parts = old_parts[:-1], new_parts[:-1]
        folders.add(("/".join(old_parts), "/".join(new_parts)))
    return folders.pop() if len(folders) == 1 and all(all(folder) for folder in folders) else None


def refusal(project: Path, previous: Mapping[str, Any], data: Mapping[str, Any], template: Template) -> str | None:
    """The one line refusing the update, or None when no file the team has would be deleted or re-templated."""
    changes = changed_answers(previous, data, template)
    if not changes:
        return None
    moves = template.moved_files(previous, {**previous, **changes})
    present = {path: new for path, new in sorted(moves.items()) if (project / path).is_file()}
    if not present:
        return None
    changed = ", ".join(f"{name} ({previous[name]} -> {value})" for name, value in changes.items())
    examples = ", ".join(list(present)[:2]) + (", ..." if len(present) > 2 else "")
    folder_move = common_move(present)
    advice = (
        f"run `git mv {folder_move[0]} {folder_move[1]}`, commit, and run the same update again: it merges the "
        "template's changes into your moved files"
        if folder_move
        else "move what you want to keep out of them, `git rm` them, commit, and run the same update again"
    )
    return (
        f"update refused, nothing changed: {changed} would delete or re-template {len(present)} file(s) you still "
        f"have ({examples}), your edits with them. To make the change, {advice} ({HOW_TO})."
    )


def main(argv: list[str]) -> int:
    if len(argv) not in {1, 2}:
        print("usage: answer_guard.py DATA_JSON [ANSWERS_FILE]  (run in the project's folder)", file=sys.stderr)
        return 2
    project = Path.cwd()
    answers_path = project / (argv[1] if len(argv) == 2 else ANSWERS_FILE)
    if not answers_path.is_file():
        print(f"answer guard: {answers_path} is missing; run copier update in the project's folder", file=sys.stderr)
        return 1
    previous = yaml.safe_load(answers_path.read_text(encoding="utf-8")) or {}
    message = refusal(project, previous, json.loads(argv[0]), Template())
    if message:
        print(message, file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
