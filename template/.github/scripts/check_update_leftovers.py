"""Fail when a `copier update` (or any merge) left work unfinished: conflicts, unmerged paths, rejects.

`copier update` exits 0 even when it could not merge a change: it leaves `<<<<<<<` markers in the
file, records the file as unmerged, or writes a `*.rej` file next to it. CI runs this check so
such an update cannot be merged by accident. Run it locally after an update:

    python .github/scripts/check_update_leftovers.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CONFLICT_MARKERS = ("<<<<<<<", ">>>>>>>")
SKIPPED_DIRS = {".git", ".venv", ".dvc", "node_modules", ".nox", ".ruff_cache", ".pytest_cache", "__pycache__"}


def git_lines(root: Path, *args: str) -> list[str]:
    """The output lines of a git command run in `root`."""
    # git from PATH with fixed arguments: the check runs wherever the developer's git is.
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)  # noqa: S603, S607
    return [line for line in result.stdout.splitlines() if line]


def unmerged_paths(root: Path) -> list[str]:
    """Paths git records as unmerged (copier marks its conflicted files this way)."""
    return sorted({line.split("\t", 1)[1] for line in git_lines(root, "ls-files", "--unmerged")})


def conflict_marker_lines(root: Path) -> list[str]:
    """`path:line` of every conflict marker in files git tracks or would track."""
    found = []
    # An unmerged file is listed once per merge stage (base, ours, theirs): read each file once.
    for name in sorted(set(git_lines(root, "ls-files", "--cached", "--others", "--exclude-standard"))):
        path = root / name
        if not path.is_file():
            continue
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            continue  # binary files carry no text markers
        found += [
            f"{name}:{number}"
            for number, line in enumerate(lines, start=1)
            if line.startswith(CONFLICT_MARKERS) and line[7:8] in {"", " "}
        ]
    return found


def reject_files(root: Path) -> list[str]:
    """`*.rej` files anywhere in the project, ignored ones included."""
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [name for name in subfolders if name not in SKIPPED_DIRS]
        found += [str((Path(folder) / name).relative_to(root)) for name in files if name.endswith(".rej")]
    return sorted(found)


def problems(root: Path) -> list[str]:
    """Every leftover of an unfinished merge in `root`, one line each."""
    return (
        [f"unmerged path: {path}" for path in unmerged_paths(root)]
        + [f"conflict marker: {where}" for where in conflict_marker_lines(root)]
        + [f"rejected hunk file: {path}" for path in reject_files(root)]
    )


def main() -> int:
    root = Path(git_lines(Path.cwd(), "rev-parse", "--show-toplevel")[0])
    found = problems(root)
    if not found:
        print("no merge leftovers: no conflict markers, unmerged paths or .rej files")
        return 0
    print("\n".join(found))
    print(
        f"{len(found)} merge leftover(s). Resolve each conflict (keep your change, the template's, or both), "
        "apply or delete each .rej file by hand, then `git add` the files and run this check again.",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
