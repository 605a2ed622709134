"""The model registry: every version that passed the gate, and which one is promoted.

A folder in the repository, tracked by DVC (it is the `register` stage's output):

    models/registry/
      promoted.json                the pointer: the promoted version and the promotion history
      versions/<version>/
        model.skops, model.json    the model and its lineage (with the file's SHA-256)
        metrics.json               its offline metrics
        reference_profile.json     feature and prediction distributions monitoring compares with
        fairness.json              the fairness report, which `promote` judges again

The service serves the promoted version; promoting and rolling back only move the pointer.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..core.errors import ProjectError
from .artifacts import MODEL_FILE, metadata_path

REGISTRY_PATH = Path("models/registry")
REGISTRY_ENV = "MODEL_REGISTRY"  # overrides REGISTRY_PATH for the service (tests, a mounted volume)
POINTER_FILE = "promoted.json"
METRICS_FILE = "metrics.json"
REFERENCE_PROFILE_FILE = "reference_profile.json"
FAIRNESS_FILE = "fairness.json"


def served_registry_path() -> Path:
    """The registry the service reads: $MODEL_REGISTRY, else `models/registry`."""
    return Path(os.environ.get(REGISTRY_ENV, REGISTRY_PATH))


class RegistryError(ProjectError):
    """The registry has no such version, nothing promoted, or a version is incomplete."""


@dataclass(frozen=True)
class Registry:
    root: Path = REGISTRY_PATH

    @property
    def pointer_path(self) -> Path:
        return self.root / POINTER_FILE

    def version_dir(self, version: str) -> Path:
        return self.root / "versions" / version

    def model_path(self, version: str) -> Path:
        return self.version_dir(version) / MODEL_FILE

    def versions(self) -> list[str]:
        """Every registered version, oldest first (versions are UTC timestamps)."""
        versions_dir = self.root / "versions"
        if not versions_dir.is_dir():
            return []
        # A dot-name is a version still being copied in (see `register`): not a version yet.
        return sorted(path.name for path in versions_dir.iterdir() if path.is_dir() and not path.name.startswith("."))

    def history(self) -> list[dict[str, Any]]:
        """Every promotion so far, oldest first: version, time and reason."""
        if not self.pointer_path.is_file():
            return []
        return json.loads(self.pointer_path.read_text(encoding="utf-8"))["history"]

    def promoted_version(self) -> str | None:
        """The version the service serves, or None before the first promotion."""
        history = self.history()
        return history[-1]["version"] if history else None

    def require_promoted(self) -> str:
        """The promoted version; raises with the fix when nothing is promoted yet."""
        version = self.promoted_version()
        if version is None:
            raise RegistryError(f"no promoted model in {self.root}: run `uv run dvc repro` (or `uv run dvc pull`)")
        return version

    def previous_version(self) -> str | None:
        """The version promoted before the current one, if it is still registered."""
        earlier = [entry["version"] for entry in self.history()[:-1]]
        current = self.promoted_version()
        candidates = [version for version in reversed(earlier) if version != current]
        return next((version for version in candidates if self.model_path(version).is_file()), None)

    def metrics(self, version: str) -> dict[str, float]:
        path = self.version_dir(version) / METRICS_FILE
        if not path.is_file():
            raise RegistryError(f"version {version} has no {METRICS_FILE} in {self.root}")
        return json.loads(path.read_text(encoding="utf-8"))

    def fairness(self, version: str) -> dict[str, Any] | None:
        """The fairness report registered with `version`; None for a version registered before there was one."""
        path = self.version_dir(version) / FAIRNESS_FILE
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def register(
        self, model_dir: Path, metrics_path: Path, reference_profile_path: Path, *reports: Path
    ) -> tuple[str, bool]:
        """Copy a trained model and its evaluation (and `reports`: the fairness report) in as a new version;
        return (version, newly added).

        Registering the same version again changes nothing, so rerunning the stage is safe.
        """
        model_path = model_dir / MODEL_FILE
        version = json.loads(metadata_path(model_path).read_text(encoding="utf-8"))["version"]
        destination = self.version_dir(version)
        if destination.is_dir():
            return version, False
        staging = destination.with_name(f".{version}.incomplete")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for source in (model_path, metadata_path(model_path), metrics_path, reference_profile_path, *reports):
            shutil.copy2(source, staging / source.name)
        staging.rename(destination)  # a version appears complete or not at all
        return version, True

    def promote(self, version: str, reason: str, by: str | None = None) -> None:
        """Point the service at `version`, recording when, why and (if given) by whom in the history."""
        if not self.model_path(version).is_file():
            known = ", ".join(self.versions()) or "none"
            raise RegistryError(f"no version {version!r} in {self.root} (registered: {known})")
        entry = {"version": version, "promoted_at": datetime.now(UTC).isoformat(timespec="seconds"), "reason": reason}
        if by is not None:
            entry["promoted_by"] = by
        pointer = {"promoted": version, "history": [*self.history(), entry]}
        temporary = self.pointer_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(pointer, indent=2) + "\n", encoding="utf-8")
        temporary.replace(self.pointer_path)


def register_candidate(
    registry: Registry, model_dir: Path, metrics_path: Path, reports_dir: Path, decision_path: Path
) -> str:
    """The register stage: add a candidate that passed the gate and promote it; return a summary."""
    decision = json.loads(decision_path.read_text(encoding="utf-8"))
    if not decision.get("passed"):
        raise RegistryError(f"{decision_path}: the candidate did not pass the gate, so it is not registered")
    evaluation = (reports_dir / REFERENCE_PROFILE_FILE, reports_dir / FAIRNESS_FILE)
    version, added = registry.register(model_dir, metrics_path, *evaluation)
    if not added:
        return f"{version} is already registered; the promoted version stays {registry.promoted_version()}"
    registry.promote(version, reason=decision["explanation"])
    return f"registered and promoted {version} -> {registry.version_dir(version)}"
