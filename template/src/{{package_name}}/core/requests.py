"""Rows as the service receives them: a strict request model built from the contract, and typed frames."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

from .columns import Column, pandas_dtype
from .contract import contract_columns


def frame_from_records(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows already checked by the request model, typed as `validate` would type them.

    Built column by column, each typed once: a quarter faster for the service's one-row
    requests than building a frame and converting it.
    """
    columns = {}
    for column in contract_columns(with_target=False):
        values: Any = [record.get(column.name) for record in records]
        if column.dtype is datetime:  # requests may carry offsets; the contract is naive UTC
            values = pd.to_datetime(values, utc=True).tz_localize(None)
        columns[column.name] = pd.Series(values, dtype=pandas_dtype(column))
    return pd.DataFrame(columns)


# Timestamps pandas can hold as nanoseconds span 1677-09-21 to 2262-04-11; stay inside them.
EARLIEST_TIMESTAMP, LATEST_TIMESTAMP = datetime(1678, 1, 1), datetime(2261, 12, 31)


def _within_pandas_range(value: datetime) -> datetime:
    naive = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if not EARLIEST_TIMESTAMP <= naive <= LATEST_TIMESTAMP:
        raise ValueError(f"timestamp outside {EARLIEST_TIMESTAMP:%Y-%m-%d} to {LATEST_TIMESTAMP:%Y-%m-%d}")
    return value


def _request_field(column: Column) -> tuple[Any, Any]:
    annotation: Any = column.dtype
    if column.categories and not column.accepts_unseen_categories:
        annotation = Literal[column.categories]
    constraints: dict[str, Any] = {"description": column.description, "examples": [column.example]}
    if column.dtype in (int, float):
        constraints.update(ge=column.minimum, le=column.maximum)
    if column.dtype is float:
        constraints["allow_inf_nan"] = False
    if annotation is str:
        constraints.update(pattern=column.pattern, max_length=column.length_limit)
    if column.dtype is datetime:
        constraints["strict"] = False  # JSON carries timestamps as ISO 8601 strings
        annotation = Annotated[datetime, AfterValidator(_within_pandas_range)]
    if column.nullable:
        annotation = annotation | None
    return annotation, Field(..., **constraints)


def request_model() -> type[BaseModel]:
    """A strict pydantic model of one row to predict: every input column, nothing else."""
    fields = {column.name: _request_field(column) for column in contract_columns(with_target=False)}
    config = ConfigDict(extra="forbid", strict=True)
    return create_model("PredictionRequest", __config__=config, **fields)
