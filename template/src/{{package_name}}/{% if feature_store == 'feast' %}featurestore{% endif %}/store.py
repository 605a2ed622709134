"""Opening the project's Feast store (`feature_repo/feature_store.yaml`), and registering its objects.

Feast's import takes seconds: this package is imported by the commands and the service
worker that read the store, never by the rest of the project.
"""

from __future__ import annotations

from pathlib import Path

from feast import FeatureStore
from feast.repo_config import load_repo_config

from ..core.errors import ProjectError
from .definitions import feature_objects

FEATURE_REPO = Path("feature_repo")
STORE_CONFIG = FEATURE_REPO / "feature_store.yaml"


class FeatureStoreError(ProjectError):
    """The feature store is missing, unreadable, unreachable or never materialized."""


def open_store(
    repo: Path = FEATURE_REPO, *, registry: Path | None = None, online_store: Path | None = None
) -> FeatureStore:
    """The store `repo/feature_store.yaml` configures; `registry` and `online_store` replace its SQLite
    paths (the training join registers its objects in a scratch registry, not the served one)."""
    config_file = repo / STORE_CONFIG.name
    if not config_file.is_file():
        raise FeatureStoreError(f"{config_file} is missing: the feature store's configuration (docs/feature-store.md)")
    config = load_repo_config(repo.resolve(), config_file.resolve())
    if registry is not None:
        config.registry.path = str(registry.resolve())
    if online_store is not None:
        config.online_store.path = str(online_store.resolve())
    return FeatureStore(repo_path=str(repo.resolve()), config=config)


def apply_definitions(store: FeatureStore) -> None:
    """Register the entity, views and feature service in `store`'s registry (what `feast apply` does)."""
    store.apply(feature_objects())
