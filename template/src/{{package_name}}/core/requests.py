"""Rows as the service receives them: a strict request model built from the contract, and typed frames."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, create_model
from pydantic_core import PydanticCustomError

from .columns import Column, pandas_dtype
from .contract import contract_columns


def frame_from_records(records: list[dict[str, Any]], columns_in: Iterable[Column] | None = None) -> pd.DataFrame:
    """Rows already checked by the request model, typed as `validate` would type them.

    `columns_in` are the columns to build (default: the request's); the service passes
    `served_columns()`, which adds the feature views' columns it read from the online store.
    Built from one typed array per column: half the cost of a Series per column for the
    service's small requests (pandas aligns every Series' index when it builds the frame).
    """
    columns: dict[str, Any] = {}
    for column in contract_columns(with_target=False) if columns_in is None else columns_in:
        values: list[Any] = [record.get(column.name) for record in records]
        dtype = _array_dtype(column)
        if column.dtype is datetime:  # requests may carry offsets; the contract is naive UTC
            columns[column.name] = pd.to_datetime(values, utc=True).tz_localize(None).to_numpy(dtype=dtype)
        elif isinstance(dtype, np.dtype):
            columns[column.name] = np.asarray(values, dtype=dtype)
        else:
            columns[column.name] = pd.array(values, dtype=dtype)
    return pd.DataFrame(columns)


@cache
def _array_dtype(column: Column) -> Any:
    """The column's pandas dtype object: resolving its name took a tenth of a one-row request."""
    return pd.api.types.pandas_dtype(pandas_dtype(column))


# Timestamps pandas can hold as nanoseconds span 1677-09-21 to 2262-04-11; stay inside whole
# years, more than a day inside, so that a value's offset cannot carry it out when it becomes UTC.
EARLIEST_YEAR, LATEST_YEAR = 1678, 2261

# An ISO 8601 date or date-time (as pydantic parses it) in the years 1678-2261: the request
# model checks it, and the OpenAPI document states it, so the spec gives the bounds too.
TIMESTAMP_PATTERN = (
    r"^(16(7[89]|[89][0-9])|1[7-9][0-9]{2}|2[01][0-9]{2}|22[0-5][0-9]|226[01])"
    r"-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"([Tt ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,9})?)?([Zz]|[+-]([01][0-9]|2[0-3]):?[0-5][0-9])?)?$"
)
TIMESTAMP_FORMAT = re.compile(TIMESTAMP_PATTERN)
TIMESTAMP_TEXT = "an ISO 8601 date or date-time (UTC unless it gives an offset) from 1678-01-01 to 2261-12-31"


def _iso_8601(value: Any) -> Any:
    """Only ISO 8601 text becomes a timestamp: pydantic alone would read 0 or "1700000000" as Unix time."""
    if isinstance(value, datetime):  # built in Python, not parsed from a request
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("timestamp_type", f"Input should be {TIMESTAMP_TEXT}")
    if not TIMESTAMP_FORMAT.fullmatch(value):
        raise PydanticCustomError("timestamp_format", f"Input should be {TIMESTAMP_TEXT}")
    return value


def _within_pandas_range(value: datetime) -> datetime:
    """The bounds apply to the date as written, as `TIMESTAMP_PATTERN` states them."""
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise PydanticCustomError("timestamp_range", f"Input should be {TIMESTAMP_TEXT}")
    return value


Timestamp = Annotated[
    datetime,
    BeforeValidator(_iso_8601),
    AfterValidator(_within_pandas_range),
    WithJsonSchema({"type": "string", "pattern": TIMESTAMP_PATTERN}),
]


def openapi_nullable(schema: dict[str, Any]) -> None:
    """Write a field's `X | None` schema as OpenAPI 3.0 does: `X` with `nullable: true`.

    pydantic writes `anyOf: [X, {"type": "null"}]`, which OpenAPI 3.0 cannot express and
    BentoML's spec cuts to its first branch, `X`, so the spec made nullable fields non-null.
    """
    branches = schema.pop("anyOf", None)
    if branches is None:
        return
    (kept,) = [branch for branch in branches if branch != {"type": "null"}]
    schema.update(kept)
    schema["nullable"] = True


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
        constraints["strict"] = False  # checked by `_iso_8601`, then parsed by pydantic
        constraints["description"] = f"{column.description}: {TIMESTAMP_TEXT}"
        annotation = Timestamp
    if column.nullable:
        annotation = annotation | None
        constraints["json_schema_extra"] = openapi_nullable
    return annotation, Field(..., **constraints)


def request_model() -> type[BaseModel]:
    """A strict pydantic model of one row to predict: every input column, nothing else."""
    fields = {column.name: _request_field(column) for column in contract_columns(with_target=False)}
    config = ConfigDict(extra="forbid", strict=True)
    return create_model("PredictionRequest", __config__=config, **fields)


# A field name in an error is echoed only when it looks like one: an unknown key could hold anything.
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def describe_errors(errors: Iterable[Mapping[str, Any]]) -> str:
    """The fields a request got wrong and how, never their values: `email: string_pattern_mismatch; ...`.

    `errors` are pydantic's (`ValidationError.errors()`): each has a location and a type.
    """
    described = []
    for error in errors:
        path = ".".join(
            str(part) if isinstance(part, int) or _FIELD_NAME.fullmatch(str(part)) else "<field>"
            for part in error.get("loc", ())
        )
        kind = str(error.get("type", "invalid"))
        described.append(f"{path or 'body'}: {kind if _FIELD_NAME.fullmatch(kind) else 'invalid'}")
    return "; ".join(dict.fromkeys(described)) or "invalid request"
