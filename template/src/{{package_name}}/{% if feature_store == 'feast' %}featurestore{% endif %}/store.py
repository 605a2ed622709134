"""Opening the project's Feast store (`feature_repo/feature_store.yaml`), and registering its objects.

Feast's import takes seconds: this package is imported by the commands and the service
worker that read the store, never by the rest of the project.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from feast import FeatureStore
from feast.repo_config import RepoConfig

from ..core.errors import ProjectError
from .definitions import feature_objects

FEATURE_REPO = Path("feature_repo")
STORE_CONFIG = FEATURE_REPO / "feature_store.yaml"


class FeatureStoreError(ProjectError):
    """The feature store is missing, unreadable, unreachable or never materialized."""


def open_store(
    repo: Path = FEATURE_REPO, *, registry: Path | None = None, online_store: Path | None = None
) -> FeatureStore:
    """The store `repo/feature_store.yaml` configures; `registry` and `online_store` put a local registry file
    and a SQLite online store there instead of the configured ones, whatever their type (the training join
    registers its objects in a scratch store: it reads only the offline store, and never writes the served ones)."""
    config_file = repo / STORE_CONFIG.name
    if not config_file.is_file():
        raise FeatureStoreError(f"{config_file} is missing: the feature store's configuration (docs/feature-store.md)")
    # As Feast's own `load_repo_config` reads it: ${VARIABLES} expanded, then its configuration classes.
    settings = yaml.safe_load(os.path.expandvars(config_file.read_text(encoding="utf-8")))
    if registry is not None:
        settings["registry"] = str(registry.resolve())
    if online_store is not None:
        settings["online_store"] = {"type": "sqlite", "path": str(online_store.resolve())}
    config = RepoConfig(**settings)
    config.repo_path = repo.resolve()
    return FeatureStore(repo_path=str(repo.resolve()), config=config)


def apply_definitions(store: FeatureStore) -> None:
    """Register the entity, views and feature service in `store`'s registry (what `feast apply` does)."""
    store.apply(feature_objects())
