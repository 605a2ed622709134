"""Regenerate the committed uv locks: one per dependency set, shipped with the template.

A user's project gets its lock by rendering, never by resolving, so the lock they get is
the one the template's CI tested. Each lock is produced by `uv lock` inside a render and
stored with the project's distribution name replaced by the Jinja placeholder. Beside it
goes the service's share of that lock, `requirements/service.txt` as the generated
project's pre-commit hook exports it: the Bento installs exactly those pins. Copier cannot
run uv while rendering, so the export is committed per dependency set too.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

from tools.variants import ROOT, Variant, load_variants, render

LOCK_DIR = ROOT / "includes" / "locks"
REQUIREMENTS_DIR = ROOT / "includes" / "requirements"
# The same command as the generated project's `service-requirements` pre-commit hook: uv
# writes it into the file's header, so both must spell it alike for the files to match.
SERVICE_REQUIREMENTS = "requirements/service.txt"
EXPORT_SERVICE_REQUIREMENTS = (
    "uv",
    "export",
    "--frozen",
    "--no-default-groups",
    "--no-emit-project",
    "--no-annotate",  # "# via <project>" comments would name the representative render
    "--quiet",
    "--output-file",
    SERVICE_REQUIREMENTS,
)
NAME_PLACEHOLDER = "{{ project_slug }}"
OWN_SOURCE = 'source = { editable = "." }\n'
# uv records the project's default groups in its own entry, and omits them when they are
# just ["dev"]; the groups follow the answers, so that line is rendered, not stored.
DEFAULT_GROUPS_LINE = re.compile(r"^default-groups = .*\n", re.MULTILINE)
DEFAULT_GROUPS_TEMPLATE = (
    '{% if uv_default_groups != ["dev"] %}default-groups = {{ uv_default_groups | tojson }}\n{% endif %}'
)


def lock_path(dependency_set: str) -> Path:
    """Where the lock of one dependency set is committed."""
    return LOCK_DIR / f"{dependency_set}.lock"


def requirements_path(dependency_set: str) -> Path:
    """Where the service requirements exported from one dependency set's lock are committed."""
    return REQUIREMENTS_DIR / f"{dependency_set}.txt"


def to_template(lock_text: str, project_slug: str) -> str:
    """Replace the project's own distribution name with the placeholder copier fills in."""
    own_entry = re.compile(rf'^name = "{re.escape(project_slug)}"$', re.MULTILINE)
    templated, count = own_entry.subn(f'name = "{NAME_PLACEHOLDER}"', lock_text)
    if count != 1:
        raise ValueError(f"expected one package entry named {project_slug!r} in the lock, found {count}")
    if "{{" in lock_text or "{%" in lock_text:
        raise ValueError("the lock contains Jinja syntax; it cannot be shipped as a template include")
    own_entry_start = templated.index(f'name = "{NAME_PLACEHOLDER}"')
    source_end = templated.index(OWN_SOURCE, own_entry_start) + len(OWN_SOURCE)
    rest = DEFAULT_GROUPS_LINE.sub("", templated[source_end:], count=1)
    return templated[:source_end] + DEFAULT_GROUPS_TEMPLATE + rest


def representatives(variants: list[Variant], workdir: Path) -> dict[str, tuple[Variant, Path, str]]:
    """One rendered variant per dependency set: set name -> (variant, render, project slug)."""
    chosen: dict[str, tuple[Variant, Path, str]] = {}
    for variant in variants:
        destination = workdir / variant.name
        answers = render(variant, destination)
        chosen.setdefault(answers["dependency_set"], (variant, destination, answers["project_slug"]))
    return chosen


def refresh_locks(*, upgrade: bool = False) -> list[Path]:
    """Re-lock every dependency set (keeping current pins unless `upgrade`) and export its service
    requirements; return the files written."""
    written = []
    with tempfile.TemporaryDirectory(prefix="shipshape-lock-") as workdir:
        for dependency_set, (_, project, slug) in sorted(representatives(load_variants(), Path(workdir)).items()):
            lock = project / "uv.lock"
            if not lock.read_text(encoding="utf-8").strip():
                lock.unlink()  # bootstrapping a new dependency set: nothing to keep yet
            command = ["uv", "lock", "--upgrade"] if upgrade else ["uv", "lock"]
            subprocess.run(command, cwd=project, check=True)
            target = lock_path(dependency_set)
            target.write_text(to_template(lock.read_text(encoding="utf-8"), slug), encoding="utf-8")
            subprocess.run(EXPORT_SERVICE_REQUIREMENTS, cwd=project, check=True)
            exported = requirements_path(dependency_set)
            exported.parent.mkdir(parents=True, exist_ok=True)
            exported.write_text((project / SERVICE_REQUIREMENTS).read_text(encoding="utf-8"), encoding="utf-8")
            written.extend([target, exported])
    return written
