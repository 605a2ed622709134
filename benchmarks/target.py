"""The generated project a benchmark measures: its folder, its package and its modules.

The benchmarks are the template maintainers' and ship with no project. Each runs in the
environment of a project rendered from this template, and from that project's folder (its
modules read `ml-project.yaml` and `models/registry` relative to it):

    uv run --project <project> python benchmarks/serve.py

`--project` defaults to the project whose virtualenv runs the script (uv's `<project>/.venv`),
else the current folder. The package name comes from the project's `.copier-answers.yml`.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

import yaml

ANSWERS_FILE = ".copier-answers.yml"
BENCHMARKS_DIR = Path(__file__).resolve().parent
TEMPLATE_ROOT = BENCHMARKS_DIR.parent


def default_project() -> Path:
    """The project whose `.venv` runs this interpreter, else the current folder."""
    venv_owner = Path(sys.prefix).parent
    return venv_owner if (venv_owner / ANSWERS_FILE).is_file() else Path.cwd()


def enter_project(project: Path | None) -> Path:
    """Make `project` (or the default) the working folder, so the project's modules find their files."""
    folder = (project or default_project()).resolve()
    if not (folder / ANSWERS_FILE).is_file():
        sys.exit(f"{folder} is not a project rendered from this template (no {ANSWERS_FILE}): pass --project")
    os.chdir(folder)
    return folder


def package_name(project: Path | None = None) -> str:
    """The generated package's import name, from the project's copier answers."""
    answers = yaml.safe_load(((project or Path.cwd()) / ANSWERS_FILE).read_text(encoding="utf-8"))
    return answers["package_name"]


def project_module(name: str, project: Path | None = None) -> ModuleType:
    """The project's module `<package>.<name>`, e.g. `project_module("serving.service")`."""
    return importlib.import_module(f"{package_name(project)}.{name}")


def import_tools() -> None:
    """Put the template repo on the path for `tools.servers` (standard library only)."""
    if str(TEMPLATE_ROOT) not in sys.path:
        sys.path.insert(0, str(TEMPLATE_ROOT))
