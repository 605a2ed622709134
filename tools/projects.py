"""Working with a generated project from the outside: its environment and its example request."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from pathlib import Path

import yaml

# A fresh CI machine has no git identity; everything that commits brings its own.
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Shipshape",
    "GIT_AUTHOR_EMAIL": "shipshape@example.invalid",
    "GIT_COMMITTER_NAME": "Shipshape",
    "GIT_COMMITTER_EMAIL": "shipshape@example.invalid",
}


def project_env(base: Mapping[str, str], **extra: str) -> dict[str, str]:
    """`base` without this repo's virtualenv, with a git identity and DVC analytics off."""
    inherited = {key: value for key, value in base.items() if key != "VIRTUAL_ENV"}
    return {**inherited, **GIT_IDENTITY, "DVC_NO_ANALYTICS": "1", **extra}


def example_request(project: Path, env: Mapping[str, str]) -> dict:
    """A valid /predict body, from the generated project's own `example-request` command."""
    package = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))["package_name"]
    result = subprocess.run(
        ["uv", "run", "--frozen", package, "example-request"], cwd=project, env=env, check=True, capture_output=True
    )
    return json.loads(result.stdout)
