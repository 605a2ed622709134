"""Write docs/questionnaire.md from copier.yml, so the reference cannot drift from the template.

`uv run python -m tools.questionnaire_doc` rewrites the page; a fast test fails when the
committed page differs from what this produces.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tools.variants import ROOT

DOC_PATH = ROOT / "docs" / "questionnaire.md"
HEADER = """# Questionnaire reference

<!-- Generated from copier.yml by `uv run python -m tools.questionnaire_doc`; do not edit by hand. -->

Every question `copier copy` asks, in order. Answers given with `--data` or `--data-file`
pass the same validators as typed ones. Defaults are shown as written in `copier.yml`
(some are derived from earlier answers).

"""


def _cell(value: Any) -> str:
    text = " ".join(str(value).split())
    return text.replace("|", "\\|") if text else "—"


def _asked(when: Any) -> str:
    if when is None:
        return "always"
    condition = str(when).strip().removeprefix("{{").removesuffix("}}").strip()
    return f"when `{_cell(condition)}`"


def _default(value: Any) -> str:
    if value in (None, ""):
        return "—"
    if "{{" in str(value):
        return "derived from earlier answers"
    return f"`{_cell(value)}`"


def _choices(spec: dict[str, Any], questions: dict[str, Any]) -> str:
    choices = spec.get("choices")
    if not choices:
        return "—"
    if isinstance(choices, str):  # looked up in a computed catalog, e.g. metric_choices[problem_type]
        catalog = re.search(r"\{\{\s*(\w+)\[\s*(\w+)", choices)
        by_answer = questions[catalog.group(1)]["default"]
        lines = [f"{key}: {', '.join(f'`{value}`' for value in values)}" for key, values in by_answer.items()]
        return f"by `{catalog.group(2)}`:<br>" + "<br>".join(lines)
    if isinstance(choices, dict):
        return "<br>".join(f"`{value}`: {_cell(label)}" for label, value in choices.items())
    return ", ".join(f"`{choice}`" for choice in choices)


def render_reference(copier_yml: Path = ROOT / "copier.yml") -> str:
    """The Markdown reference for every asked question in `copier_yml`."""
    questions = yaml.safe_load(copier_yml.read_text(encoding="utf-8"))
    rows = [
        "| Question | What to answer | Asked | Default | Choices | Validated |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, spec in questions.items():
        if name.startswith("_") or spec.get("when") is False:
            continue
        validated = "yes" if "validator" in spec or "choices" in spec else "no"
        default = _default(spec.get("default"))
        choices = _choices(spec, questions)
        asked = _asked(spec.get("when"))
        rows.append(f"| `{name}` | {_cell(spec.get('help', ''))} | {asked} | {default} | {choices} | {validated} |")
    return HEADER + "\n".join(rows) + "\n"


if __name__ == "__main__":
    DOC_PATH.write_text(render_reference(), encoding="utf-8")
    print(f"wrote {DOC_PATH.relative_to(ROOT)}")
