"""The online feature lookup: what a feature-store project's service reads before it predicts.

A project whose `feature_views.py` declares views (`core.contract.view_columns`) serves rows
holding only the request's columns; the views' columns come from the online store, one read
per batch of rows (`featurestore.online`). A project without views has no lookup at all:
`open_lookup` returns None and never imports Feast, so its service does no extra work.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..core.contract import view_columns

Row = dict[str, Any]
ONLINE_MODULE = "..featurestore.online"  # imported by name: only feature-store projects have the package
# Another feature repository than the project's `feature_repo/` (its feature_store.yaml names the stores):
# a deployment's, or a test's store in a temporary folder.
FEATURE_REPO_ENV = "FEATURE_REPO"


@dataclass(frozen=True, slots=True)
class LookedUp:
    """One batch after the lookup, row by row.

    `rows`: each request row with every view column added (missing where the store has no
    value, or only a stale one); `unknown`: the store knows nothing of the row's entity;
    `stale`: the views whose newest value was older than their ttl at the row's time.
    """

    rows: list[Row]
    unknown: list[bool]
    stale: list[tuple[str, ...]]


class FeatureLookup(Protocol):
    """Reads the feature views' columns for a batch of rows."""

    entity: str  # the identifier field a request names its entity with
    store: str  # where the online store is, for messages

    def read(self, rows: list[Row]) -> LookedUp: ...


UNKNOWN_ENTITY_STATUS = 422


def client_statuses() -> dict[int, str]:
    """The statuses the lookup adds to the service's OpenAPI document: a 422 for an unknown entity (with views)."""
    if not view_columns():
        return {}
    return {UNKNOWN_ENTITY_STATUS: "Unknown entity: the online feature store has no features for the identifier"}


def open_lookup() -> FeatureLookup | None:
    """The project's online lookup, opened and checked once per process; None without feature views.

    Feast (seconds to import) is imported here, in feature-store projects only. The store is
    the one `$FEATURE_REPO/feature_store.yaml` configures (default: the project's). Raises the
    store's `ProjectError` when it is missing, unreadable or was never materialized.
    """
    if not view_columns():
        return None
    online = importlib.import_module(ONLINE_MODULE, __package__)
    repo = Path(os.environ.get(FEATURE_REPO_ENV) or online.FEATURE_REPO)
    lookup: FeatureLookup = online.OnlineFeatures.open(repo)
    return lookup
