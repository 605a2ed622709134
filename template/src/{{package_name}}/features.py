"""The model's inputs: declared once in `FEATURES`, computed from validated rows by `build_features`. Yours to edit.

Training, the service, the reference profile and monitoring all read `FEATURES`, and every
call of `build_features` is checked against it: a column it returns that `FEATURES` does
not declare, or a declared one it does not return, stops training and serving with an
error naming it. Identifiers and personal data never reach the model; timestamps become
calendar parts so the model does not memorise absolute dates.

To add a feature (say, on the customer sample, charges per product session):
1. declare it in `FEATURES`:
   `Feature("charges_per_session", FeatureKind.NUMERIC, "Monthly charges per session")`;
2. compute the column of that name in `build_features`, from the contract's columns:
   `features["charges_per_session"] = rows["monthly_charges"] / (rows["sessions_30d"] + 1)`;
3. run `uv run dvc repro`: the model is retrained on it, and the service and monitoring use it.
`tests/test_added_feature.py` does exactly this.
"""

from __future__ import annotations

import pandas as pd

from .core.columns import Column, Role
from .core.contract import columns_with_role
from .core.feature import Feature, FeatureKind

CALENDAR_PARTS = ("month", "day_of_week")


def calendar_name(column: Column, part: str) -> str:
    """Name of the feature holding one calendar part of a timestamp column."""
    return f"{column.name}_{part}"


FEATURES: tuple[Feature, ...] = (
    *(Feature.from_column(column) for column in columns_with_role(Role.SEGMENT, Role.CATEGORICAL)),
    *(Feature.from_column(column) for column in columns_with_role(Role.NUMERIC)),
    *(
        Feature(calendar_name(column, part), FeatureKind.NUMERIC, f"{column.description}: {part}", source=column.name)
        for column in columns_with_role(Role.TIMESTAMP)
        for part in CALENDAR_PARTS
    ),
)


def build_features(rows: pd.DataFrame) -> pd.DataFrame:
    """The columns of `FEATURES`, from rows that passed the data contract (training or a request)."""
    features: dict[str, pd.Series] = {
        column.name: rows[column.name] for column in columns_with_role(Role.SEGMENT, Role.CATEGORICAL)
    }
    for column in columns_with_role(Role.NUMERIC):
        features[column.name] = rows[column.name].astype("float64")
    for column in columns_with_role(Role.TIMESTAMP):
        for part in CALENDAR_PARTS:
            features[calendar_name(column, part)] = getattr(rows[column.name].dt, part).astype("float64")
    # One frame from all columns at once: inserting them one by one cost a third more per request.
    return pd.DataFrame(features, index=rows.index)
