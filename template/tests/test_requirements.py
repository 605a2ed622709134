"""The service's requirements are exactly the runtime share of uv.lock: the Bento installs them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs `uv export` in a subprocess; pre-commit checks the same on every commit

SERVICE_REQUIREMENTS = Path("requirements/service.txt")
# What the `service-requirements` pre-commit hook runs, printing to stdout instead of the file.
EXPORT = ["export", "--frozen", "--no-default-groups", "--no-emit-project", "--no-annotate"]


def without_header(text: str) -> str:
    """The requirements and their `# via` notes; uv's header names the output file, which differs."""
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#"))


def test_service_requirements_are_the_locked_runtime_dependencies() -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH; it exports requirements/service.txt from uv.lock")
    fresh = subprocess.run([uv, *EXPORT], capture_output=True, text=True, check=True).stdout  # noqa: S603
    assert without_header(SERVICE_REQUIREMENTS.read_text(encoding="utf-8")) == without_header(fresh), (
        "requirements/service.txt is stale: run `uv run pre-commit run service-requirements --all-files`"
    )
