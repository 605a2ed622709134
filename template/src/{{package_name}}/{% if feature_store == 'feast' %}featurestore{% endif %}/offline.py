"""The offline join: rows with each feature view's values as they were at the row's own time (point in time).

Feast's `get_historical_features` joins an entity row to a view's newest row at or before the
row's timestamp and no older than the view's ttl, so no value recorded after a label's time
reaches it. Its file offline store drops an entity row that has no such row instead of
returning it with missing values (training would lose those rows without a word): the join
here puts them back with missing values and counts them (with the rows Feast returns with every
value missing: their entity has no history at all). Each view is joined on its own, so a row
missing from one view keeps the others' values.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from .. import feature_views
from ..core.columns import pandas_dtype
from ..core.errors import ProjectError
from ..core.tables import read_table, write_table
from .views import HistoryView, entity_column, event_timestamp_column

if TYPE_CHECKING:
    from feast import FeatureStore

EVENT_TIMESTAMP = "event_timestamp"  # Feast's name for each entity row's point in time
EXAMPLES = 5  # rows without history that the join stage's failure names


class MissingHistoryError(ProjectError):
    """More training rows than params.yaml allows have no feature-view history in time."""


@dataclass(frozen=True)
class JoinedRows:
    """The rows, in their order, with every view's columns; `missing` names the views each row had no history in."""

    rows: pd.DataFrame
    missing: pd.DataFrame  # one bool column per view, indexed like `rows`

    @property
    def missing_rows(self) -> pd.Series:
        """Whether each row lacks history in at least one view."""
        return self.missing.any(axis=1)


@contextmanager
def scratch_store(repo: Path | None = None) -> Iterator[FeatureStore]:
    """The store of `repo` (the project's `feature_repo/`) with its objects applied to a registry (and online
    store) in a temporary folder: a join reads only the offline store, and leaves the served registry alone."""
    from .store import FEATURE_REPO, apply_definitions, open_store  # Feast's import: only when a join runs

    repo = FEATURE_REPO if repo is None else repo
    with tempfile.TemporaryDirectory(prefix="feature-join-") as scratch:
        store = open_store(repo, registry=Path(scratch) / "registry.db", online_store=Path(scratch) / "online.db")
        apply_definitions(store)
        yield store


def entity_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """Each distinct entity and time of `rows`, as Feast's entity rows: the identifier and `event_timestamp`."""
    keys = [entity_column().name, event_timestamp_column().name]
    return rows[keys].drop_duplicates().rename(columns={keys[1]: EVENT_TIMESTAMP}).reset_index(drop=True)


def view_values(store: FeatureStore, view: HistoryView, entities: pd.DataFrame) -> pd.DataFrame:
    """`view`'s columns for the entity rows Feast returns (it drops those with no history in time)."""
    references = [f"{view.name}:{column.name}" for column in view.columns]
    found = store.get_historical_features(entity_df=entities, features=references).to_df()
    when = found[EVENT_TIMESTAMP]
    if isinstance(when.dtype, pd.DatetimeTZDtype):  # Feast answers in UTC; the rows' times are naive UTC
        when = when.dt.tz_convert("UTC").dt.tz_localize(None)
    found = found.assign(**{EVENT_TIMESTAMP: when.astype(entities[EVENT_TIMESTAMP].dtype)})
    entity = entity_column().name
    found[entity] = found[entity].astype(entities[entity].dtype)
    return found[[entity, EVENT_TIMESTAMP, *(column.name for column in view.columns)]]


def join_history(rows: pd.DataFrame, store: FeatureStore) -> JoinedRows:
    """`rows` (with the contract's identifier and timestamp) with every view's columns, in the contract's dtypes."""
    entities = entity_frame(rows)
    keys = rows[[entity_column().name, event_timestamp_column().name]].set_axis(list(entities.columns), axis=1)
    joined, missing = rows.copy(), {}
    for view in feature_views.VIEWS:
        values = keys.merge(view_values(store, view, entities), how="left", on=list(entities.columns))
        names = [column.name for column in view.columns]
        # Feast drops a row whose entity has history only after its time or older than the ttl, but returns
        # one whose entity has no history at all with missing values: both count as no history in time.
        missing[view.name] = values[names].isna().all(axis=1).to_numpy()
        for column in view.columns:
            joined[column.name] = values[column.name].astype(pandas_dtype(column)).set_axis(rows.index)
    return JoinedRows(joined, pd.DataFrame(missing, index=rows.index))


def with_history(rows: pd.DataFrame, repo: Path | None = None) -> pd.DataFrame:
    """`rows` with the views' columns at each row's time; a row with no history in time gets missing values."""
    with scratch_store(repo) as store:
        return join_history(rows, store).rows


def missing_summary(joined: JoinedRows) -> dict[str, object]:
    """The join stage's metrics: rows, rows without history in some view (count and share), per view."""
    rows, missing = len(joined.rows), int(joined.missing_rows.sum())
    return {
        "rows": rows,
        "missing_rows": missing,
        "missing_share": round(missing / rows, 6) if rows else 0.0,
        "missing_by_view": {view: int(count) for view, count in joined.missing.sum().items()},
    }


def check_missing(joined: JoinedRows, limit: float, source: Path) -> None:
    """Raise, naming the share, the limit and the first rows without history, when their share exceeds `limit`."""
    summary = missing_summary(joined)
    if summary["missing_share"] <= limit:
        return
    entity, timestamp = entity_column().name, event_timestamp_column().name
    first = joined.rows.loc[joined.missing_rows, [entity, timestamp]].head(EXAMPLES)
    named = ", ".join(f"{entity} {key!r} at {time:%Y-%m-%d}" for key, time in first.itertuples(index=False))
    raise MissingHistoryError(
        f"{source}: {summary['missing_rows']} of {summary['rows']} rows (share {summary['missing_share']:.4f}) "
        f"have no feature-view history at or before their {timestamp} within the view's ttl, above params.yaml "
        f"feature_store.max_missing_share {limit}; the first: {named}. Add their history to data/history/ "
        "(or raise the limit if such rows are expected)"
    )


def join_file(source: Path, destination: Path, metrics: Path, limit: float, repo: Path | None = None) -> JoinedRows:
    """The join stage: validated rows with the views' columns to `destination`, the missing counts to `metrics`;
    fails after writing the metrics when the share of rows without history exceeds `limit`."""
    rows = read_table(source)
    with scratch_store(repo) as store:
        joined = join_history(rows, store)
    metrics.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text(json.dumps(missing_summary(joined), indent=2) + "\n", encoding="utf-8")
    check_missing(joined, limit, source)
    write_table(joined.rows, destination)
    return joined
