"""Re-lock the project after `copier update`: `uv lock`, keeping the team's own dependencies.

`uv.lock` and the service's requirements exported from it are excluded from the update (a lock
cannot be merged as text). After the update merges `pyproject.toml` (the template's changes and
the dependencies the team added), this brings both back in line: `uv lock` keeps every pin that
still satisfies pyproject.toml and resolves only what changed (it needs the package index), then
the project's own `service-requirements` pre-commit hook re-exports the requirements. Idempotent:
on a current lock it changes nothing.

Run by copier as an `after` migration on every update; safe to run by hand too.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

CONFLICT_PREFIXES = ("<<<<<<< ", ">>>>>>> ")
EXPORT_HOOK = "service-requirements"


def has_conflict_markers(path: Path) -> bool:
    """Whether `path` still holds merge conflict markers."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return any(line.startswith(CONFLICT_PREFIXES) or line in {"<<<<<<<", ">>>>>>>"} for line in lines)


def export_command(project: Path) -> list[str] | None:
    """The project's own command that exports requirements from the lock (its pre-commit hook), if any."""
    config = project / ".pre-commit-config.yaml"
    if not config.is_file():
        return None
    hooks = [hook for repo in yaml.safe_load(config.read_text(encoding="utf-8"))["repos"] for hook in repo["hooks"]]
    entries = [hook["entry"] for hook in hooks if hook["id"] == EXPORT_HOOK]
    return shlex.split(entries[0]) if entries else None


def run(project: Path, command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=project, capture_output=True, text=True, check=False)


def relock(project: Path) -> tuple[int, str]:
    """Re-lock and re-export in `project`; return an exit code and the message to print."""
    pyproject = project / "pyproject.toml"
    if not pyproject.is_file():
        return 1, f"relock: no pyproject.toml in {project}; run copier update from the project's folder"
    if has_conflict_markers(pyproject):
        return 0, (
            "relock skipped: pyproject.toml has conflicts from the update. Resolve them, then run `uv lock` "
            f"and `uv run pre-commit run {EXPORT_HOOK} --all-files`, and commit (CI fails until you do)"
        )
    if shutil.which("uv") is None:
        return 1, "relock: uv is not on PATH. Install uv (https://docs.astral.sh/uv/), then run `uv lock`"
    for command in filter(None, [["uv", "lock"], export_command(project)]):
        result = run(project, command)
        if result.returncode != 0:
            return 1, f"relock: `{shlex.join(command)}` failed; fix pyproject.toml and run it again:\n{result.stderr}"
    return 0, "relock: uv.lock and the exported requirements match the updated pyproject.toml (your dependencies kept)"


def main() -> int:
    code, message = relock(Path.cwd())
    print(message, file=sys.stderr if code else sys.stdout, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
