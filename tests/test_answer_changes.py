"""Answers that move files: an update that would delete or re-template the team's files is refused.

`copier update --data package_name=new` used to exit 0 after deleting the whole old package, the
team's contract and edits included: copier deletes every file only the old answers rendered.
hooks/answer_guard.py, the first `before` migration, works those files out from the template's file
names and refuses while the project still has any, saying what to run (`git mv` the package, or
`git rm` what the change drops); copier.yml's last `_exclude` entry refuses the answers listed in
`file_moving_answers` when they are changed at the prompt (after the migrations). Here: the guard's
model of copier's file naming agrees with real renders; the list is exactly the questions whose
change moves files (every question, every pair of values); both guards refuse and allow the right
changes with one line. tests/test_update.py runs the refusal and the documented way through end to
end on edited projects (the `update` tier).
"""

from __future__ import annotations

import json
import subprocess
import sys
from itertools import permutations
from pathlib import Path

import jinja2
import pytest
import yaml
from jinja2.sandbox import SandboxedEnvironment

from hooks import answer_guard
from tools.variants import ROOT, variant_named

TEMPLATE = answer_guard.Template(ROOT)
SETTINGS = TEMPLATE.settings
QUESTIONS = {name: spec for name, spec in SETTINGS.items() if not name.startswith("_")}
ASKED = {name: spec for name, spec in QUESTIONS.items() if spec.get("when") is not False}
DECLARED = SETTINGS["file_moving_answers"]["default"]
ANSWERS_FILE = SETTINGS["_answers_file"]


def recorded_answers(project: Path) -> dict:
    """The answers a later update starts from: the project's answers file (no computed values)."""
    return yaml.safe_load((project / ANSWERS_FILE).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def base_answers(render_variant) -> dict:
    return recorded_answers(render_variant(variant_named("binary-defaults"))[0])


# ─── The guard's model of the rendered files, and the declared list ───────────────────────────


@pytest.mark.parametrize("name", ["binary-defaults", "multiclass", "regression", "binary-auth-k8s"])
def test_the_guard_names_files_as_copier_renders_them(name: str, render_variant) -> None:
    """From the answers file alone (what the guard reads), the guard names every rendered file; between
    them these variants render every value of every declared answer and another package name."""
    project, _ = render_variant(variant_named(name))
    rendered = sorted(path.relative_to(project).as_posix() for path in project.rglob("*") if path.is_file())
    assert sorted(TEMPLATE.source_map(recorded_answers(project))) == rendered


def values_to_try(name: str, spec: dict, base: dict) -> list:
    """Every value of a choice or yes/no question; the base answer and another one for the rest."""
    if spec.get("type") == "bool":
        return [True, False]
    if "choices" in spec:
        choices = spec["choices"]
        if isinstance(choices, str):  # e.g. "{{ metric_choices[problem_type] }}": the whole catalog
            catalog = QUESTIONS[choices.split("{{", 1)[1].split("[", 1)[0].strip()]["default"]
            return sorted({value for values in catalog.values() for value in values})
        return list(choices.values()) if isinstance(choices, dict) else list(choices)
    value = base.get(name, "")
    return [value, value + 1] if isinstance(value, int | float) else [value, f"{value}x"]


def declared(name: str, old: object) -> bool:
    moving = DECLARED.get(name, [])
    return moving == "any" or old in moving


def test_declared_answers_are_exactly_the_ones_whose_change_moves_files(base_answers: dict) -> None:
    """Change each question from each of its values to each other one, every other answer kept (as an
    update keeps them): files move exactly when copier.yml's file_moving_answers says so."""
    wrong = []
    for name, spec in ASKED.items():
        for old, new in permutations(values_to_try(name, spec, base_answers), 2):
            moved = sorted(TEMPLATE.moved_files({**base_answers, name: old}, {**base_answers, name: new}))
            if bool(moved) != declared(name, old):
                moves = moved[:3] or "nothing"
                wrong.append(f"{name}: {old!r} -> {new!r} moves {moves}; declared: {declared(name, old)}")
    assert wrong == [], "update file_moving_answers in copier.yml:\n" + "\n".join(wrong)


def test_every_declared_answer_is_an_asked_question() -> None:
    assert set(DECLARED) <= set(ASKED)
    assert all(moving == "any" or (isinstance(moving, list) and moving) for moving in DECLARED.values())


# ─── The migration guard (`--data` answers) ───────────────────────────────────────────────────

PREVIOUS = {"package_name": "churn_pilot", "kubernetes": True, "experiment_tracking": "none", "license": "MIT"}


def project_with(tmp_path: Path, previous: dict, files: list[str]) -> Path:
    (tmp_path / ANSWERS_FILE).write_text(yaml.safe_dump(previous), encoding="utf-8")
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("the team's\n", encoding="utf-8")
    return tmp_path


def run_guard(project: Path, data: dict) -> subprocess.CompletedProcess[str]:
    """The migration as copier runs it: the hook from the template, in the project, `--data` as JSON."""
    hook = ROOT / "hooks" / "answer_guard.py"
    return subprocess.run(
        [sys.executable, str(hook), json.dumps(data), ANSWERS_FILE], cwd=project, capture_output=True, text=True
    )


def test_guard_refuses_a_rename_while_the_old_package_is_there_in_one_line(tmp_path: Path, base_answers: dict) -> None:
    project = project_with(tmp_path, base_answers, ["src/churn_pilot/contract.py", "src/churn_pilot/pipeline/train.py"])
    result = run_guard(project, {"package_name": "renamed_pkg"})
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        "update refused, nothing changed: package_name (churn_pilot -> renamed_pkg) would delete or re-template "
        "2 file(s) you still have (src/churn_pilot/contract.py, src/churn_pilot/pipeline/train.py)"
    )
    assert "run `git mv src/churn_pilot src/renamed_pkg`, commit, and run the same update again" in line
    assert 'docs/updating.md, "Change an answer that moves files"' in line


def test_guard_lets_the_rename_through_once_the_package_is_moved(tmp_path: Path, base_answers: dict) -> None:
    project = project_with(tmp_path, base_answers, ["src/renamed_pkg/contract.py", "README.md"])
    assert run_guard(project, {"package_name": "renamed_pkg"}).returncode == 0


@pytest.mark.parametrize(
    ("change", "kept", "refused"),
    [
        ({"kubernetes": "false"}, "deploy/kubernetes/deployment.yaml", True),  # the CLI passes strings
        ({"kubernetes": "false"}, "README.md", False),  # deploy/ removed by the team first
        ({"kubernetes": "yes"}, "deploy/kubernetes/deployment.yaml", False),  # the same answer
        ({"model_family": "lightgbm"}, "src/churn_pilot/estimator.py", True),  # re-templated: theirs is kept
        ({"model_family": "lightgbm"}, "README.md", False),
        ({"experiment_tracking": "mlflow"}, "README.md", False),  # adds files, removes none
        ({"license": "Apache-2.0", "kpi_target": "x"}, "README.md", False),  # moves no file
    ],
)
def test_guard_refuses_exactly_while_a_file_the_change_drops_is_there(
    tmp_path: Path, base_answers: dict, change: dict, kept: str, refused: bool
) -> None:
    project = project_with(tmp_path, {**base_answers, "kubernetes": True}, [kept])
    result = run_guard(project, change)
    assert (result.returncode, bool(result.stderr)) == ((1, True) if refused else (0, False)), result.stderr
    if refused:
        assert "`git rm` them, commit, and run the same update again" in result.stderr


# A new answer for each declared question, and a variant that renders the value it moves files from.
REAL_CHANGES = {
    "package_name": ("binary-defaults", "renamed_pkg", "src/churn_pilot/contract.py"),
    "problem_type": ("binary-defaults", "regression", "src/churn_pilot/contract.py"),
    "model_family": ("binary-defaults", "lightgbm", "src/churn_pilot/estimator.py"),
    "kubernetes": ("binary-auth-k8s", "false", "deploy/kubernetes/deployment.yaml"),
    "experiment_tracking": ("multiclass", "none", "tests/test_tracking.py"),
    "monitoring_report": ("multiclass", "builtin", "tests/test_evidently_report.py"),
    "compute": ("binary-lightgbm-dask", "local", "src/churn_pilot/compute/cluster.py"),
    "feature_store": ("binary-feast", "none", "src/churn_pilot/featurestore/store.py"),
}


def test_every_declared_answer_has_a_real_change_below() -> None:
    assert sorted(REAL_CHANGES) == sorted(DECLARED)


@pytest.mark.parametrize("answer", sorted(REAL_CHANGES))
def test_guard_refuses_each_declared_change_on_a_real_render(answer: str, render_variant) -> None:
    variant, value, named = REAL_CHANGES[answer]
    project, _ = render_variant(variant_named(variant))
    result = run_guard(project, {answer: value})
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"update refused, nothing changed: {answer} (")
    assert named in line.split(" you still have (", 1)[1].split("), your edits", 1)[0] or "..." in line
    assert (project / named).is_file()


def test_the_how_to_the_refusals_name_is_in_the_docs() -> None:
    section = answer_guard.HOW_TO.rsplit('"', 2)[1]
    assert f"### {section}" in (ROOT / "docs" / "updating.md").read_text(encoding="utf-8")


def test_guard_is_the_first_migration_and_runs_before_every_update() -> None:
    first = SETTINGS["_migrations"][0]
    assert "version" not in first
    assert first["when"] == "{{ _stage == 'before' }}"
    assert first["command"][1:3] == [
        "{{ _copier_conf.src_path }}/hooks/answer_guard.py",
        "{{ _copier_conf.data | tojson }}",
    ]


# ─── The `_exclude` guard (an answer changed at the prompt) ───────────────────────────────────


def exclude_guard(project: Path, operation: str, previous: dict, answers: dict, data: dict | None = None) -> str:
    """Render copier.yml's last `_exclude` entry as copier does (its Jinja extensions, its context)."""
    environment = SandboxedEnvironment(extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"])
    return environment.from_string(SETTINGS["_exclude"][-1]).render(
        _copier_operation=operation,
        _copier_conf={"dst_path": project, "answers_file": ANSWERS_FILE, "data": data or {}},
        _external_data={"previous": previous},
        _copier_answers=answers,
        file_moving_answers=DECLARED,
    )


def test_exclude_guard_refuses_a_declared_answer_changed_at_the_prompt(tmp_path: Path) -> None:
    project = project_with(tmp_path, PREVIOUS, [])
    with pytest.raises(jinja2.TemplateError) as refusal:
        exclude_guard(project, "update", PREVIOUS, {**PREVIOUS, "package_name": "renamed_pkg", "kubernetes": False})
    assert str(refusal.value) == (
        "update refused before writing any file: package_name (churn_pilot -> renamed_pkg), kubernetes (True -> "
        "False) moves files. Undo what the migrations did (`git reset --hard && git clean -fd`), then give the new "
        f"answer on the command line (--data name=value) so the update checks your files first ({answer_guard.HOW_TO})."
    )


@pytest.mark.parametrize(
    ("operation", "answers_file", "change", "data"),
    [
        ("update", True, {}, {}),
        ("update", True, {"kubernetes": True, "experiment_tracking": "mlflow", "license": "Apache-2.0"}, {}),
        ("update", True, {"package_name": "renamed_pkg"}, {"package_name": "renamed_pkg"}),  # checked by the hook
        ("copy", True, {"package_name": "renamed_pkg"}, {}),  # copier recopy: nothing is deleted
        ("update", False, {"package_name": "renamed_pkg"}, {}),  # copier's own renders in temporary folders
    ],
    ids=["unchanged", "adding-files", "given-as-data", "copy", "no-answers-file"],
)
def test_exclude_guard_renders_empty_otherwise(
    tmp_path: Path, operation: str, answers_file: bool, change: dict, data: dict
) -> None:
    previous = {**PREVIOUS, "kubernetes": False}
    if answers_file:
        project_with(tmp_path, previous, [])
    assert exclude_guard(tmp_path, operation, previous, {**previous, **change}, data) == ""


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_exclude_guard_refuses_every_declared_answer(tmp_path: Path, base_answers: dict, name: str) -> None:
    moving = DECLARED[name]
    old = moving[0] if isinstance(moving, list) else base_answers[name]
    new = next(value for value in values_to_try(name, ASKED[name], base_answers) if value != old)
    previous = {**base_answers, name: old}
    project_with(tmp_path, previous, [])
    with pytest.raises(jinja2.TemplateError, match=rf"^update refused before writing any file: {name} \("):
        exclude_guard(tmp_path, "update", previous, {**previous, name: new})
