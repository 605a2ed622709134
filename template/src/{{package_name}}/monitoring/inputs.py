"""What `monitor` reads: the prediction log, a batch file of contract rows, and the true outcomes.

Each reader fails with a `MonitorInputError` naming the file and what to do about it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..contract import COLUMNS, TARGET
from ..core.errors import ProjectError
from ..telemetry.prediction_log import read_log_file, read_prediction_log

REQUEST_ID = "request_id"
BATCH_SUFFIXES = (".csv", ".jsonl")
LOG_FIELDS = ("request_id", "timestamp", "model_version", "fallback", "prediction", "probabilities")


class MonitorInputError(ProjectError):
    """The prediction log, batch file or outcomes cannot be used as given."""


def log_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Prediction-log records as one frame: the request columns, then the answer's fields prefixed `_`.

    One pass straight into column lists: holding a million parsed records as dictionaries
    first would double the time and the memory.
    """
    names = [column.name for column in COLUMNS]
    columns: dict[str, list[Any]] = {name: [] for name in [*names, *LOG_FIELDS]}
    feature_appends = [(name, columns[name].append) for name in names]
    field_appends = [(name, columns[name].append) for name in LOG_FIELDS]
    for record in records:
        features = record.get("features") or {}
        for name, append in feature_appends:
            append(features.get(name))
        for name, append in field_appends:
            append(record.get(name))
    frame = pd.DataFrame({name: columns.pop(name) for name in names})
    frame[REQUEST_ID] = columns.pop(REQUEST_ID)
    frame["_timestamp"] = pd.to_datetime(columns.pop("timestamp"), utc=True, format="ISO8601", errors="coerce")
    frame["_fallback"] = [bool(value) for value in columns.pop("fallback")]
    for name, values in columns.items():
        frame[f"_{name}"] = values
    return frame


def read_log(path: Path) -> pd.DataFrame:
    """Every record of a prediction-log directory, or of one log file, as a frame.

    A file is read as each file of a directory is: a live file's unfinished last line is
    skipped, any other damaged line is an error naming it.
    """
    if path.is_dir():
        return log_frame(read_prediction_log(path))
    try:
        return log_frame(read_log_file(path))
    except (OSError, UnicodeDecodeError) as error:
        raise MonitorInputError(f"cannot read {path}: {error}") from None


def is_log_file(path: Path) -> bool:
    """Whether a JSONL file holds prediction-log records (with `features`) rather than contract rows."""
    try:
        with path.open(encoding="utf-8") as lines:
            first = next((line for line in lines if line.strip()), "")
    except (OSError, UnicodeDecodeError):
        return False
    try:
        return isinstance(record := json.loads(first), dict) and isinstance(record.get("features"), dict)
    except json.JSONDecodeError:
        return False


def jsonl_records(path: Path) -> list[dict[str, Any]]:
    """Every line of a JSONL file as an object."""
    records = []
    try:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    try:
                        records.append(json.loads(line))
                    except json.JSONDecodeError as error:
                        raise MonitorInputError(f"{path}:{number} is not JSON ({error.msg})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise MonitorInputError(f"cannot read {path}: {error}") from None
    if any(not isinstance(record, dict) for record in records):
        raise MonitorInputError(f"{path}: every line must be a JSON object")
    return records


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or JSONL file as strings-and-values, failing with the file and the fix."""
    if path.suffix not in BATCH_SUFFIXES:
        raise MonitorInputError(f"{path}: expected a .csv or .jsonl file")
    if not path.is_file():
        raise MonitorInputError(f"{path} not found")
    if path.suffix == ".jsonl":
        return pd.DataFrame.from_records(jsonl_records(path))
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise MonitorInputError(f"{path} is empty: expected a header row") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise MonitorInputError(f"cannot read {path} as CSV: {error}") from None


def read_batch(path: Path) -> pd.DataFrame:
    """A batch file's rows: every contract input column (raw), and the request id when the file has one."""
    raw = read_table(path).reset_index(drop=True)
    missing = [column.name for column in COLUMNS if column.name not in raw.columns]
    if missing:
        raise MonitorInputError(f"{path}: missing contract column(s) {', '.join(missing)}")
    ids = raw[REQUEST_ID] if REQUEST_ID in raw.columns else pd.Series([None] * len(raw), dtype=object)
    return raw[[column.name for column in COLUMNS]].assign(**{REQUEST_ID: ids})


def read_outcomes(path: Path) -> pd.Series:
    """True outcomes keyed by request id, from a CSV or JSONL file with `request_id` and the target column."""
    table = read_table(path)
    missing = [name for name in (REQUEST_ID, TARGET.name) if name not in table.columns]
    if missing:
        raise MonitorInputError(
            f"{path}: missing column(s) {', '.join(missing)} (expected {REQUEST_ID}, {TARGET.name})"
        )
    table = table.dropna(subset=[TARGET.name])
    ids = table[REQUEST_ID].astype(str)
    repeated = ids[ids.duplicated()].unique()
    if len(repeated):
        raise MonitorInputError(f"{path}: request id(s) appear more than once: {', '.join(repeated[:5])}")
    return pd.Series(table[TARGET.name].to_numpy(), index=ids, name=TARGET.name)
