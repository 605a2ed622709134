"""The questionnaire: help on every question, validators that reject bad answers clearly,
and a variant matrix that exercises every choice and every free-text question."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import jinja2
import pytest
import yaml
from jinja2.sandbox import SandboxedEnvironment

from tools.variants import ROOT, Variant, load_variants, render

QUESTIONS = {
    name: spec
    for name, spec in yaml.safe_load((ROOT / "copier.yml").read_text(encoding="utf-8")).items()
    if not name.startswith("_")
}
ASKED = {name: spec for name, spec in QUESTIONS.items() if spec.get("when") is not False}
WITH_CHOICES = [name for name, spec in ASKED.items() if "choices" in spec]
BOOLEANS = [name for name, spec in ASKED.items() if spec.get("type") == "bool"]
OPEN_ANSWERS = [name for name in ASKED if name not in WITH_CHOICES and name not in BOOLEANS]


def choice_values(spec: dict) -> list:
    """Every value a choice question can take; templated choices are the union of their catalog."""
    choices = spec["choices"]
    if isinstance(choices, str):  # e.g. "{{ metric_choices[problem_type] }}"
        catalog = re.search(r"\{\{\s*(\w+)\[", choices).group(1)
        return sorted({value for values in QUESTIONS[catalog]["default"].values() for value in values})
    return list(choices.values()) if isinstance(choices, dict) else list(choices)


@pytest.fixture(scope="module")
def rendered_answers(render_variant) -> list[dict]:
    """The answers every variant renders with, derived defaults included."""
    return [render_variant(variant)[1] for variant in load_variants()]


def rejection(tmp_path: Path, **answers: str) -> str:
    """Render with `answers`; return copier's validation message (the test fails if it renders)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=r"Validation error|Invalid choice") as error:
            render(Variant("bad-answer", answers), tmp_path / "project")
    return str(error.value)


def test_every_asked_question_has_help() -> None:
    assert [name for name, spec in ASKED.items() if not str(spec.get("help", "")).strip()] == []


def test_every_open_question_has_a_validator() -> None:
    assert [name for name in OPEN_ANSWERS if "validator" not in ASKED[name]] == []


@pytest.mark.parametrize("question", WITH_CHOICES)
def test_every_choice_appears_in_some_variant(question: str, rendered_answers: list[dict]) -> None:
    used = {answers[question] for answers in rendered_answers}
    assert set(choice_values(ASKED[question])) - used == set()


@pytest.mark.parametrize("question", BOOLEANS)
def test_both_values_of_every_yes_no_question_appear(question: str, rendered_answers: list[dict]) -> None:
    assert {answers[question] for answers in rendered_answers} == {True, False}


@pytest.mark.parametrize("question", OPEN_ANSWERS)
def test_every_open_question_has_a_non_default_value_in_some_variant(question: str) -> None:
    default = ASKED[question].get("default")
    chosen = [variant.data[question] for variant in load_variants() if question in variant.data]
    assert [value for value in chosen if "{{" in str(default) or value != default]


def test_problem_types_are_exactly_the_supported_three() -> None:
    assert choice_values(ASKED["problem_type"]) == [
        "binary_classification",
        "multiclass_classification",
        "regression",
    ]


def test_variant_names_and_tags_are_well_formed() -> None:
    variants = load_variants()
    assert len({variant.name for variant in variants}) == len(variants)
    assert {tag for variant in variants for tag in variant.tags} <= {
        "canary",
        "ci",
        "default",
        "live",
        "own-fast-tier-only",
        "pipeline",
        "render",
        "s3",
    }
    assert [variant.name for variant in variants if "default" in variant.tags] == ["binary-defaults"]
    # How much of its own slow tier a pipeline variant runs: all of it ("live"), or none.
    for variant in variants:
        tiers = {"live", "own-fast-tier-only"} & set(variant.tags)
        assert len(tiers) <= 1, variant.name
        assert not tiers or "pipeline" in variant.tags, variant.name
        assert "canary" not in variant.tags or "ci" in variant.tags, variant.name
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
        ({"compute": "dask"}, "choose the LightGBM model family for compute=dask"),
        ({"compute": "spark"}, "compute"),
        (
            {"feature_store": "feast", "compute": "dask", "model_family": "lightgbm"},
            "choose compute=local with feature_store=feast",
        ),
        ({"feature_store": "redis"}, "feature_store"),
        ({"license": "GPL-3.0"}, "license"),
        ({"model_owner_name": ""}, "Enter a name"),
        ({"model_owner_name": "x" * 101}, "100 characters"),
        ({"model_owner_email": "owner"}, "email address"),
        ({"business_owner": "  "}, "Enter a name"),
        ({"on_call_contact": ""}, "escalation contact"),
        ({"on_call_contact": "pager\nduty"}, "single line"),
        ({"kpi_name": ""}, "Name the KPI"),
        ({"kpi_measurement": "x" * 301}, "300 characters"),
        ({"kpi_target": " "}, "State the target"),
        ({"kpi_baseline": ""}, "baseline"),
        ({"pilot_exit_criteria": "a\nb"}, "single line"),
        ({"primary_metric": "rmse"}, "primary_metric"),
        ({"problem_type": "regression", "primary_metric": "roc_auc"}, "primary_metric"),
        ({"metric_gate": 1.5}, "between 0 and 1"),
        ({"metric_gate": -0.1}, "between 0 and 1"),
        ({"problem_type": "regression", "metric_gate": 0}, "greater than 0"),
        ({"problem_type": "regression", "primary_metric": "r2", "metric_gate": -2}, "between -1 and 1"),
        ({"false_negative_cost": 0}, "greater than 0"),
        ({"latency_budget_ms": 0}, "positive number"),
        ({"latency_budget_ms": -5}, "positive number"),
        ({"peak_throughput_rps": 0}, "positive number"),
        ({"retraining_trigger": "weekly"}, "retraining_trigger"),
        ({"retraining_schedule": "every monday"}, "five cron fields"),
        ({"retraining_schedule": "0 6 * *"}, "five cron fields"),
        ({"drift_threshold": 0}, "PSI threshold"),
        ({"drift_threshold": 1.5}, "PSI threshold"),
        ({"drift_min_window": 10}, "at least 30 rows"),
        ({"fallback_mode": "retry"}, "fallback_mode"),
        ({"rollback_approver": ""}, "Name the approver"),
        ({"rollback_target_minutes": 0}, "minutes from 1"),
        ({"data_sources": ""}, "Name the data sources"),
        ({"prediction_log_retention_days": 0}, "days"),
        ({"regulatory_review_required": True, "reviewer": "x" * 101}, "100 characters"),
        ({"regulatory_review_required": True, "reviewer": "Priya\nNatarajan"}, "single line"),
    ],
)
def test_bad_answer_is_rejected_with_a_message_saying_what_to_fix(
    answers: dict[str, str], message: str, tmp_path: Path
) -> None:
    assert message in rejection(tmp_path, **answers)
    assert not (tmp_path / "project" / "pyproject.toml").exists()


def test_feast_is_rendered_with_every_model_family_and_only_on_one_machine(rendered_answers: list[dict]) -> None:
    """feature_store=feast works with both model families (each has its own Feast lock), not with Dask."""
    with_feast = [answers for answers in rendered_answers if answers["feature_store"] == "feast"]
    assert {answers["model_family"] for answers in with_feast} == set(choice_values(ASKED["model_family"]))
    assert {answers["dependency_set"] for answers in with_feast} == {"sklearn-feast", "lightgbm-feast"}
    assert {answers["compute"] for answers in with_feast} == {"local"}


def test_package_name_default_is_derived_from_the_project_name(render_variant) -> None:
    variant = next(variant for variant in load_variants() if variant.name == "multiclass")
    _, answers = render_variant(variant)
    assert answers["package_name"] == "renewal_radar"
    assert answers["project_slug"] == "renewal-radar"


# ─── Defaults: `copier update --defaults` never meets a question it cannot answer ────────────
# The scheduled update runs `copier update --trust --defaults`: a question a release adds takes its
# default, rendered from the project's other answers. A question without one stops the update with
# copier's `ValueError: Question "…" is required`; a default its own validator rejects stops it too.
# Checked in the context of every variant's answers, with copier's Jinja (its filters included).

JINJA = SandboxedEnvironment(extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"])
FALSE_WORDS = {"", "n", "no", "f", "false", "off", "0", "none", "null", "~"}  # copier's cast_to_bool


def rendered(value: object, context: dict) -> object:
    """`value` as copier renders a question's setting: strings are Jinja templates, the rest as written."""
    if not isinstance(value, str):
        return value
    with warnings.catch_warnings():  # Jinja's own note on regex escapes such as '\s' in the validators
        warnings.simplefilter("ignore", DeprecationWarning)
        return JINJA.from_string(value).render(context)


def typed(spec: dict, value: object) -> object:
    """A rendered default cast to the question's type, as copier casts it."""
    kind = spec.get("type", "str")
    if kind == "bool":
        return value if isinstance(value, bool) else str(value).strip().lower() not in FALSE_WORDS
    if kind in {"int", "float"}:
        return {"int": int, "float": float}[kind](value)
    if kind in {"yaml", "json"}:
        return yaml.safe_load(value) if isinstance(value, str) else value
    return str(value)


def default_answer(name: str, spec: dict, answers: dict) -> object:
    """The default copier gives `name` in a project whose other answers are `answers`."""
    context = {key: value for key, value in answers.items() if key != name}
    return typed(spec, rendered(spec["default"], context))


def default_problems(name: str, spec: dict, answers: dict) -> str:
    """Why copier could not take `name`'s default in a project with `answers` ("" when it can)."""
    if "default" not in spec:
        return f'no default: `copier update --defaults` stops with Question "{name}" is required'
    context = {key: value for key, value in answers.items() if key != name}
    if "when" in spec and str(rendered(spec["when"], context)).strip().lower() in FALSE_WORDS:
        return ""  # not asked in this project: copier takes no answer
    try:
        default = default_answer(name, spec, answers)
    except (ValueError, TypeError, jinja2.TemplateError) as error:
        return f"the default does not render to a {spec.get('type', 'str')}: {error}"
    if "choices" in spec:
        choices = rendered(spec["choices"], context)
        choices = yaml.safe_load(choices) if isinstance(choices, str) else choices
        values = list(choices.values()) if isinstance(choices, dict) else list(choices)
        if default not in values:
            return f"the default {default!r} is not one of the choices {values}"
    message = str(rendered(spec.get("validator", ""), {**context, name: default})).strip()
    return f"its validator rejects the default {default!r}: {message}" if message else ""


def simulated_answers(variant: Variant) -> dict:
    """Every answer of `variant` as copier works them out, question by question: the variant's own,
    else the default rendered from the answers before it (a default that fails is left out)."""
    answers: dict = {}
    for name, spec in QUESTIONS.items():
        try:
            if name in variant.data:
                answers[name] = typed(spec, variant.data[name])
            elif "default" in spec:
                answers[name] = default_answer(name, spec, answers)
        except (ValueError, TypeError, jinja2.TemplateError):
            continue
    return answers


def test_default_evaluation_agrees_with_copier(render_variant) -> None:
    """The answers worked out here are the ones copier's render of each variant recorded."""
    for variant in load_variants():
        rendered_answers = render_variant(variant)[1]
        simulated = simulated_answers(variant)
        assert {name: simulated.get(name) for name in QUESTIONS if name in rendered_answers} == {
            name: rendered_answers[name] for name in QUESTIONS if name in rendered_answers
        }, variant.name


def test_every_question_has_a_default_its_validator_accepts() -> None:
    problems = {
        name: problem
        for answers in map(simulated_answers, load_variants())
        for name, spec in ASKED.items()
        if (problem := default_problems(name, spec, answers))
    }
    assert problems == {}


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"type": "str", "help": "Team channel"}, 'Question "new_question" is required'),
        ({"type": "int", "default": 0, "validator": "{% if new_question < 1 %}At least 1.{% endif %}"}, "At least 1."),
        ({"type": "str", "choices": ["a", "b"], "default": "c"}, "not one of the choices"),
        ({"type": "float", "default": "{{ 'many' }}"}, "does not render to a float"),
        (
            {
                "type": "str",
                "default": "{{ package_name }}",
                "validator": "{% if '_' in new_question %}No _{% endif %}",
            },
            "No _",
        ),
    ],
    ids=["no-default", "rejected-default", "not-a-choice", "wrong-type", "rejected-derived-default"],
)
def test_a_question_without_a_usable_default_is_caught(spec: dict, problem: str) -> None:
    """What a release adding such a question would do to every project's scheduled update."""
    found = [default_problems("new_question", spec, simulated_answers(variant)) for variant in load_variants()]
    assert any(problem in message for message in found), found
