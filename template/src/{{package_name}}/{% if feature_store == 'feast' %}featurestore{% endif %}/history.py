"""The history stage: each feature view's table checked against the contract, written as the Parquet Feast reads.

A view's table (`data/history/<view>.csv` or `.parquet`) holds the contract's identifier column,
the view's timestamp (a date) and the view's columns, each checked as `core.validation` checks
raw rows, with the same messages. Like the validate stage it refuses bytes that differ from
their DVC pointer, and records the md5 it read (`lineage.json` beside the validated tables).
Two rows for one entity at one time are refused: the join would pick one of them arbitrarily.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from .. import feature_views
from ..core.columns import Column, Role
from ..core.errors import ProjectError
from ..core.tables import write_table
from ..core.validation import DataContractError, read_raw
from ..pipeline.validate import DataVersionError, check_version
from .views import HistoryView, entity_column

HISTORY_DIR = Path("data/history")
VALIDATED_HISTORY_DIR = Path("data/validated/history")
LINEAGE_FILE = "lineage.json"
SUFFIXES = (".csv", ".parquet")
EXAMPLES = 3  # duplicate entity-times the message names


class HistoryError(ProjectError):
    """A feature view's table is missing, ambiguous or unreadable."""


def history_columns(view: HistoryView) -> tuple[Column, ...]:
    """The columns of `view`'s table: the contract's identifier, the view's timestamp (a date), its values."""
    timestamp = Column(view.timestamp, Role.TIMESTAMP, datetime, f"When the {view.name} row was recorded", "2025-06-30")
    return (entity_column(), timestamp, *view.columns)


def history_source(view: HistoryView, history_dir: Path = HISTORY_DIR) -> Path:
    """The one table of `view` in `history_dir`: `<view>.csv` or `<view>.parquet`."""
    found = [path for path in (history_dir / f"{view.name}{suffix}" for suffix in SUFFIXES) if path.is_file()]
    if len(found) != 1:
        named = " or ".join(str(history_dir / f"{view.name}{suffix}") for suffix in SUFFIXES)
        problem = "both exist: keep one" if found else "is missing: add the view's table (feature_views.py)"
        raise HistoryError(f"feature view {view.name!r}: {named} {problem}")
    return found[0]


def validate_view(view: HistoryView, source: Path, destination: Path) -> dict[str, Any]:
    """Check `source` against `view`'s columns and its DVC pointer, write the typed rows; return what was read."""
    try:
        content = source.read_bytes()
    except OSError as error:
        raise DataVersionError(f"{source}: cannot read the history table ({error.strerror})") from None
    record = check_version(source, content)
    rows = read_raw(source, content, columns=history_columns(view))
    refuse_repeats(rows, [entity_column().name, view.timestamp], source)
    write_table(rows, destination)
    return {**record, "rows": len(rows)}


def refuse_repeats(rows: pd.DataFrame, keys: list[str], source: Path) -> None:
    """Fail naming a few of them when two rows hold one entity at one time."""
    repeated = rows.loc[rows.duplicated(keys, keep=False), keys].drop_duplicates()
    if repeated.empty:
        return
    examples = ", ".join(f"{key!r} at {time:%Y-%m-%d}" for key, time in repeated.head(EXAMPLES).itertuples(index=False))
    raise DataContractError(
        f"{source}: {len(repeated)} entity-times have more than one row (e.g. {examples}): keep one row per "
        f"{keys[0]} and {keys[1]}"
    )


def validate_history(history_dir: Path = HISTORY_DIR, output_dir: Path = VALIDATED_HISTORY_DIR) -> list[dict[str, Any]]:
    """Validate every view's table into `output_dir/<view>.parquet`, with `lineage.json` there; return the records."""
    records = [
        validate_view(view, history_source(view, history_dir), output_dir / f"{view.name}.parquet")
        for view in feature_views.VIEWS
    ]
    lineage = {view.name: record for view, record in zip(feature_views.VIEWS, records, strict=True)}
    (output_dir / LINEAGE_FILE).write_text(json.dumps(lineage, indent=2) + "\n", encoding="utf-8")
    return records
