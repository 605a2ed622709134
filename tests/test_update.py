"""`copier update` never loses a team's work: every edit is kept or surfaced as a conflict.

Four fixture releases of the template are built into a throwaway git repository: 0.1.0 is the
previous real release (commit 3200afe of this repository: the flat package with `schema.py`);
0.2.0 is the working tree (the package by concern, with the migration that gets there); 0.3.0
changes files the team also edits, adds a question and renames a test module (with a migration
that moves the team's copy first); 0.4.0 renames it again and adds a dependency. Projects
generated at 0.1.0, and at 0.2.0, and edited the way a team would are updated across those
releases, skipping one, and must come out with every edit kept or in a conflict, migrations run
once and in order, and their own checks green once conflicts are resolved. An answer change that
would delete the team's files (the issue's `--data package_name=renamed_pkg`) is refused before
anything changes, and the documented way (`git mv` the package, then update) carries every edit.
Fast tests of the ownership policy, the hooks and the conflict check come first.
"""

from __future__ import annotations

import ast
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import copier
import pathspec
import pytest
import yaml
from packaging.version import Version

from hooks import package_layout
from hooks.move_file import MigrationError, move_file
from hooks.relock import export_command, relock
from tools.projects import GIT_IDENTITY, project_env
from tools.variants import ROOT, Variant, variants_tagged

LEFTOVERS_SCRIPT = ROOT / "template" / ".github" / "scripts" / "check_update_leftovers.py"
OWNERSHIP_DOC = ROOT / "docs" / "file-ownership.md"
COPIER_YML = ROOT / "copier.yml"


def git(cwd: Path, *args: str, check: bool = True) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **GIT_IDENTITY}, check=check, capture_output=True, text=True
    )
    return result.stdout


def git_repo(path: Path, files: dict[str, str]) -> Path:
    """A git repository at `path` with `files` committed."""
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text, encoding="utf-8")
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "start")
    return path


def leftovers(project: Path) -> subprocess.CompletedProcess[str]:
    """Run the generated project's merge-leftover check (the same script its CI runs)."""
    return subprocess.run(
        [sys.executable, str(LEFTOVERS_SCRIPT)], cwd=project, capture_output=True, text=True, check=False
    )


# ─── The ownership policy: docs/file-ownership.md and copier.yml cannot drift ─────────────────


def policy_table() -> dict[str, list[str]]:
    """Owner -> path patterns, read from the table in docs/file-ownership.md."""
    table: dict[str, list[str]] = {}
    for line in OWNERSHIP_DOC.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[1].startswith("**"):
            table.setdefault(cells[1].strip("*"), []).append(cells[0].strip("`"))
    return table


def copier_settings() -> dict:
    return yaml.safe_load(COPIER_YML.read_text(encoding="utf-8"))


def update_time_exclusions() -> list[str]:
    """The `_exclude` entries that apply only when copier updates, as rendered during an update."""
    entries = copier_settings().get("_exclude", [])
    pattern = re.compile(r"\{%\s*if _copier_operation == 'update'\s*%\}(.*?)\{%\s*endif\s*%\}")
    return [match.group(1) for entry in entries if (match := pattern.fullmatch(entry))]


def test_policy_table_names_exactly_the_user_owned_files_of_copier_yml() -> None:
    table = policy_table()
    assert sorted(table["you"] + table["your data"]) == sorted(copier_settings()["_skip_if_exists"])


def test_policy_table_names_exactly_the_files_excluded_on_update() -> None:
    assert update_time_exclusions(), "copier.yml should exclude the lock from updates"
    table = policy_table()
    assert sorted(table["re-locked"] + table["your data"]) == sorted(update_time_exclusions())


def test_the_team_owns_its_contract_features_estimator_and_config() -> None:
    team_owned = set(copier_settings()["_skip_if_exists"])
    assert {"src/*/contract.py", "src/*/features.py", "src/*/estimator.py"} <= team_owned
    assert {"params.yaml", "ml-project.yaml"} <= team_owned


def test_every_rendered_file_has_exactly_one_owner(variant: Variant, project: Path, answers: dict) -> None:
    specs = {
        owner: pathspec.GitIgnoreSpec.from_lines(
            [pattern.replace("{{ package_name }}", answers["package_name"]) for pattern in patterns]
        )
        for owner, patterns in policy_table().items()
    }
    files = [path.relative_to(project).as_posix() for path in project.rglob("*") if path.is_file()]
    owners = {name: [owner for owner, spec in specs.items() if spec.match_file(name)] for name in files}
    assert {name: found for name, found in owners.items() if len(found) != 1} == {}


# ─── Hooks: the rename helper and the relock ─────────────────────────────────────────────────


def test_move_file_moves_the_users_file_with_git_and_fills_answers(tmp_path: Path) -> None:
    project = git_repo(tmp_path, {".copier-answers.yml": "package_name: churn\n", "src/churn/old.py": "mine\n"})
    message = move_file(project, "src/{package_name}/old.py", "src/{package_name}/new/name.py")
    assert "moved src/churn/old.py -> src/churn/new/name.py" in message
    assert (project / "src/churn/new/name.py").read_text() == "mine\n"
    assert not (project / "src/churn/old.py").exists()
    assert git(project, "diff", "--cached", "--name-status", "-M").split() == [
        "R100",
        "src/churn/old.py",
        "src/churn/new/name.py",
    ]


def test_move_file_twice_is_a_no_op_the_second_time(tmp_path: Path) -> None:
    project = git_repo(tmp_path, {"old.md": "mine\n"})
    move_file(project, "old.md", "new.md")
    assert "already in place" in move_file(project, "old.md", "new.md")
    assert (project / "new.md").read_text() == "mine\n"


def test_move_file_never_overwrites_when_both_names_exist(tmp_path: Path) -> None:
    project = git_repo(tmp_path, {"old.md": "mine\n", "new.md": "also mine\n"})
    with pytest.raises(MigrationError, match=r"both old\.md and new\.md exist\. Merge"):
        move_file(project, "old.md", "new.md")
    assert (project / "old.md").read_text() == "mine\n"
    assert (project / "new.md").read_text() == "also mine\n"


def test_move_file_of_a_deleted_file_says_so(tmp_path: Path) -> None:
    project = git_repo(tmp_path, {"kept.md": "x\n"})
    assert "does not exist" in move_file(project, "gone.md", "new.md")


def test_move_file_names_a_missing_answer(tmp_path: Path) -> None:
    project = git_repo(tmp_path, {".copier-answers.yml": "package_name: churn\n"})
    with pytest.raises(MigrationError, match="no answer 'model_name'"):
        move_file(project, "src/{model_name}.py", "x.py")


# ─── Hooks: the 0.2.0 migration from the flat package (read from this repository's history) ──

FLAT_COMMIT = "3200afe"  # the previous release: the flat package with schema.py
LAYOUT_ANSWERS = {"package_name": "churn", "problem_type": "binary_classification", "model_family": "sklearn"}
SCHEMA, CONTRACT = "src/churn/schema.py", "src/churn/contract.py"
TENURE = '"Months since sign-up", 24, minimum=0, maximum=600'
TEAM_TENURE = '"Months since sign-up, billing", 24, minimum=0, maximum=480'


@pytest.fixture(scope="module")
def flat_release() -> package_layout.Release:
    if subprocess.run(["git", "cat-file", "-e", f"{FLAT_COMMIT}^{{commit}}"], cwd=ROOT, check=False).returncode:
        pytest.fail(f"the previous release {FLAT_COMMIT} is not in this clone: fetch the full history (fetch-depth: 0)")
    return package_layout.release_at(ROOT, FLAT_COMMIT, LAYOUT_ANSWERS)


def flat_project(path: Path, flat_release: package_layout.Release, edits: dict[str, tuple[str, str]]) -> Path:
    """A project with the flat release's schema.py, train.py, data.py and features.py, a params.yaml, then `edits`."""
    files = {
        ".copier-answers.yml": yaml.safe_dump({**LAYOUT_ANSWERS, "_commit": FLAT_COMMIT}),
        "params.yaml": "split:\n  test_size: 0.2\n  seed: 42\n\ntrain:\n  seed: 42\n",
    }
    for name in [SCHEMA, "src/churn/train.py", "src/churn/data.py", "src/churn/features.py"]:
        text = flat_release.text(name)
        assert text is not None, name
        files[name] = text
    for name, (old, new) in edits.items():
        assert old in files[name], f"fixture out of date: {old!r} is not in {name}"
        files[name] = files[name].replace(old, new, 1)
    return git_repo(path, files)


def run_layout(project: Path) -> list[str]:
    return package_layout.migrate(project, ROOT, FLAT_COMMIT)


def test_layout_migration_replaces_an_unedited_schema_by_the_release_contract(
    tmp_path: Path, flat_release: package_layout.Release
) -> None:
    project = flat_project(tmp_path, flat_release, {})
    lines = run_layout(project)
    assert f"{SCHEMA}: your declarations are as released; removed" in lines[0]
    assert not (project / SCHEMA).exists()
    assert not (project / CONTRACT).exists(), "copier renders the release's contract.py when none exists"


def test_layout_migration_keeps_only_the_teams_declarations_with_their_edits(
    tmp_path: Path, flat_release: package_layout.Release
) -> None:
    added = "\n# The team: first day of the billing system.\nBILLING_START = datetime(2020, 1, 1)\n"
    project = flat_project(
        tmp_path,
        flat_release,
        {SCHEMA: (TENURE, TEAM_TENURE)},
    )
    (project / SCHEMA).write_text((project / SCHEMA).read_text() + added)
    git(project, "commit", "-qam", "a declaration of the team's own")
    lines = run_layout(project)
    assert any(
        f"{SCHEMA} -> {CONTRACT}: kept your declarations (SCHEMA_VERSION, COLUMNS, TARGET, BILLING_START)" in line
        for line in lines
    ), lines
    contract = (project / CONTRACT).read_text()
    assert TEAM_TENURE in contract
    assert "# The team: first day of the billing system." in contract
    tree = ast.parse(contract)
    defined = [
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    ]
    assert defined == ["SCHEMA_VERSION", "COLUMNS", "TARGET", "BILLING_START"]
    assert not [node for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef)]
    imports = [ast.unparse(node) for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    assert imports == [
        "from __future__ import annotations",
        "from datetime import datetime",
        "from .core.columns import Column, Role",
    ]
    assert {f"A  {CONTRACT}", f"D  {SCHEMA}", "M  params.yaml"} <= set(
        git(project, "status", "--porcelain").splitlines()
    )
    assert not (project / SCHEMA).exists()


def test_layout_migration_stops_on_edited_schema_machinery_and_changes_nothing(
    tmp_path: Path, flat_release: package_layout.Release
) -> None:
    project = flat_project(
        tmp_path,
        flat_release,
        {SCHEMA: ('keep_default_na=False, na_values=[""]', 'keep_default_na=False, na_values=["", "NA"]')},
    )
    with pytest.raises(
        package_layout.MigrationError,
        match=r"platform part of src/churn/schema\.py: read_csv \(now in core\.validation\)",
    ):
        run_layout(project)
    assert git(project, "status", "--porcelain") == ""


def test_layout_migration_carries_an_edited_platform_module_to_its_new_path(
    tmp_path: Path, flat_release: package_layout.Release
) -> None:
    team_line = "# The team: retrained weekly, reviewed by Dana.\n"
    project = flat_project(tmp_path, flat_release, {})
    train = project / "src/churn/train.py"
    train.write_text(train.read_text() + "\n" + team_line)
    git(project, "commit", "-qam", "a comment of the team's")
    lines = run_layout(project)
    assert any(
        line.startswith("src/churn/train.py -> src/churn/pipeline/train.py: your edits carried") for line in lines
    )
    moved = (project / "src/churn/pipeline/train.py").read_text()
    assert moved.endswith(team_line)
    new_release = (ROOT / "template/src/{{package_name}}/pipeline/train.py").read_text()
    assert moved == new_release + "\n" + team_line, "the release's version with the team's lines merged in"
    assert not train.exists()
    assert (project / "src/churn/data.py").exists(), "an unedited module is left for copier to replace"


def test_layout_migration_merges_edited_features_with_conflict_markers(
    tmp_path: Path, flat_release: package_layout.Release
) -> None:
    team_line = '    features["tickets_per_session"] = rows["support_tickets_90d"] / (rows["sessions_30d"] + 1)\n'
    anchor = "    # One frame from all columns at once"
    project = flat_project(tmp_path, flat_release, {"src/churn/features.py": (anchor, team_line + anchor)})
    lines = run_layout(project)
    assert any(
        "src/churn/features.py: your edits merged into this release's version, with conflict markers" in line
        for line in lines
    ), lines
    features = (project / "src/churn/features.py").read_text()
    assert team_line in features
    assert "<<<<<<< yours (before updating)" in features
    assert "src/churn/features.py:" in leftovers(project).stdout


def test_layout_migration_replaces_unedited_features_by_the_release_version(
    tmp_path: Path, flat_release: package_layout.Release
) -> None:
    project = flat_project(tmp_path, flat_release, {})
    assert "src/churn/features.py: unedited; replaced by this release's version, yours from now on" in run_layout(
        project
    )
    assert not (project / "src/churn/features.py").exists(), "removed, so copier renders the release's version"


def test_layout_migration_adds_the_raw_data_path_and_keeps_the_teams_params(
    tmp_path: Path, flat_release: package_layout.Release
) -> None:
    project = flat_project(tmp_path, flat_release, {"params.yaml": ("  seed: 42\n", "  seed: 7\n")})
    before = (project / "params.yaml").read_text()
    run_layout(project)
    after = (project / "params.yaml").read_text()
    assert after.startswith(before), "the team's lines come first, untouched"
    assert yaml.safe_load(after)["data"]["raw"] == "data/raw/customers.csv"


def test_layout_migration_adds_a_key_inside_an_existing_section(tmp_path: Path) -> None:
    text = "split:\n  seed: 7\ndata:\n  # ours\n    extra: 1\n"
    with_key, added = package_layout.with_added_keys(text, {("data", "raw"): "data/raw/customers.csv"})
    assert added == ["data.raw: data/raw/customers.csv"]
    assert yaml.safe_load(with_key) == {"split": {"seed": 7}, "data": {"raw": "data/raw/customers.csv", "extra": 1}}
    assert package_layout.with_added_keys(with_key, {("data", "raw"): "elsewhere"}) == (with_key, [])


def test_layout_migration_twice_changes_nothing_the_second_time(
    tmp_path: Path, flat_release: package_layout.Release
) -> None:
    anchor = "    # One frame from all columns at once"
    project = flat_project(
        tmp_path,
        flat_release,
        {SCHEMA: (TENURE, TEAM_TENURE), "src/churn/features.py": (anchor, "    # ours\n" + anchor)},
    )
    run_layout(project)
    state = git(project, "status", "--porcelain"), {path: path.read_text() for path in project.rglob("*.py")}
    lines = run_layout(project)
    assert "src/churn/features.py: merged before, with conflicts left to resolve; unchanged" in lines
    assert (git(project, "status", "--porcelain"), {path: path.read_text() for path in project.rglob("*.py")}) == state


def test_layout_migration_stops_when_the_team_edited_a_file_the_release_removes(tmp_path: Path) -> None:
    files = {"tools/old.py": "x = 1\n", "src/churn/schema.py": "COLUMNS = ()\n"}
    old = package_layout.Release({name: name for name in files}, files.get, {})
    new = package_layout.Release({}, lambda name: None, {})
    project = git_repo(tmp_path, {"tools/old.py": "x = 2\n"})
    with pytest.raises(package_layout.MigrationError, match=r"tools/old\.py \(you edited\) is removed by this release"):
        package_layout.plan_migration(project, old, new, "churn", lambda path: False)
    assert (
        package_layout.plan_migration(project, old, new, "churn", lambda path: path.startswith("tools/")).messages == []
    )


def test_layout_migration_on_the_new_layout_does_nothing(tmp_path: Path) -> None:
    project = git_repo(tmp_path, {".copier-answers.yml": "package_name: churn\n", CONTRACT: "COLUMNS = ()\n"})
    assert package_layout.migrate(project, ROOT, FLAT_COMMIT) == [
        "the package is already laid out by concern; nothing to do"
    ]


def test_every_old_module_has_a_place_in_this_release(flat_release: package_layout.Release) -> None:
    """A module the flat release had is moved (mapped), split (schema.py), or still at its path."""
    new = package_layout.release_at(ROOT, None, LAYOUT_ANSWERS)
    old_modules = {path for path in flat_release.files if path.startswith("src/churn/")}
    unplaced = {
        path
        for path in old_modules
        if path not in new.files
        and path.removeprefix("src/churn/") not in package_layout.MOVED_MODULES
        and path != SCHEMA
    }
    assert unplaced == set()
    targets = [f"src/churn/{name}" for name in package_layout.MOVED_MODULES.values()]
    targets += list(package_layout.MOVED_FILES.values())
    assert [path for path in targets if path not in new.files] == []


def test_relock_leaves_a_conflicted_pyproject_to_the_user(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("<<<<<<< before updating\na\n=======\nb\n>>>>>>> after updating\n")
    code, message = relock(tmp_path)
    assert code == 0
    assert "Resolve them, then run `uv lock`" in message
    assert not (tmp_path / "uv.lock").exists()


def test_relock_exports_requirements_with_the_projects_own_pre_commit_hook() -> None:
    command = export_command(ROOT / "template")
    assert command is not None, "the template's .pre-commit-config.yaml lost its service-requirements hook"
    assert command[:2] == ["uv", "export"]
    assert command[-2:] == ["--output-file", "requirements/service.txt"]


def migration_versions(copier_yml: Path) -> list[Version]:
    settings = yaml.safe_load(copier_yml.read_text(encoding="utf-8"))
    return [Version(entry["version"]) for entry in settings.get("_migrations", []) if "version" in entry]


def test_versioned_migrations_are_listed_oldest_first(releases: Path) -> None:
    """Copier runs migrations in list order, not version order: a skipped release must not run them backwards."""
    for copier_yml in [COPIER_YML, releases / "copier.yml"]:
        assert migration_versions(copier_yml) == sorted(migration_versions(copier_yml)), copier_yml
    assert migration_versions(releases / "copier.yml") == [Version(OLDEST), Version(MIDDLE), Version(LATEST)]


def test_relock_outside_a_project_says_where_to_run(tmp_path: Path) -> None:
    code, message = relock(tmp_path)
    assert code == 1
    assert "no pyproject.toml" in message


# ─── The generated project's merge-leftover check ────────────────────────────────────────────


def test_leftover_check_passes_a_clean_project(tmp_path: Path) -> None:
    project = git_repo(tmp_path, {"README.md": "Title\n=======\n\ntext\n"})
    assert leftovers(project).returncode == 0


@pytest.mark.parametrize(
    ("files", "reported"),
    [
        ({"a.py": "x = 1\n<<<<<<< before updating\ny = 2\n=======\ny = 3\n>>>>>>> after updating\n"}, "a.py:2"),
        ({"src/a.py.rej": "@@ -1 +1 @@\n"}, "rejected hunk file: src/a.py.rej"),
    ],
    ids=["conflict-markers", "reject-file"],
)
def test_leftover_check_fails_on_conflicts_and_rejects(tmp_path: Path, files: dict[str, str], reported: str) -> None:
    project = git_repo(tmp_path, {"README.md": "clean\n"})
    for name, text in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    result = leftovers(project)
    assert result.returncode == 1
    assert reported in result.stdout
    assert "Resolve each conflict" in result.stderr


def test_leftover_check_finds_ignored_reject_files(tmp_path: Path) -> None:
    project = git_repo(tmp_path, {".gitignore": "*.rej\n"})
    (project / "pyproject.toml.rej").write_text("@@ -1 +1 @@\n")
    assert "pyproject.toml.rej" in leftovers(project).stdout


def test_leftover_check_fails_on_unmerged_paths(tmp_path: Path) -> None:
    project = git_repo(tmp_path, {"a.txt": "base\n"})
    git(project, "checkout", "-q", "-b", "other")
    (project / "a.txt").write_text("theirs\n")
    git(project, "commit", "-q", "-am", "theirs")
    git(project, "checkout", "-q", "main")
    (project / "a.txt").write_text("ours\n")
    git(project, "commit", "-q", "-am", "ours")
    subprocess.run(["git", "merge", "-q", "other"], cwd=project, capture_output=True, check=False)
    result = leftovers(project)
    # git lists an unmerged file once per merge stage; each leftover is reported once all the same.
    assert result.stdout.splitlines() == [
        "unmerged path: a.txt",
        "conflict marker: a.txt:1",  # <<<<<<< HEAD
        "conflict marker: a.txt:5",  # >>>>>>> other
    ]
    assert result.stderr.startswith("3 merge leftover(s).")


# ─── Fixture releases of the template ────────────────────────────────────────────────────────


def layout_release() -> str:
    """The release that introduced the package by concern: the version of package_layout.py's migration."""
    (version,) = [
        entry["version"]
        for entry in copier_settings()["_migrations"]
        if "package_layout.py" in " ".join(entry["command"])
    ]
    return version


# FLAT is the previous real release (this repository at FLAT_COMMIT); OLDEST is the working tree.
FLAT, OLDEST, MIDDLE, LATEST = "0.1.0", layout_release(), "0.3.0", "0.4.0"
GATE_TESTS = {OLDEST: "tests/test_gate.py", MIDDLE: "tests/test_promotion_gate.py", LATEST: "tests/test_gate_rules.py"}
README_LINE = "[uv](https://docs.astral.sh/uv/)"  # in the README's requirements line, whatever its wording
TRAIN_DOCSTRING, REVIEWED_TRAIN_DOCSTRING = '"""The train stage', '"""This train stage'  # as long: ruff's E501
TEMPLATE_DEPENDENCY = '"packaging>=24.0",'
USER_DEPENDENCY = "tabulate>=0.9"


def edit(path: Path, old: str, new: str) -> None:
    """Replace `old` (which must be there) by `new` in `path`."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture out of date: {old!r} is not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def move_migration(version: str, old: str, new: str) -> str:
    """A copier.yml `_migrations` entry that moves the team's `old` to `new` before rendering."""
    hook = "{{ _copier_conf.src_path }}/hooks/move_file.py"
    return (
        f'  - version: "{version}"\n'
        "    when: \"{{ _stage == 'before' }}\"\n"
        f'    command: ["{{{{ _copier_python }}}}", "{hook}", "{old}", "{new}"]\n'
    )


def add_migration(repo: Path, entry: str) -> None:
    """Append `entry` to copier.yml's `_migrations`: copier runs them in list order, so newest last."""
    end_of_migrations = "\n# Files the team owns after day one"
    edit(repo / "copier.yml", end_of_migrations, entry + end_of_migrations)


def release_0_3_0(repo: Path) -> None:
    """Change lines the team also edits, add a question, rename the gate tests with a migration."""
    template = repo / "template"
    edit(template / "README.md.jinja", README_LINE, "[uv](https://docs.astral.sh/uv/) 0.9+")
    append(template / "README.md.jinja", "\nQuestions about this project: {{ support_channel }}.\n")
    train = template / "src" / "{{package_name}}" / "pipeline" / "train.py"
    edit(train, TRAIN_DOCSTRING, REVIEWED_TRAIN_DOCSTRING)
    append(template / "docs" / "OWNERSHIP.md.jinja", "\nReviewed every quarter by the model owner.\n")
    edit(template / "params.yaml.jinja", "  test_size: 0.2\n", "  test_size: 0.25\n")
    gate_tests = template / "tests" / "test_gate.py.jinja"
    edit(gate_tests, "with a message naming it all.", "with a message naming the metric, threshold and version.")
    gate_tests.rename(template / "tests" / "test_promotion_gate.py.jinja")
    question = (
        'support_channel:\n  type: str\n  help: Where users of the model ask questions\n  default: "#ml-support"\n\n'
    )
    edit(repo / "copier.yml", "# ─── Computed values", question + "# ─── Computed values")
    add_migration(repo, move_migration(MIDDLE, GATE_TESTS[OLDEST], GATE_TESTS[MIDDLE]))


def release_0_4_0(repo: Path) -> None:
    """Rename the gate tests again (a second migration) and add a development dependency."""
    template = repo / "template"
    (template / "tests" / "test_promotion_gate.py.jinja").rename(template / "tests" / "test_gate_rules.py.jinja")
    edit(template / "pyproject.toml.jinja", '    "dvc>=3.60",\n', f'    "dvc>=3.60",\n    {TEMPLATE_DEPENDENCY}\n')
    add_migration(repo, move_migration(LATEST, GATE_TESTS[MIDDLE], GATE_TESTS[LATEST]))


def copy_working_tree(repo: Path) -> None:
    """The working tree (committed or not, minus ignored files) in place of what `repo` holds."""
    for path in repo.iterdir():
        if path.name != ".git":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    names = git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard").splitlines()
    for name in names:
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)


def flat_release_files(repo: Path) -> None:
    """The previous release, from this repository's history."""
    archive = subprocess.run(["git", "archive", FLAT_COMMIT], cwd=ROOT, capture_output=True, check=False)
    if archive.returncode:
        pytest.fail(f"the previous release {FLAT_COMMIT} is not in this clone: fetch the full history (fetch-depth: 0)")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(repo, filter="data")


def build_releases(repo: Path) -> Path:
    """The previous release, then the working tree released three times, each release a PEP 440 tag."""
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    releases = [
        (FLAT, flat_release_files),
        (OLDEST, copy_working_tree),
        (MIDDLE, release_0_3_0),
        (LATEST, release_0_4_0),
    ]
    for version, change in releases:
        change(repo)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"release {version}")
        git(repo, "tag", version)
    return repo


@pytest.fixture(scope="session")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_releases(tmp_path_factory.mktemp("template") / "shipshape")


# ─── Generated projects, edited the way a team would ─────────────────────────────────────────


@dataclass
class TeamEdits:
    """What the team changed after generating, to look for after every update."""

    package: str
    kept_verbatim: dict[str, str]  # user-owned files: byte for byte after the update
    markers: dict[str, str]  # template-owned file -> a line the team added (at its 0.1.0 name)
    deleted: str


def generate(releases: Path, variant: Variant, project: Path, version: str = OLDEST) -> str:
    """Generate `variant` at `version` (the oldest release of the current layout), commit it, return its package."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        worker = copier.run_copy(
            str(releases), project, data=dict(variant.data), defaults=True, vcs_ref=version, quiet=True
        )
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", f"generated from Shipshape {version}")
    return worker.answers.combined["package_name"]


TRAIN_HELPER = (
    "\n\ndef team_training_note() -> str:\n"
    '    """Where the team records its training decisions."""\n'
    '    return "docs/training.md"\n'
)


def make_team_edits(project: Path, package: str) -> TeamEdits:
    """Edits on lines the template changes, elsewhere in template files, a deletion, a dependency, team files."""
    edit(project / "README.md", README_LINE, "uv (the team uses the shared runner image)")
    feature_helper = (
        "\n\ndef team_feature_note() -> str:\n"
        '    """Where the team records its feature decisions."""\n'
        '    return "docs/features.md"\n'
    )
    append(project / "src" / package / "features.py", feature_helper)
    append(project / "src" / package / "pipeline" / "train.py", TRAIN_HELPER)
    gate_test = (
        "\n\ndef test_team_gate_threshold_is_configurable() -> None:\n"
        '    assert with_gate("roc_auc", 0.5).gate.threshold == 0.5\n'
    )
    append(project / GATE_TESTS[OLDEST], gate_test)
    (project / "LICENSE").unlink()
    append(project / "docs" / "OWNERSHIP.md", "\nModel owner signed off: Dana Smith, 2026-11-01.\n")
    edit(project / "params.yaml", "  seed: 42\n", "  seed: 7\n")
    for command in [["uv", "add", "--no-sync", USER_DEPENDENCY], export_command(project)]:
        subprocess.run(command, cwd=project, env=project_env(os.environ), check=True, capture_output=True)
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "the team's work")
    return TeamEdits(
        package=package,
        kept_verbatim={
            name: (project / name).read_text(encoding="utf-8")
            for name in ["docs/OWNERSHIP.md", "params.yaml", f"src/{package}/features.py"]
        },
        markers={
            "README.md": "the team uses the shared runner image",
            f"src/{package}/pipeline/train.py": "def team_training_note() -> str:",
            GATE_TESTS[OLDEST]: "def test_team_gate_threshold_is_configurable",
        },
        deleted="LICENSE",
    )


def copier_update(project: Path, releases: Path, version: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """`copier update` as a user runs it, through the CLI, to template `version`."""
    command = [sys.executable, "-m", "copier", "update", "--trust", "--defaults", "--vcs-ref", version, *extra]
    return subprocess.run(
        command, cwd=project, env=project_env(os.environ), capture_output=True, text=True, check=False
    )


def conflicted_files(project: Path) -> set[str]:
    """Files copier left unmerged or with conflict markers."""
    result = leftovers(project)
    return {line.split(": ", 1)[1].split(":")[0] for line in result.stdout.splitlines() if ": " in line}


TEAM_LINES = ("the team uses the shared runner image", "def test_team_gate_threshold_is_configurable")
CONFLICT = re.compile(r"^<<<<<<< [^\n]*\n(.*?)^=======\n(.*?)^>>>>>>> [^\n]*\n", re.DOTALL | re.MULTILINE)


def resolve(path: Path) -> None:
    """Resolve each conflict in `path` as a reviewer would: the team's lines where they added some, then
    the template's; elsewhere (lines only the template changed) the template's."""

    def choose(match: re.Match[str]) -> str:
        team, template = match.group(1), match.group(2)
        return team + template if any(line in team for line in TEAM_LINES) else template

    path.write_text(CONFLICT.sub(choose, path.read_text(encoding="utf-8")), encoding="utf-8")


@dataclass
class Updated:
    project: Path
    edits: TeamEdits
    outputs: list[str]  # copier's combined output, one entry per update run


def updated_project(releases: Path, variant: Variant, folder: Path, versions: list[str]) -> Updated:
    """Generate `variant` at the oldest release, apply the team's edits, update through `versions`."""
    project = folder / variant.name
    edits = make_team_edits(project, generate(releases, variant, project))
    outputs = []
    for version in versions:
        result = copier_update(project, releases, version)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout + result.stderr)
        if version != versions[-1]:
            for name in conflicted_files(project):
                resolve(project / name)
            git(project, "add", "-A")
            git(project, "commit", "-q", "-m", f"update to {version}")
    return Updated(project, edits, outputs)


CI_VARIANTS = variants_tagged("ci")


@pytest.fixture(scope="module", params=CI_VARIANTS, ids=[variant.name for variant in CI_VARIANTS])
def skipped_ahead(request: pytest.FixtureRequest, releases: Path, tmp_path_factory: pytest.TempPathFactory) -> Updated:
    """A CI variant's project updated from the oldest release straight to the latest, skipping one."""
    return updated_project(releases, request.param, tmp_path_factory.mktemp("skip"), [LATEST])


@pytest.fixture(scope="module")
def stepwise(releases: Path, tmp_path_factory: pytest.TempPathFactory) -> Updated:
    """The default variant updated one release at a time."""
    variant = next(variant for variant in CI_VARIANTS if "default" in variant.tags)
    return updated_project(releases, variant, tmp_path_factory.mktemp("step"), [MIDDLE, LATEST])


def latest_name(name: str) -> str:
    """Where a file the team edited at 0.1.0 lives at the latest release."""
    return GATE_TESTS[LATEST] if name == GATE_TESTS[OLDEST] else name


@pytest.mark.update
def test_every_team_edit_is_kept_or_surfaced_as_a_conflict(skipped_ahead: Updated) -> None:
    project, edits = skipped_ahead.project, skipped_ahead.edits
    for name, marker in edits.markers.items():
        path = project / latest_name(name)
        assert path.is_file(), f"{latest_name(name)} is missing after the update"
        assert marker in path.read_text(encoding="utf-8"), f"the team's edit to {name} was dropped"
    for name, text in edits.kept_verbatim.items():
        assert (project / name).read_text(encoding="utf-8") == text, f"the update changed the team's {name}"
    assert not (project / edits.deleted).exists(), "the update brought back a file the team deleted"


@pytest.mark.update
def test_conflicts_only_where_the_team_and_the_template_changed_the_same_lines(skipped_ahead: Updated) -> None:
    """README: both changed one line. The renamed module: copier has no common ancestor for the new
    name, so wherever the team's copy differs from the new version both sides are shown."""
    project = skipped_ahead.project
    assert conflicted_files(project) == {"README.md", GATE_TESTS[LATEST]}
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert "the team uses the shared runner image" in readme
    assert "uv](https://docs.astral.sh/uv/) 0.9+." in readme


@pytest.mark.update
def test_template_changes_reach_template_owned_files(skipped_ahead: Updated) -> None:
    project, package = skipped_ahead.project, skipped_ahead.edits.package
    assert REVIEWED_TRAIN_DOCSTRING in (project / "src" / package / "pipeline" / "train.py").read_text(encoding="utf-8")
    gate_tests = (project / GATE_TESTS[LATEST]).read_text(encoding="utf-8")
    assert "naming the metric, threshold and version" in gate_tests
    assert not (project / GATE_TESTS[OLDEST]).exists()
    assert not (project / GATE_TESTS[MIDDLE]).exists()
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["support_channel"] == "#ml-support"
    assert "Questions about this project: #ml-support." in (project / "README.md").read_text(encoding="utf-8")


@pytest.mark.update
def test_the_lock_keeps_the_teams_dependency_and_takes_the_templates(skipped_ahead: Updated) -> None:
    project = skipped_ahead.project
    pyproject = (project / "pyproject.toml").read_text(encoding="utf-8")
    assert f'"{USER_DEPENDENCY}"' in pyproject
    assert TEMPLATE_DEPENDENCY in pyproject
    lock = (project / "uv.lock").read_text(encoding="utf-8")
    assert 'name = "tabulate"' in lock
    assert 'name = "packaging", specifier = ">=24.0"' in lock
    subprocess.run(["uv", "lock", "--check"], cwd=project, env=project_env(os.environ), check=True)


@pytest.mark.update
def test_skipped_release_migrations_run_once_in_order(skipped_ahead: Updated) -> None:
    (output,) = skipped_ahead.outputs
    moves = re.findall(r"^migration (\S+): (.*)$", output, flags=re.MULTILINE)
    assert moves == [
        (
            MIDDLE,
            f"moved {GATE_TESTS[OLDEST]} -> {GATE_TESTS[MIDDLE]}, keeping your edits; "
            "the update merges the template's changes into it",
        ),
        (
            LATEST,
            f"moved {GATE_TESTS[MIDDLE]} -> {GATE_TESTS[LATEST]}, keeping your edits; "
            "the update merges the template's changes into it",
        ),
    ]
    assert output.count("relock: uv.lock and the exported requirements match") == 1


@pytest.mark.update
def test_stepwise_updates_run_each_migration_in_its_own_update(stepwise: Updated) -> None:
    first, second = (re.findall(r"^migration (\S+):", output, flags=re.MULTILINE) for output in stepwise.outputs)
    assert (first, second) == ([MIDDLE], [LATEST])
    for name, marker in stepwise.edits.markers.items():
        assert marker in (stepwise.project / latest_name(name)).read_text(encoding="utf-8")


@pytest.mark.update
def test_a_dirty_tree_is_refused_and_left_as_it_was(releases: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    generate(releases, CI_VARIANTS[0], project)
    append(project / "README.md", "\nwork in progress\n")
    result = copier_update(project, releases, LATEST)
    assert result.returncode != 0
    assert "dirty" in result.stderr
    assert git(project, "status", "--porcelain").split() == ["M", "README.md"]
    assert (project / GATE_TESTS[OLDEST]).is_file()


def project_checks(project: Path, tests: list[str]) -> None:
    """The checks the project's CI runs: leftovers, lock, lint, format, then `tests` (or all)."""
    env = project_env(os.environ)
    for command in [
        [sys.executable, str(LEFTOVERS_SCRIPT)],
        ["uv", "lock", "--check"],
        ["uv", "sync", "--frozen", "--quiet"],
        ["uv", "run", "--frozen", "ruff", "check", "."],
        ["uv", "run", "--frozen", "ruff", "format", "--check", "."],
        ["uv", "run", "--frozen", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
    ]:
        result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


@pytest.fixture(scope="module")
def resolved(skipped_ahead: Updated) -> Path:
    """The updated project with its conflicts resolved and committed."""
    project = skipped_ahead.project
    for name in conflicted_files(project):
        resolve(project / name)
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", f"update to Shipshape {LATEST}")
    return project


FAST_SUBSET = [GATE_TESTS[LATEST], "tests/test_features.py", "tests/test_contract.py", "tests/test_train.py"]


@pytest.mark.update
def test_the_updated_project_passes_lint_lock_and_its_touched_tests(resolved: Path) -> None:
    project_checks(resolved, FAST_SUBSET)


@pytest.mark.update
@pytest.mark.slow
def test_the_updated_default_project_passes_its_whole_suite(resolved: Path, request: pytest.FixtureRequest) -> None:
    if "default" not in request.node.callspec.params["skipped_ahead"].tags:
        pytest.skip("the whole suite runs for the default variant; the others run lint, lock and a subset")
    project_checks(resolved, [])


# ─── From the previous release's flat package to the package by concern ─────────────────────

FLAT_FEATURE = "tickets_per_session"
FLAT_FEATURE_LINE = f'    features["{FLAT_FEATURE}"] = rows["support_tickets_90d"] / (rows["sessions_30d"] + 1)\n'
FRAME_COMMENT = "    # One frame from all columns at once"
FLAT_TRAIN_LINES = "\n\n# The team: retrained weekly, reviewed by the model owner.\nTEAM_REVIEW_DAYS = 7\n"
ESTIMATOR_EDITS = {  # model family -> (the released code, the team's setting)
    "sklearn": ("(**settings, random_state=seed)", '(**{"early_stopping": False, **settings}, random_state=seed)'),
    "lightgbm": ('{"verbose": -1, **settings}', '{"verbose": -1, "n_jobs": 1, **settings}'),
}


@dataclass
class FlatUpdate:
    project: Path
    package: str
    output: str  # copier's combined output
    team_files: dict[str, str]  # the team's estimator.py and params.yaml before the update


def make_flat_team_edits(project: Path, package: str) -> dict[str, str]:
    """The contract (a column's range), the features (a derived one, the old way), the estimator, a platform module."""
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    package_dir = project / "src" / package
    edit(package_dir / "schema.py", TENURE, TEAM_TENURE)
    edit(package_dir / "features.py", FRAME_COMMENT, FLAT_FEATURE_LINE + FRAME_COMMENT)
    edit(
        package_dir / "features.py",
        "    return numeric + calendar\n",
        f'    return [*numeric, *calendar, "{FLAT_FEATURE}"]\n',
    )
    edit(package_dir / "estimator.py", *ESTIMATOR_EDITS[answers["model_family"]])
    append(package_dir / "train.py", FLAT_TRAIN_LINES)
    edit(project / "params.yaml", "  seed: 42\n", "  seed: 7\n")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "the team's work")
    return {
        name: (project / name).read_text(encoding="utf-8") for name in [f"src/{package}/estimator.py", "params.yaml"]
    }


@pytest.fixture(scope="module", params=CI_VARIANTS, ids=[variant.name for variant in CI_VARIANTS])
def from_flat(request: pytest.FixtureRequest, releases: Path, tmp_path_factory: pytest.TempPathFactory) -> FlatUpdate:
    """A CI variant's project generated at the previous release, edited, and updated to the working tree."""
    project = tmp_path_factory.mktemp("flat") / request.param.name
    package = generate(releases, request.param, project, FLAT)
    team_files = make_flat_team_edits(project, package)
    result = copier_update(project, releases, OLDEST)
    assert result.returncode == 0, result.stdout + result.stderr
    return FlatUpdate(project, package, result.stdout + result.stderr, team_files)


@pytest.mark.update
def test_flat_update_runs_the_layout_migration_once(from_flat: FlatUpdate) -> None:
    lines = re.findall(r"^migration (\S+): (.*)$", from_flat.output, flags=re.MULTILINE)
    assert {version for version, _ in lines} == {OLDEST}
    package = f"src/{from_flat.package}"
    expected = [
        f"{package}/schema.py -> {package}/contract.py: kept your declarations (SCHEMA_VERSION, COLUMNS, TARGET)",
        f"{package}/features.py: your edits merged into this release's version, with conflict markers",
        f"{package}/train.py -> {package}/pipeline/train.py: your edits carried into this release's version",
        "params.yaml: added data.raw: data/raw/customers.csv",
    ]
    for start in expected:
        assert any(message.startswith(start) for _, message in lines), (start, lines)


@pytest.mark.update
def test_flat_update_leaves_only_the_teams_declarations_in_the_contract(from_flat: FlatUpdate) -> None:
    package_dir = from_flat.project / "src" / from_flat.package
    assert not (package_dir / "schema.py").exists()
    contract = (package_dir / "contract.py").read_text(encoding="utf-8")
    assert TEAM_TENURE in contract
    tree = ast.parse(contract)
    body = tree.body[1:] if ast.get_docstring(tree) else tree.body
    assignments = [node for node in body if not isinstance(node, ast.Import | ast.ImportFrom)]
    assert [ast.unparse(node.targets[0] if isinstance(node, ast.Assign) else node.target) for node in assignments] == [
        "SCHEMA_VERSION",
        "COLUMNS",
        "TARGET",
    ]
    for machinery in ["core/columns.py", "core/validation.py", "core/requests.py", "core/contract.py"]:
        assert (package_dir / machinery).is_file(), f"the release's {machinery} holds the machinery"


@pytest.mark.update
def test_flat_update_keeps_or_surfaces_every_team_edit(from_flat: FlatUpdate) -> None:
    project, package = from_flat.project, f"src/{from_flat.package}"
    assert conflicted_files(project) == {f"{package}/features.py", f"{package}/pipeline/train.py"}
    assert FLAT_FEATURE_LINE in (project / package / "features.py").read_text(encoding="utf-8")
    assert FLAT_TRAIN_LINES.strip() in (project / package / "pipeline" / "train.py").read_text(encoding="utf-8")
    assert not (project / package / "train.py").exists()
    estimator = f"{package}/estimator.py"
    assert (project / estimator).read_text(encoding="utf-8") == from_flat.team_files[estimator]
    params = (project / "params.yaml").read_text(encoding="utf-8")
    assert params.startswith(from_flat.team_files["params.yaml"]), "the team's params.yaml lines, untouched"
    assert yaml.safe_load(params)["data"]["raw"] == "data/raw/customers.csv"


@pytest.mark.update
def test_flat_update_leaves_the_teams_data_alone(from_flat: FlatUpdate) -> None:
    raw = from_flat.project / "data" / "raw"
    assert (raw / "customers.csv").is_file()
    assert (raw / "customers.csv.dvc").is_file()
    assert sorted(path.name for path in raw.iterdir()) == [".gitignore", "customers.csv", "customers.csv.dvc"]


def resolve_flat(project: Path, package: str) -> None:
    """Resolve as a team would: the release's features.py with the derived feature added the documented
    way, and the release's train.py with the team's lines added back."""
    features = project / "src" / package / "features.py"
    shutil.copy2(ROOT / "template" / "src" / "{{package_name}}" / "features.py", features)
    text = features.read_text(encoding="utf-8")
    end_of_features = text.index("\n)\n", text.index("FEATURES: tuple[Feature, ...] = (\n"))
    declared = f'\n    Feature("{FLAT_FEATURE}", FeatureKind.NUMERIC, "Support tickets per product session"),'
    features.write_text(text[:end_of_features] + declared + text[end_of_features:], encoding="utf-8")
    edit(features, FRAME_COMMENT, FLAT_FEATURE_LINE + FRAME_COMMENT)  # computed last, as declared
    train = project / "src" / package / "pipeline" / "train.py"
    released = CONFLICT.sub(lambda match: match.group(2), train.read_text(encoding="utf-8"))
    train.write_text(released.replace(FLAT_TRAIN_LINES.strip() + "\n", "").rstrip("\n") + "\n" + FLAT_TRAIN_LINES)
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "update to the package by concern")


@pytest.mark.update
def test_flat_updated_project_passes_its_fast_tier_once_resolved(from_flat: FlatUpdate) -> None:
    resolve_flat(from_flat.project, from_flat.package)
    project_checks(from_flat.project, [])


# ─── Answers that move files: refused while the team's files are there, then carried ─────────

# The team's project has the guarded answers at the values whose change moves files (the fast tier,
# tests/test_answer_changes.py, runs the guard on every such answer; here copier runs it).
MOVING_VARIANT = Variant(
    "moving-answers", {"kubernetes": True, "experiment_tracking": "mlflow", "monitoring_report": "evidently"}
)
TEAM_MARK = "\n\n# The team: reviewed by Dana on 2026-11-02.\n"  # ruff-formatted after any module


@dataclass
class MovingProject:
    project: Path
    package: str
    head: str
    team_files: dict[str, str]  # every file the team edited -> its text


@pytest.fixture(scope="module")
def moving_project(releases: Path, tmp_path_factory: pytest.TempPathFactory) -> MovingProject:
    """The issue's project: generated, committed; the team edited the contract, the estimator, a platform
    module and a file of each optional feature, and committed."""
    project = tmp_path_factory.mktemp("moving") / "project"
    package = generate(releases, MOVING_VARIANT, project)
    edited = [
        f"src/{package}/contract.py",
        f"src/{package}/estimator.py",
        f"src/{package}/pipeline/train.py",
        "deploy/kubernetes/deployment.yaml",
        "tests/test_tracking.py",
        "tests/test_evidently_report.py",
    ]
    for name in edited:
        append(project / name, TEAM_MARK)
    git(project, "commit", "-qam", "the team's work")
    files = {name: (project / name).read_text(encoding="utf-8") for name in edited}
    return MovingProject(project, package, git(project, "rev-parse", "HEAD").strip(), files)


def assert_untouched(moving: MovingProject) -> None:
    """The project is exactly as the team committed it."""
    assert git(moving.project, "status", "--porcelain", "--untracked-files=all") == ""
    assert git(moving.project, "rev-parse", "HEAD").strip() == moving.head
    for name, text in moving.team_files.items():
        assert (moving.project / name).read_text(encoding="utf-8") == text, name


@pytest.mark.update
@pytest.mark.parametrize(("answer", "value"), [("package_name", "renamed_pkg"), ("kubernetes", "false")])
def test_an_answer_that_moves_the_teams_files_is_refused_before_anything_changes(
    moving_project: MovingProject, releases: Path, answer: str, value: str
) -> None:
    """The issue's `copier update --trust --defaults --data package_name=renamed_pkg`, across two
    releases whose migrations would move a file: refused first, one line, nothing changed."""
    result = copier_update(moving_project.project, releases, LATEST, "--data", f"{answer}={value}")
    assert result.returncode != 0, f"the update went through:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("update refused")]
    assert line.startswith(f"update refused, nothing changed: {answer} (")
    assert "migration " not in result.stdout, "a migration ran before the refusal"
    assert_untouched(moving_project)
    if answer == "package_name":  # docs/updating.md shows this line
        docs = (ROOT / "docs" / "updating.md").read_text(encoding="utf-8")
        shown = next(line for line in docs.splitlines() if line.startswith("update refused"))
        counted = re.compile(r"\d+ file\(s\)")  # the number of files grows with the template
        assert counted.sub("N file(s)", shown) == counted.sub("N file(s)", line)


@pytest.mark.update
def test_an_answer_that_moves_files_changed_at_the_prompt_is_refused(
    moving_project: MovingProject, releases: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interactively the new answer arrives after the migrations: copier.yml's `_exclude` guard refuses it
    before any file is written. The prompt is copier's own, answering as a person would."""

    def prompt(questions: list[dict], answers: dict) -> dict:
        (question,) = questions
        name = question["name"]
        return {name: question["filter"]("n") if name == "kubernetes" else answers[name]}

    monkeypatch.setattr("copier._main.unsafe_prompt", prompt)
    project = moving_project.project
    refusal = r"update refused before writing any file: kubernetes \(True -> False\) moves files\. Undo"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception, match=refusal):
            copier.run_update(project, vcs_ref=LATEST, defaults=False, unsafe=True, overwrite=True, quiet=True)
    # Copier asks after the `before` migrations: the two releases' renames of the gate tests ran; nothing else.
    assert git(project, "status", "--porcelain", "--untracked-files=all").splitlines() == [
        f"R  {GATE_TESTS[OLDEST]} -> {GATE_TESTS[LATEST]}"
    ]
    subprocess.run(["git", "reset", "-q", "--hard"], cwd=project, check=True)  # as the refusal says
    subprocess.run(["git", "clean", "-q", "-fd"], cwd=project, check=True)
    assert_untouched(moving_project)


@pytest.mark.update
def test_the_documented_rename_carries_every_team_edit(
    moving_project: MovingProject, releases: Path, tmp_path: Path
) -> None:
    """docs/updating.md's way: `git mv` the package, commit, update with the new name."""
    project, old = tmp_path / "project", moving_project.package
    shutil.copytree(moving_project.project, project, symlinks=True)
    git(project, "mv", f"src/{old}", "src/renamed_pkg")
    git(project, "commit", "-qm", "Rename the package to renamed_pkg")
    result = copier_update(project, releases, LATEST, "--data", "package_name=renamed_pkg")
    assert result.returncode == 0, result.stderr
    assert not (project / "src" / old).exists()
    for name, text in moving_project.team_files.items():
        renamed = project / name.replace(f"src/{old}/", "src/renamed_pkg/")
        if name.endswith(("contract.py", "estimator.py")):
            assert renamed.read_text(encoding="utf-8") == text, f"the update changed the team's {name}"
        else:
            assert TEAM_MARK in renamed.read_text(encoding="utf-8"), f"the team's edit to {name} was dropped"
    # Copier has no common ancestor for a moved file: the edited module and the gate tests (renamed by
    # the releases' migrations) show both versions; unedited modules come through clean.
    train = "src/renamed_pkg/pipeline/train.py"
    assert conflicted_files(project) == {train, GATE_TESTS[LATEST]}
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["package_name"] == "renamed_pkg"
    assert 'renamed_pkg = "renamed_pkg.cli:main"' in (project / "pyproject.toml").read_text(encoding="utf-8")
    resolve(project / GATE_TESTS[LATEST])
    text = (project / train).read_text(encoding="utf-8")
    (project / train).write_text(CONFLICT.sub(lambda match: match.group(1), text), encoding="utf-8")  # the team's
    # The old name is left only in the team's own files (the docs say to fix those by hand) ...
    team_owned = pathspec.GitIgnoreSpec.from_lines(copier_settings()["_skip_if_exists"])
    mentions = git(project, "grep", "-lw", old, check=False).splitlines()
    assert [name for name in mentions if not team_owned.match_file(name)] == []
    # ... the lock names the renamed distribution, and the project's lint passes once resolved.
    assert 'name = "renamed-pkg"' in (project / "uv.lock").read_text(encoding="utf-8")
    for check in [["check", "."], ["format", "--check", "."]]:
        result = subprocess.run([sys.executable, "-m", "ruff", *check], cwd=project, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


# ─── The generated scheduled update workflow ─────────────────────────────────────────────────


def scheduled_update(project: Path) -> dict:
    return yaml.safe_load((project / ".github" / "workflows" / "template-update.yml").read_text(encoding="utf-8"))


def test_scheduled_update_checks_then_updates_with_trust(project: Path) -> None:
    workflow = scheduled_update(project)
    scripts = [step.get("run", "") for step in workflow["jobs"]["update"]["steps"]]
    assert any("copier check-update --output-format json" in script for script in scripts)
    assert any("copier update --trust --defaults" in script for script in scripts)
    assert any(".github/scripts/check_update_leftovers.py" in script for script in scripts)
    assert any("gh pr create" in script for script in scripts)
    minimum = Version(copier_settings()["_min_copier_version"])
    assert Version(workflow["env"]["COPIER_VERSION"]) >= minimum


def test_scheduled_update_has_least_privilege_and_pinned_actions(project: Path) -> None:
    workflow = scheduled_update(project)
    assert workflow["permissions"] == {}
    assert workflow["jobs"]["update"]["permissions"] == {"contents": "write", "pull-requests": "write"}
    actions = [step["uses"] for step in workflow["jobs"]["update"]["steps"] if "uses" in step]
    assert actions
    assert [action for action in actions if not re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action)] == []


def test_generated_ci_fails_on_merge_leftovers(project: Path) -> None:
    ci = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
    scripts = [step.get("run", "") for step in ci["jobs"]["checks"]["steps"]]
    assert "python3 .github/scripts/check_update_leftovers.py" in scripts
