"""What `monitor` reads: the prediction log, a batch file of contract rows, and the true outcomes.

Each reader fails with a `MonitorInputError` naming the file and what to do about it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.json

from ..contract import COLUMNS, TARGET
from ..core.contract import served_columns
from ..core.errors import ProjectError
from ..telemetry.prediction_log import log_files, read_log_file

REQUEST_ID = "request_id"
BATCH_SUFFIXES = (".csv", ".jsonl")
LOG_FIELDS = ("request_id", "timestamp", "model_version", "fallback", "prediction", "probabilities")


class MonitorInputError(ProjectError):
    """The prediction log, batch file or outcomes cannot be used as given."""


def log_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Prediction-log records as one frame: the served columns (the request's, then any feature views' as
    the service read them), then the answer's fields prefixed `_`.

    One pass straight into column lists: holding a million parsed records as dictionaries
    first would double the time and the memory.
    """
    names = [column.name for column in served_columns()]
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
    skipped, any other damaged line is an error naming it. Files come oldest first, as
    `read_prediction_log` orders them.
    """
    if not path.is_dir():
        try:
            return log_file_frame(path)
        except (OSError, UnicodeDecodeError) as error:
            raise MonitorInputError(f"cannot read {path}: {error}") from None
    frames = []
    for file in log_files(path):
        try:
            frames.append(log_file_frame(file))
        except FileNotFoundError:  # rotated or pruned between listing and reading
            continue
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0] if frames else log_frame([])


# Bytes that start a line holding only whitespace, which `read_log_file` skips as blank (with "\n").
LINE_SPACE = np.frombuffer(b" \t\r\x0b\x0c", dtype=np.uint8)


def log_file_frame(path: Path) -> pd.DataFrame:
    """One log file's records as `log_frame` has them, parsed column by column.

    The file's complete lines are parsed in one go with pyarrow, with the contract's types for
    the features. A file that pyarrow cannot read so, or that holds anything pyarrow might read
    differently from `json.loads` (a value of another type, two objects on a line, a line of
    spaces, invalid UTF-8, a record missing a class probability), is read line by line by
    `read_log_file`, which names a damaged line.
    """
    data = path.read_bytes()
    complete = data if data.endswith(b"\n") else data[: data.rfind(b"\n") + 1]  # the rest is a write in progress
    table = _arrow_table(complete)
    if table is None:
        return log_frame(read_log_file(path))
    return _frame_from_table(table)


def _arrow_table(complete: bytes) -> pa.Table | None:
    """The lines as a table, or None when only the line-by-line reader can be trusted with them."""
    if not complete or complete.isspace():
        return pa.table({})
    records = _record_lines(complete)
    if records is None or not _utf8(complete):  # pyarrow passes invalid UTF-8 through: the line reader names it
        return None
    options = pyarrow.json.ParseOptions(explicit_schema=_arrow_schema(), unexpected_field_behavior="infer")
    try:
        table = pyarrow.json.read_json(io.BytesIO(complete), parse_options=options)
    except (pa.ArrowException, UnicodeDecodeError):
        return None
    # pyarrow also reads two objects on one line, which `json.loads` refuses: then the counts differ.
    if table.num_rows != records or not _whole_probabilities(table):
        return None
    return table


def _arrow_schema() -> pa.Schema:
    """The log's own fields and the features in the contract's types; `prediction`, `probabilities` and
    anything unknown are left to pyarrow to infer, since their types depend on the model."""
    types = {int: pa.int64(), float: pa.float64(), str: pa.string(), datetime: pa.string()}
    features = pa.struct([(column.name, types[column.dtype]) for column in served_columns()])
    fields = [("request_id", pa.string()), ("timestamp", pa.string()), ("model_version", pa.string())]
    return pa.schema([*fields, ("features", features), ("fallback", pa.bool_())])


def _utf8(data: bytes) -> bool:
    """Whether `data` is valid UTF-8 (quick for the usual all-ASCII log)."""
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _record_lines(complete: bytes) -> int | None:
    """How many lines are not empty, or None if a line starts with whitespace (the writer never writes one)."""
    data = np.frombuffer(complete, dtype=np.uint8)
    ends = np.flatnonzero(data == ord("\n"))
    first = data[np.concatenate(([0], ends[:-1] + 1))]  # each line's first byte: "\n" if it is empty
    if np.isin(first, LINE_SPACE).any():
        return None
    return int(np.count_nonzero(first != ord("\n")))


def _whole_probabilities(table: pa.Table) -> bool:
    """Whether every logged set of probabilities has every class (pyarrow would fill a missing one with null)."""
    if "probabilities" not in table.column_names:
        return True
    probabilities = table.column("probabilities").combine_chunks()
    if not pa.types.is_struct(probabilities.type):
        return probabilities.null_count == len(probabilities)
    return all(
        probabilities.field(index).null_count == probabilities.null_count
        for index in range(probabilities.type.num_fields)
    )


def _frame_from_table(table: pa.Table) -> pd.DataFrame:
    """`log_frame`'s columns from a parsed table."""
    if not table.num_columns:
        return log_frame([])
    features = table.column("features").combine_chunks()
    # `flatten` makes every value of a null `features` null; the contract's columns come first, then any unknown one.
    values = dict(zip((field.name for field in features.type), features.flatten(), strict=True))
    frame = pd.DataFrame({column.name: values[column.name].to_pandas() for column in served_columns()})
    frame[REQUEST_ID] = table.column(REQUEST_ID).to_pandas()
    frame["_timestamp"] = pd.to_datetime(
        table.column("timestamp").to_pandas(), utc=True, format="ISO8601", errors="coerce"
    )
    frame["_fallback"] = table.column("fallback").fill_null(False).to_pandas()
    frame["_model_version"] = table.column("model_version").to_pandas()
    frame["_prediction"] = _column_or_none(table, "prediction", len(frame))
    frame["_probabilities"] = _column_or_none(table, "probabilities", len(frame))
    return frame


def _column_or_none(table: pa.Table, name: str, rows: int) -> Any:
    return table.column(name).to_pandas() if name in table.column_names else [None] * rows


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
    """A batch file's rows: every contract input column (raw), any feature view's column the file has (the
    rest missing, as for an entity with no history), and the request id when the file has one."""
    raw = read_table(path).reset_index(drop=True)
    missing = [column.name for column in COLUMNS if column.name not in raw.columns]
    if missing:
        raise MonitorInputError(f"{path}: missing contract column(s) {', '.join(missing)}")
    ids = raw[REQUEST_ID] if REQUEST_ID in raw.columns else pd.Series([None] * len(raw), dtype=object)
    views = {
        column.name: raw[column.name] if column.name in raw.columns else None
        for column in served_columns()[len(COLUMNS) :]
    }
    return raw[[column.name for column in COLUMNS]].assign(**views, **{REQUEST_ID: ids})


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
