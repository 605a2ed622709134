"""The materialize command: the views' newest values loaded into the online store the service reads.

It registers the entity, views and feature service in the configured registry (what `feast apply`
does) and copies each entity's newest row of each view, from the earliest validated history up
to now, into the online store: in this process, without Feast's CLI and its second import. Run it
whenever the history grows (the `materialize` stage reruns when the validated history changes);
an entity's newest row is kept even when older than the view's ttl, and the service flags it stale.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from .. import feature_views
from .definitions import history_file
from .store import FEATURE_REPO, FeatureStoreError, apply_definitions, open_store


def earliest_history(repo: Path = FEATURE_REPO) -> datetime:
    """The earliest timestamp in the validated tables `repo`'s views read: where materializing starts."""
    starts = []
    for view in feature_views.VIEWS:
        path = Path(os.path.normpath(repo / history_file(view)))  # as the message names it
        if not path.is_file():
            raise FeatureStoreError(f"{path} not found: run the history stage first (`uv run dvc repro history`)")
        starts.append(pd.read_parquet(path, columns=[view.timestamp])[view.timestamp].min())
    return min(starts).to_pydatetime().replace(tzinfo=UTC)


def materialize(repo: Path = FEATURE_REPO) -> str:
    """Apply the definitions to the configured registry and load the online store up to now; return a summary."""
    start, end = earliest_history(repo), datetime.now(UTC)
    store = open_store(repo)
    apply_definitions(store)
    views = [view.name for view in feature_views.VIEWS]
    store.materialize(start_date=start, end_date=end, feature_views=views)
    return f"materialized {', '.join(views)} from {start:%Y-%m-%d} to {end:%Y-%m-%d %H:%M} UTC into the online store"
