"""The generated GitHub workflows, checked offline: actionlint (with ShellCheck on `run:` scripts),
the GitHub workflow JSON schema, and every command a step runs is one some test runs too.

A workflow only runs on GitHub, after a push: these checks catch a broken workflow at render
time instead, for every variant in variants.toml.
"""

from __future__ import annotations

import ast
import itertools
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tools.variants import Variant, load_variants

WORKFLOWS = ".github/workflows"
TOOLS = Path(sys.executable).parent  # actionlint, shellcheck and check-jsonschema come with the dev environment
TEMPLATE_TESTS = Path(__file__).parent
# A token that is a subcommand or a tool name, not an option, path or shell variable.
WORD = re.compile(r"[a-z][a-z0-9_-]*")
SHELL_OPERATOR_CHARS = "();<>|&"  # what shlex's punctuation_chars splits off: the end of a command
# A generated test module that imports `<package>.cli` or runs `python -m <package>.cli`.
CLI_REFERENCE = re.compile(r"\.cli\b")


@pytest.fixture(scope="module")
def workflow_files(render_variant) -> dict[str, list[Path]]:
    """Every variant's rendered workflow files, by variant name."""
    files = {}
    for variant in load_variants():
        project, _ = render_variant(variant)
        files[variant.name] = sorted((project / WORKFLOWS).glob("*.yml"))
    return files


def all_files(workflow_files: dict[str, list[Path]]) -> list[str]:
    return [str(path) for paths in workflow_files.values() for path in paths]


def test_every_variant_generates_the_ci_and_retraining_workflows(workflow_files: dict[str, list[Path]]) -> None:
    for name, paths in workflow_files.items():
        assert {"ci.yml", "retrain.yml"} <= {path.name for path in paths}, name


def test_workflows_pass_actionlint_with_shellcheck(workflow_files: dict[str, list[Path]]) -> None:
    command = [str(TOOLS / "actionlint"), "-no-color", "-shellcheck", str(TOOLS / "shellcheck")]
    result = subprocess.run([*command, *all_files(workflow_files)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_match_the_github_workflow_schema(workflow_files: dict[str, list[Path]]) -> None:
    command = [str(TOOLS / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows"]
    result = subprocess.run([*command, *all_files(workflow_files)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# --- every command a step runs is exercised by a test -------------------------------------------


def run_scripts(workflow: Path) -> Iterator[str]:
    """The shell script of every `run:` step."""
    # yaml 1.1 reads the key `on` as True; only `jobs` matters here.
    for job in yaml.safe_load(workflow.read_text(encoding="utf-8"))["jobs"].values():
        for step in job.get("steps", []):
            if "run" in step:
                yield step["run"]


def uv_commands(script: str) -> Iterator[tuple[str, str | None]]:
    """(tool, subcommand) of each command run through uv: `uv run dvc pull` -> ("dvc", "pull"),
    `uv lock --check` -> ("uv", "lock"), `uv run pytest -q` -> ("pytest", None)."""
    lexer = shlex.shlex(script.replace("\\\n", " "), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    for index in (position for position, word in enumerate(tokens) if word == "uv"):
        command = itertools.takewhile(lambda word: word[0] not in SHELL_OPERATOR_CHARS, tokens[index + 1 :])
        words = [word for word in command if not word.startswith("-")]  # options of uv and of the tool
        words = words[1:] if words[:1] == ["run"] else ["uv", *words]
        if words:
            yield words[0], words[1] if len(words) > 1 and WORD.fullmatch(words[1]) else None


def word_of(node: ast.expr) -> str | None:
    """A string argument as a command word: `"dvc"` -> dvc, `str(venv / "bin/bentoml")` -> bentoml."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    strings = [
        child.value for child in ast.walk(node) if isinstance(child, ast.Constant) and isinstance(child.value, str)
    ]
    return Path(strings[-1]).name if strings else None


def string_sequences(path: Path) -> Iterator[list[str | None]]:
    """The words of each call's arguments and of each list or tuple literal, in order (None: not a string)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            yield [word_of(item) for item in node.args]
        elif isinstance(node, ast.List | ast.Tuple):
            yield [word_of(item) for item in node.elts]


def tool_commands_run_by_template_tests() -> set[tuple[str, str | None]]:
    """(tool, subcommand) pairs the template's tests run in generated projects (the slow tier)."""
    exercised: set[tuple[str, str | None]] = set()
    for path in TEMPLATE_TESTS.glob("test_*.py"):
        for words in string_sequences(path):
            # Options dropped, as `uv_commands` drops them: ("pytest", "-m", "slow") runs `pytest slow`.
            sequence = [word for word in words if word is None or not word.startswith("-")]
            exercised.update((tool, None) for tool in sequence if tool is not None)
            exercised.update((tool, sub) for tool, sub in itertools.pairwise(sequence) if tool and sub)
    return exercised


def cli_words_in_generated_tests(project: Path) -> set[str]:
    """The strings passed to calls in generated tests that drive the project's CLI (in process or as a command)."""
    words: set[str] = set()
    for path in (project / "tests").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        if CLI_REFERENCE.search(source):
            words.update(word for sequence in string_sequences(path) for word in sequence if word is not None)
    return words


def untested_commands(project: Path, package: str) -> list[str]:
    """Each workflow command that neither the generated project's tests nor the template's tests run."""
    cli_words, tool_commands = cli_words_in_generated_tests(project), tool_commands_run_by_template_tests()
    missing = []
    for workflow in sorted((project / WORKFLOWS).glob("*.yml")):
        for tool, sub in (command for script in run_scripts(workflow) for command in uv_commands(script)):
            tested = sub in cli_words if tool == package else (tool, sub) in tool_commands
            if not tested:
                missing.append(f"{workflow.name}: uv run {tool} {sub or ''}".strip())
    return missing


@pytest.mark.parametrize("variant", [v for v in load_variants() if "ci" in v.tags], ids=lambda v: v.name)
def test_every_command_a_workflow_runs_is_exercised_by_a_test(variant: Variant, render_variant) -> None:
    project, answers = render_variant(variant)
    assert untested_commands(project, answers["package_name"]) == []


def test_the_command_check_catches_an_untested_subcommand(render_variant, tmp_path: Path) -> None:
    """A workflow step calling a CLI subcommand that no generated test calls is reported."""
    variant = next(v for v in load_variants() if "default" in v.tags)
    project, answers = render_variant(variant)
    package = answers["package_name"]
    steps = [{"run": f"uv run {package} example-request"}, {"run": f"uv run --frozen {package} no-such-command"}]
    workflow = {"on": "push", "jobs": {"job": {"runs-on": "ubuntu-latest", "steps": steps}}}
    (tmp_path / WORKFLOWS).mkdir(parents=True)
    (tmp_path / WORKFLOWS / "extra.yml").write_text(yaml.safe_dump(workflow))
    (tmp_path / "tests").symlink_to(project / "tests")
    assert untested_commands(tmp_path, package) == [f"extra.yml: uv run {package} no-such-command"]


@pytest.mark.parametrize(
    ("script", "commands"),
    [
        ("uv run dvc metrics diff --md", [("dvc", "metrics")]),
        ("uv lock --check", [("uv", "lock")]),
        ("uv run --frozen pytest -q", [("pytest", None)]),
        ('uv run dvc get-url "$URL" logs/predictions', [("dvc", "get-url")]),
        ("x=$(uv run pkg example-request | curl --data @- \\\n  http://127.0.0.1)", [("pkg", "example-request")]),
        ("uv run pkg monitor || status=$?\necho done && uv sync", [("pkg", "monitor"), ("uv", "sync")]),
        ("uv run --frozen dvc | tee log; uv", [("dvc", None), ("uv", None)]),
    ],
)
def test_commands_are_read_from_shell_scripts(script: str, commands: list[tuple[str, str | None]]) -> None:
    assert list(uv_commands(script)) == commands


# --- the retraining workflow's one step no other test runs --------------------------------------


PREDICTION_LOG_STEP = 'uv run dvc get-url "$PREDICTION_LOG_URL" logs/predictions'


def test_the_prediction_log_step_is_the_one_the_slow_test_runs(workflow_files: dict[str, list[Path]]) -> None:
    for name, paths in workflow_files.items():
        retrain = next(path for path in paths if path.name == "retrain.yml")
        assert PREDICTION_LOG_STEP in run_scripts(retrain), name


@pytest.mark.slow
def test_the_prediction_log_step_fetches_a_synced_log_folder(render_variant, tmp_path: Path) -> None:
    """`dvc get-url` copies the synced JSONL files to where the workflow's `monitor` step reads them."""
    variant = next(v for v in load_variants() if "default" in v.tags)
    project = tmp_path / "project"  # a copy: the session's render stays as rendered for the other tests
    shutil.copytree(render_variant(variant)[0], project)
    synced = tmp_path / "synced-predictions"
    synced.mkdir()
    (synced / "predictions-20260101.jsonl").write_text('{"request_id": "r1"}\n')
    subprocess.run(["uv", "sync", "--frozen", "--quiet"], cwd=project, check=True)
    fetch = ["uv", "run", "--frozen", "dvc", "get-url", str(synced), "logs/predictions"]
    subprocess.run(fetch, cwd=project, check=True)
    fetched = project / "logs" / "predictions" / "predictions-20260101.jsonl"
    assert fetched.read_text() == '{"request_id": "r1"}\n'
