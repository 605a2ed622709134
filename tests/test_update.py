"""`copier update` takes template changes into template-owned files and never touches user-owned ones.

A throwaway copy of the working tree is released as v1, a project is generated from it and
edited the way a team would, then the template changes every file on both sides of the
ownership line and is released as v2.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from pathlib import Path

import copier
import pytest
import yaml

from tools.projects import GIT_IDENTITY
from tools.variants import ROOT

pytestmark = pytest.mark.update

USER_OWNED = [
    "ml-project.yaml",
    "params.yaml",
    "src/{package}/schema.py",
    "docs/OWNERSHIP.md",
    "docs/MODEL_CARD.md",
    "docs/RUNBOOK.md",
    ".github/CODEOWNERS",
]
TEMPLATE_OWNED = ["README.md", "src/{package}/features.py", "dvc.yaml"]
V2_MARKER = "changed in template v2"


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **GIT_IDENTITY}, check=True, capture_output=True, text=True
    )
    return result.stdout


def template_source(name: str) -> str:
    """The file in template/ that renders to project path `name`."""
    candidates = [name.format(package="{{package_name}}"), name.format(package="{{package_name}}") + ".jinja"]
    return next(candidate for candidate in candidates if (ROOT / "template" / candidate).exists())


def append_comment(path: Path) -> None:
    """Add a v2 comment line in the file's own comment syntax."""
    markdown = path.name.removesuffix(".jinja").endswith(".md")
    line = f"<!-- {V2_MARKER} -->" if markdown else f"# {V2_MARKER}"
    path.write_text(path.read_text(encoding="utf-8") + line + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template as a git repository with tags v1 and v2; v2 edits every file under test."""
    repo = tmp_path_factory.mktemp("template") / "shipshape"
    tracked = git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard").splitlines()
    for name in tracked:
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "v1")
    git(repo, "tag", "v1")
    for name in USER_OWNED + TEMPLATE_OWNED:
        append_comment(repo / "template" / template_source(name))
    git(repo, "commit", "-q", "-am", "v2")
    git(repo, "tag", "v2")
    return repo


def test_update_changes_template_files_and_keeps_user_files(releases: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copier.run_copy(str(releases), project, defaults=True, vcs_ref="v1", quiet=True)
    package = yaml.safe_load((project / ".copier-answers.yml").read_text())["package_name"]
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "generated from v1")

    edited = {}
    for name in (entry.format(package=package) for entry in USER_OWNED):
        path = project / name
        path.write_text(path.read_text(encoding="utf-8") + "\n# the team's own edit\n", encoding="utf-8")
        edited[name] = path.read_text(encoding="utf-8")
    git(project, "commit", "-q", "-am", "team edits")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copier.run_update(project, defaults=True, overwrite=True, vcs_ref="v2", quiet=True)

    for name, content in edited.items():
        assert (project / name).read_text(encoding="utf-8") == content, f"{name} was changed by the update"
    for name in (entry.format(package=package) for entry in TEMPLATE_OWNED):
        assert V2_MARKER in (project / name).read_text(encoding="utf-8"), f"{name} missed the v2 change"
    files = [path for path in project.rglob("*") if path.is_file() and ".git" not in path.parts]
    assert [path for path in files if path.suffix == ".rej"] == []
    assert [path for path in files if "<<<<<<<" in path.read_text(encoding="utf-8", errors="ignore")] == []
