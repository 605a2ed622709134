"""The questionnaire: help on every question, validators that reject bad answers clearly,
and a variant matrix that exercises every choice and every free-text question."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import yaml

from tools.variants import ROOT, Variant, load_variants, render

QUESTIONS = {
    name: spec
    for name, spec in yaml.safe_load((ROOT / "copier.yml").read_text(encoding="utf-8")).items()
    if not name.startswith("_")
}
ASKED = {name: spec for name, spec in QUESTIONS.items() if spec.get("when") is not False}
FREE_TEXT = [name for name, spec in ASKED.items() if spec.get("type") == "str" and "choices" not in spec]


def choice_values(spec: dict) -> list:
    choices = spec["choices"]
    return list(choices.values()) if isinstance(choices, dict) else list(choices)


def rejection(tmp_path: Path, **answers: str) -> str:
    """Render with `answers`; return copier's validation message (the test fails if it renders)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=r"Validation error|Invalid choice") as error:
            render(Variant("bad-answer", answers), tmp_path / "project")
    return str(error.value)


def test_every_asked_question_has_help() -> None:
    assert [name for name, spec in ASKED.items() if not str(spec.get("help", "")).strip()] == []


def test_every_free_text_question_has_a_validator() -> None:
    assert [name for name in FREE_TEXT if "validator" not in ASKED[name]] == []


@pytest.mark.parametrize("question", [name for name, spec in ASKED.items() if "choices" in spec])
def test_every_choice_appears_in_some_variant(question: str) -> None:
    used = {variant.data.get(question, ASKED[question]["default"]) for variant in load_variants()}
    assert set(choice_values(ASKED[question])) - used == set()


@pytest.mark.parametrize("question", FREE_TEXT)
def test_every_free_text_question_has_a_non_default_value_in_some_variant(question: str) -> None:
    assert any(question in variant.data for variant in load_variants())


def test_problem_types_are_exactly_the_supported_three() -> None:
    assert choice_values(ASKED["problem_type"]) == [
        "binary_classification",
        "multiclass_classification",
        "regression",
    ]


def test_variant_names_and_tags_are_well_formed() -> None:
    variants = load_variants()
    assert len({variant.name for variant in variants}) == len(variants)
    assert {tag for variant in variants for tag in variant.tags} <= {"ci", "default", "render"}
    assert [variant.name for variant in variants if "default" in variant.tags] == ["binary-defaults"]
    assert all(set(variant.data) <= ASKED.keys() for variant in variants)


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"project_name": "   "}, "cannot be empty"),
        ({"project_name": "x" * 81}, "80 characters"),
        ({"project_name": "Two\nlines"}, "single line"),
        ({"project_name": "1234"}, "at least one letter"),
        ({"package_name": "2fast"}, "starting with a letter"),
        ({"package_name": "class"}, "Python keyword"),
        ({"package_name": "import"}, "Python keyword"),
        ({"package_name": "sklearn"}, "shadow"),
        ({"package_name": "bentoml"}, "shadow"),
        ({"package_name": "café"}, "lowercase ASCII"),
        ({"package_name": "my/pkg"}, "lowercase ASCII"),
        ({"package_name": ".."}, "lowercase ASCII"),
        ({"package_name": "Upper"}, "lowercase ASCII"),
        ({"package_name": "a" * 41}, "40 characters"),
        ({"description": ""}, "one-sentence description"),
        ({"description": "x" * 201}, "200 characters"),
        ({"description": "line one\nline two"}, "single line"),
        ({"author_name": " "}, "author or team"),
        ({"author_name": "x" * 101}, "100 characters"),
        ({"author_email": "not-an-email"}, "email address"),
        ({"author_email": "two@@example.com"}, "email address"),
        ({"author_email": "spaces in@example.com"}, "email address"),
        ({"python_version": "2.7"}, "python_version"),
        ({"problem_type": "clustering"}, "problem_type"),
        ({"license": "GPL-3.0"}, "license"),
    ],
)
def test_bad_answer_is_rejected_with_a_message_saying_what_to_fix(
    answers: dict[str, str], message: str, tmp_path: Path
) -> None:
    assert message in rejection(tmp_path, **answers)
    assert not (tmp_path / "project" / "pyproject.toml").exists()


def test_package_name_default_is_derived_from_the_project_name(render_variant) -> None:
    variant = next(variant for variant in load_variants() if variant.name == "multiclass")
    _, answers = render_variant(variant)
    assert answers["package_name"] == "renewal_radar"
    assert answers["project_slug"] == "renewal-radar"
