"""The window monitoring judges: rows typed and checked against the data contract, with the answer to each.

A window comes from the prediction log (the records of the last hours, with the answers the
service logged) or from a batch file of contract rows, which the promoted model predicts here
as the service would.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..core.columns import Role
from ..core.contract import columns_with_role, contract_columns, served_columns, view_columns
from ..core.featureset import model_inputs
from ..core.validation import typed_leniently, violating_rows
from ..registry.store import Registry
from ..telemetry.prediction_log import REDACTED
from .inputs import REQUEST_ID, read_batch
from .profile import Reference


@dataclass(frozen=True)
class Window:
    """The rows monitoring judges, as the service saw them.

    `rows` holds the served columns (the contract's inputs, then any feature views' as the
    service read them) typed as declared, with any value that cannot be read as such as
    missing. `predictions` is the answer per row (missing where there is none to compare: a
    fallback answer, another model version, a row breaking the contract).
    """

    source: str
    rows: pd.DataFrame
    violations: np.ndarray
    predictions: pd.Series
    probabilities: list[Mapping[str, float] | None]
    request_ids: pd.Series
    start: datetime | None = None
    end: datetime | None = None


def input_names() -> list[str]:
    """The columns of the rows the model saw, in order: the contract's inputs, then any feature views'."""
    return [column.name for column in served_columns()]


def request_names() -> list[str]:
    """The contract's input columns, in order: what a request carries and the contract checks."""
    return [column.name for column in contract_columns(with_target=False)]


def typed_rows(raw: pd.DataFrame) -> pd.DataFrame:
    """The served columns typed leniently: the contract's as validation types them, the views' as numbers or text."""
    typed = typed_leniently(raw[request_names()], with_target=False)
    for column in view_columns():
        values = raw[column.name]
        if column.dtype in (int, float):
            typed[column.name] = pd.to_numeric(values, errors="coerce").astype("float64")
        else:
            typed[column.name] = values.where(values.isna(), values.astype(str))
    return typed


def contract_violations(raw: pd.DataFrame) -> np.ndarray:
    """Which rows break the data contract (the checks training applies); redacted personal data passes.

    Only the request's columns: the views' values come from the online store, checked when their history was.
    """
    checked = raw[request_names()].copy()
    for column in columns_with_role(Role.PERSONAL):  # redacted in the log: nothing left to check
        checked[column.name] = checked[column.name].mask(checked[column.name] == REDACTED, column.example)
    return violating_rows(checked, with_target=False)


def window_from_log(log: pd.DataFrame, reference: Reference, hours: int, now: datetime, source: str) -> Window:
    """The log's records of the last `hours`, with the predictions the reference version made."""
    start = now - timedelta(hours=hours)
    recent = log[(log["_timestamp"] >= start) & (log["_timestamp"] <= now)].reset_index(drop=True)
    raw = recent[input_names()]
    comparable = (recent["_model_version"] == reference.version) & ~recent["_fallback"]
    return Window(
        source=source,
        rows=typed_rows(raw),
        violations=contract_violations(raw),
        predictions=recent["_prediction"].where(comparable),
        probabilities=list(recent["_probabilities"].where(comparable, None)),
        request_ids=recent[REQUEST_ID],
        start=start,
        end=now,
    )


def window_from_batch(path: Path, reference: Reference, registry: Registry) -> Window:
    """Contract rows from a file, predicted by the promoted model; every row is in the window."""
    batch = read_batch(path)
    raw = batch[input_names()]
    violations = contract_violations(raw)
    rows = typed_rows(raw)
    predictions = pd.Series([None] * len(rows), dtype=object)
    probabilities: list[Mapping[str, float] | None] = [None] * len(rows)
    valid = ~violations
    if valid.any():
        values, scores = predict_rows(registry, reference, rows[valid])
        predictions[valid] = values
        for index, row_scores in zip(np.flatnonzero(valid), scores, strict=True):
            probabilities[index] = row_scores
    return Window(str(path), rows, violations, predictions, probabilities, batch[REQUEST_ID])


def predict_rows(registry: Registry, reference: Reference, rows: pd.DataFrame) -> tuple[list[Any], list[Any]]:
    """The promoted model's answers for valid rows, as the service would log them."""
    from ..core.predict import predict
    from ..registry.artifacts import load_model

    model, metadata = load_model(registry.model_path(reference.version))
    predictions = predict(model, metadata, model_inputs(rows))
    values = [value.item() if isinstance(value, np.generic) else value for value in predictions.values]
    if predictions.probabilities is None or predictions.classes is None:
        return values, [None] * len(values)
    classes = [str(label) for label in predictions.classes]
    scores = [dict(zip(classes, map(float, row), strict=True)) for row in predictions.probabilities]
    return values, scores
