"""The service's read of the feature views from the online store: one Feast call per batch of rows.

A view's value is stale when it was recorded more than the view's ttl before the row's own
point in time (the contract's timestamp column). Training never sees such a value: Feast's
offline join drops the row and the training join re-attaches it with the view's values
missing. So the service does the same: it flags the view as stale and predicts with its
values missing, as the model learnt to, rather than with a value training would not have
used. A row whose entity no view knows is `unknown`: the service's policy decides
(`feature_store.unknown_entity` in ml-project.yaml). The online store holds each entity's
newest values only: a request dated before them still gets them (there are no older ones to
give); an answer as of a past date is the offline join's job (batch scoring).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feast import FeatureService, FeatureStore
from feast.errors import FeastObjectNotFoundException
from feast.protos.feast.serving.ServingService_pb2 import FieldStatus

from .. import feature_views
from ..serving.lookup import LookedUp, Row
from .definitions import FEATURE_SERVICE
from .store import FEATURE_REPO, FeatureStoreError, open_store
from .views import HistoryView, entity_column, event_timestamp_column

COMMAND = __package__.partition(".")[0]


def seconds_since_epoch(moment: datetime) -> float:
    """`moment` as Unix time; a naive value is UTC, as the contract's timestamps are."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def store_location(store: FeatureStore, repo: Path = FEATURE_REPO) -> str:
    """Where the online store is, for messages: the SQLite file's path, or the store's type."""
    online = store.config.online_store
    path = getattr(online, "path", None)
    if getattr(online, "type", None) != "sqlite" or path is None:
        return f"the {getattr(online, 'type', 'configured')} online store of {repo / 'feature_store.yaml'}"
    return os.path.normpath(path if Path(path).is_absolute() else repo / path)


def registry_file(store: FeatureStore, repo: Path = FEATURE_REPO) -> Path | None:
    """The local registry file `repo`'s configuration names (checked before reading: Feast would create an empty
    one), or None for a registry in a database or object storage (Feast's read of it is the check)."""
    registry = store.config.registry
    if getattr(registry, "registry_type", "file") != "file" or "://" in str(registry.path):
        return None
    path = Path(registry.path)
    return path if path.is_absolute() else Path(os.path.normpath(repo / path))


def materialized_until(store: FeatureStore, views: tuple[HistoryView, ...]) -> dict[str, datetime | None]:
    """The end of each view's newest materialization, as Feast's registry records it; None if never."""
    ends: dict[str, datetime | None] = {}
    for view in views:
        try:
            intervals = store.get_feature_view(view.name).materialization_intervals
        except FeastObjectNotFoundException:  # never applied to this registry
            intervals = []
        newest = max((end for _, end in intervals), default=None)
        ends[view.name] = newest if newest is None or newest.tzinfo else newest.replace(tzinfo=UTC)
    return ends


def materialization_problems(
    store: FeatureStore, views: tuple[HistoryView, ...] | None = None, now: datetime | None = None
) -> list[str]:
    """Views (default: every view) never materialized and, given `now`, those whose newest materialization is
    older than their ttl: the online store then holds nothing newer than a value already stale."""
    views = feature_views.VIEWS if views is None else views
    ends = materialized_until(store, views)
    problems = []
    for view in views:
        end = ends[view.name]
        if end is None:
            problems.append(f"view {view.name!r} was never materialized: run `{COMMAND} materialize`")
        elif now is not None and now - end > view.ttl:
            problems.append(
                f"view {view.name!r} was last materialized up to {end:%Y-%m-%d %H:%M} UTC, older than its ttl "
                f"({view.ttl}): run `{COMMAND} materialize`"
            )
    return problems


@dataclass(frozen=True)
class _ViewColumns:
    name: str
    columns: tuple[str, ...]
    ttl_seconds: float


class OnlineFeatures:
    """The feature views' columns for a batch of rows, from the online store (see the module docstring)."""

    def __init__(self, store: FeatureStore, service: FeatureService, store_path: str) -> None:
        self.feast = store
        self.service = service
        self.store = store_path
        self.entity = entity_column().name
        self.timestamp = event_timestamp_column().name
        self.views = tuple(
            _ViewColumns(view.name, tuple(column.name for column in view.columns), view.ttl.total_seconds())
            for view in feature_views.VIEWS
        )

    @classmethod
    def open(cls, repo: Path = FEATURE_REPO) -> OnlineFeatures:
        """The store `repo` configures, checked: files present, every view materialized, one read answered.

        Raises `FeatureStoreError` naming the store otherwise, so that a service fails (or falls
        back) at start-up, not at its first request.
        """
        store = open_store(repo)
        location = store_location(store, repo)
        registry = registry_file(store, repo)
        if registry is not None and not registry.is_file():
            raise FeatureStoreError(f"no feature store registry at {registry}: run `{COMMAND} materialize`")
        if store.config.online_store.type == "sqlite" and not Path(location).is_file():
            raise FeatureStoreError(f"no online store at {location}: run `{COMMAND} materialize`")
        problems = materialization_problems(store)
        if problems:
            raise FeatureStoreError(f"the online store {location} is not ready: {'; '.join(problems)}")
        try:
            lookup = cls(store, store.get_feature_service(FEATURE_SERVICE), location)
            lookup.read([{lookup.entity: entity_column().example, lookup.timestamp: datetime.now(UTC)}])
        except Exception as error:  # whatever the store raises: it cannot serve
            raise FeatureStoreError(
                f"the online store {location} cannot be read ({type(error).__name__}: {error})"
            ) from None
        return lookup

    def read(self, rows: list[Row]) -> LookedUp:
        """Every row with the views' columns added; which rows' entities are unknown; which views were stale."""
        response = self.feast.get_online_features(
            features=self.service, entity_rows=[{self.entity: row[self.entity]} for row in rows]
        )
        values = response.to_dict()
        vectors = dict(zip(response.proto.metadata.feature_names.val, response.proto.results, strict=True))
        served, unknown, stale = [], [], []
        for index, row in enumerate(rows):
            found, stale_views, row_values = self._row_values(values, vectors, index, row.get(self.timestamp))
            served.append({**row, **row_values})
            unknown.append(not found)
            stale.append(stale_views)
        return LookedUp(served, unknown, stale)

    def _row_values(
        self, values: dict[str, list[Any]], vectors: dict[str, Any], index: int, at: datetime | None
    ) -> tuple[bool, tuple[str, ...], Row]:
        """Whether any view knows row `index`'s entity, its stale views, and its view values (missing if stale)."""
        row_time = seconds_since_epoch(at) if at is not None else time.time()
        found = False
        stale: list[str] = []
        row_values: Row = {}
        for view in self.views:
            vector = vectors[view.columns[0]]  # a view's columns share its row's status and timestamp
            known = vector.statuses[index] != FieldStatus.NOT_FOUND
            found = found or known
            recorded = vector.event_timestamps[index]
            is_stale = known and row_time - (recorded.seconds + recorded.nanos / 1e9) > view.ttl_seconds
            if is_stale:
                stale.append(view.name)
            usable = known and not is_stale
            for column in view.columns:
                row_values[column] = values[column][index] if usable else None
        return found, tuple(stale), row_values
