"""The generated GitHub workflows, checked offline: actionlint (with ShellCheck on `run:` scripts),
zizmor's security audits, the GitHub workflow JSON schema, actions pinned once by commit SHA, and
every command a step runs is one some test runs too; the scripts the update workflow runs, on real
merge conflicts and real copier failures.

A workflow only runs on GitHub, after a push: these checks catch a broken workflow at render
time instead, for every variant in variants.toml.
"""

from __future__ import annotations

import ast
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tools.projects import GIT_IDENTITY
from tools.variants import ROOT, Variant, load_variants

WORKFLOWS = ".github/workflows"
# actionlint, shellcheck, check-jsonschema, zizmor and copier come with the dev environment
TOOLS = Path(sys.executable).parent

TEMPLATE_WORKFLOWS = ROOT / "template" / WORKFLOWS
TEMPLATE_TESTS = Path(__file__).parent
# A token that is a subcommand or a tool name, not an option, path or shell variable.
WORD = re.compile(r"[a-z][a-z0-9_-]*")
SHELL_OPERATOR_CHARS = "();<>|&"  # what shlex's punctuation_chars splits off: the end of a command
# A generated test module that imports `<package>.cli` or runs `python -m <package>.cli`.
CLI_REFERENCE = re.compile(r"\.cli\b")


def zizmor() -> str:
    """zizmor beside this interpreter, else on PATH: a binary-only wheel, so `uv run --with …` (the
    oldest-copier pass of .ci/run) leaves it out of its overlay, whose PATH holds the project's environment."""
    beside = TOOLS / "zizmor"
    return str(beside) if beside.exists() else shutil.which("zizmor") or str(beside)


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


def zizmor_findings(paths: list[str], min_severity: str = "medium") -> list[str]:
    """zizmor's offline findings at `min_severity` or above, one `ident severity file:line` each."""
    command = [zizmor(), "--offline", "--format", "json", "--min-severity", min_severity, *paths]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    # Exit codes: 0 nothing at min_severity or above, 10-14 findings (by highest severity), else a tool failure.
    assert result.returncode == 0 or result.returncode >= 10, result.stderr
    findings = []
    for finding in json.loads(result.stdout):
        where = next(place for place in finding["locations"] if place["symbolic"]["kind"] == "Primary")
        path = where["symbolic"]["key"]["Local"]["verbatim_path"]
        line = where["concrete"]["location"]["start_point"]["row"] + 1
        findings.append(f"{finding['ident']} {finding['determinations']['severity']} {path}:{line}")
    assert (result.returncode == 0) == (findings == []), result.stdout
    return findings


def test_workflows_pass_zizmor_offline(workflow_files: dict[str, list[Path]]) -> None:
    """No high or medium finding in any variant's workflows (zizmor's default persona, offline audits)."""
    assert zizmor_findings(all_files(workflow_files)) == []


def test_zizmor_check_reports_an_action_pinned_to_a_tag(tmp_path: Path) -> None:
    workflow = tmp_path / "tagged.yml"
    workflow.write_text(
        "on: push\npermissions: {}\njobs:\n  job:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v6\n        with:\n          persist-credentials: false\n"
    )
    assert zizmor_findings([str(workflow)]) == [f"unpinned-uses High {workflow}:7"]


# --- every action pinned once, by full commit SHA -------------------------------------------------

# `uses: owner/repo[/path]@<40 hex>  # <version>`, the form includes/github_actions.jinja renders.
PINNED_USES = re.compile(r"(?P<action>[\w.-]+/[\w.-]+(?:/[\w./-]+)?)@(?P<sha>[0-9a-f]{40})  # (?P<version>v\d[\w.-]*)")
USES_LINE = re.compile(r"^\s*(?:- )?uses:\s*(?P<value>.*?)\s*$")


def pin_problems(paths: list[Path]) -> list[str]:
    """Each `uses:` that is not a full SHA with its version, and each action referenced two ways."""
    problems, refs = [], {}
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not (uses := USES_LINE.match(line)):
                continue
            value = uses["value"]
            refs.setdefault(value.partition("@")[0], set()).add(value.partition("@")[2])
            if not PINNED_USES.fullmatch(value):
                problems.append(f"{path.name}:{number}: not pinned by full commit SHA with its version: {value}")
    problems += [f"{action} pinned {len(ways)} ways: {sorted(ways)}" for action, ways in refs.items() if len(ways) > 1]
    return problems


def test_every_action_is_pinned_once_by_full_commit_sha(workflow_files: dict[str, list[Path]]) -> None:
    paths = [path for paths in workflow_files.values() for path in paths]
    assert any(USES_LINE.match(line) for path in paths for line in path.read_text(encoding="utf-8").splitlines())
    assert pin_problems(paths) == []


def test_pin_check_reports_a_tag_and_a_second_pin(tmp_path: Path) -> None:
    sha, other = "d23441a48e516b6c34aea4fa41551a30e30af803", "11bd71901bbe5b1630ceea73d27597364c9af683"
    (tmp_path / "a.yml").write_text(f"steps:\n  - uses: actions/checkout@{sha}  # v6.1.0\n")
    (tmp_path / "b.yml").write_text(
        f"steps:\n  - uses: actions/checkout@{other}  # v4.2.2\n  - uses: astral-sh/setup-uv@v7\n"
        f"  - name: x\n    uses: actions/upload-artifact@{sha}\n"
    )
    assert pin_problems([tmp_path / "a.yml", tmp_path / "b.yml"]) == [
        "b.yml:3: not pinned by full commit SHA with its version: astral-sh/setup-uv@v7",
        f"b.yml:5: not pinned by full commit SHA with its version: actions/upload-artifact@{sha}",
        f"actions/checkout pinned 2 ways: ['{other}  # v4.2.2', '{sha}  # v6.1.0']",
    ]


def test_workflow_sources_take_every_action_from_the_one_pins_file() -> None:
    """A pin is written once, in includes/github_actions.jinja: no workflow source spells one out."""
    sources = sorted(TEMPLATE_WORKFLOWS.glob("*.jinja"))
    uses = [
        (path.name, match["value"])
        for path in sources
        for match in map(USES_LINE.match, path.read_text(encoding="utf-8").splitlines())
        if match
    ]
    assert uses
    assert [(name, value) for name, value in uses if not re.fullmatch(r'\{\{ uses\("[\w./-]+"\) \}\}', value)] == []


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


# --- the scripts the update workflow runs -----------------------------------------------------


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **GIT_IDENTITY}
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=check)


def update_step(project: Path) -> tuple[str, dict[str, str]]:
    """The script and the environment (workflow's, then step's) of the step that runs `copier update`."""
    workflow = yaml.safe_load((project / WORKFLOWS / "template-update.yml").read_text(encoding="utf-8"))
    steps = workflow["jobs"]["update"]["steps"]
    (step,) = [step for step in steps if "copier update --trust --defaults" in step.get("run", "")]
    return step["run"], {**workflow["env"], **step.get("env", {})}


def release(template: Path, tag: str, files: dict[str, str]) -> None:
    """Commit `files` into the template repository `template` and tag the commit `tag`."""
    for name, text in files.items():
        (template / name).write_text(text, encoding="utf-8")
    git(template, "add", "-A")
    git(template, "commit", "-q", "-m", tag)
    git(template, "tag", tag)


QUESTIONS = "name:\n  type: str\n  default: pilot\n"


@pytest.fixture(scope="module")
def tiny_releases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-question template with releases an update can reach: fine, a new required question, a refusal."""
    template = tmp_path_factory.mktemp("tiny-template")
    git(template, "init", "-q", "-b", "main")
    answers = {"{{ _copier_conf.answers_file }}.jinja": "{{ _copier_answers | to_nice_yaml }}"}
    release(template, "1.0.0", {"copier.yml": QUESTIONS, "README.md.jinja": "{{ name }}\n", **answers})
    release(template, "1.1.0", {"README.md.jinja": "{{ name }}, updated\n"})
    release(template, "2.0.0", {"copier.yml": QUESTIONS + "region:\n  type: str\n  help: Where it runs\n"})
    refusal = "import sys; sys.exit('Refusing: rename src/old by hand first (docs/updating.md)')"
    migration = {"version": "3.0.0", "when": "{{ _stage == 'before' }}", "command": ["python3", "-c", refusal]}
    release(template, "3.0.0", {"copier.yml": QUESTIONS + yaml.safe_dump({"_migrations": [migration]})})
    return template


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        ("1.1.0", None),
        ("2.0.0", 'ValueError: Question "region" is required'),
        ("3.0.0", "Refusing: rename src/old by hand first (docs/updating.md)"),
    ],
    ids=["updates", "new-required-question", "migration-refuses"],
)
def test_update_step_fails_with_one_summary_line_when_copier_fails(
    render_variant, tiny_releases: Path, tmp_path: Path, version: str, reason: str | None
) -> None:
    """The workflow's own `copier update` script, run as GitHub runs it, against real copier failures."""
    project, runner_temp, bin_dir = tmp_path / "project", tmp_path / "runner", tmp_path / "bin"
    runner_temp.mkdir()
    bin_dir.mkdir()
    copy = [str(TOOLS / "copier"), "copy", "--trust", "--defaults", "--quiet", "--vcs-ref", "1.0.0"]
    subprocess.run([*copy, str(tiny_releases), str(project)], check=True, capture_output=True)
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "start")
    script, step_env = update_step(render_variant(next(v for v in load_variants() if "default" in v.tags))[0])
    # `uvx --from copier==X copier ...` runs the dev environment's copier: the same program, offline.
    uvx = bin_dir / "uvx"
    uvx.write_text(
        f'#!/bin/sh\n[ "$1" = --from ] && [ "$3" = copier ] || exit 127\nshift 3\nexec "{TOOLS}/copier" "$@"\n'
    )
    uvx.chmod(0o755)
    summary = runner_temp / "summary.md"
    env = {
        **os.environ,
        **GIT_IDENTITY,
        **step_env,
        "VERSION": version,  # the step reads the version from the check step's output
        "RUNNER_TEMP": str(runner_temp),
        "GITHUB_STEP_SUMMARY": str(summary),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
    }
    # GitHub runs a `run:` script with `bash -e`; `bash --noprofile --norc -eo pipefail` when `shell: bash`.
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = summary.read_text().splitlines() if summary.exists() else []
    if reason is None:
        assert result.returncode == 0, result.stderr
        assert lines == []
        assert (project / "README.md").read_text() == "pilot, updated\n"
    else:
        assert result.returncode == 1, result.stderr
        assert len(lines) == 1, lines
        assert f"Template update to {version} failed: `copier update` exited 1: {reason}." in lines[0]
        assert f"Run `copier update --trust --vcs-ref {version}` in a clean clone" in lines[0]
        assert result.stderr.splitlines()[-1] == lines[0]  # the log ends with the same line
