"""Feature engineering shared by training and serving: validated rows in, model inputs out.

Both paths call `build_features` on rows that passed the data contract, and the fitted
encoder travels inside the model file, so the service cannot compute features differently
from training.
"""

from __future__ import annotations

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import OneHotEncoder

from .schema import Column, Role, columns_with_role

CALENDAR_PARTS = ("month", "day_of_week")


def categorical_columns() -> tuple[Column, ...]:
    """Input columns the model sees as categories."""
    return columns_with_role(Role.SEGMENT, Role.CATEGORICAL)


def calendar_feature(column: Column, part: str) -> str:
    """Name of the feature holding one calendar part of a timestamp column."""
    return f"{column.name}_{part}"


def numeric_feature_names() -> list[str]:
    """Numeric model inputs: the numeric columns plus calendar parts of each timestamp."""
    numeric = [column.name for column in columns_with_role(Role.NUMERIC)]
    calendar = [
        calendar_feature(column, part) for column in columns_with_role(Role.TIMESTAMP) for part in CALENDAR_PARTS
    ]
    return numeric + calendar


def build_features(rows: pd.DataFrame) -> pd.DataFrame:
    """Select and derive the model's input columns from validated raw rows.

    Identifiers and personal data never reach the model; timestamps become calendar parts
    so the model does not memorise absolute dates.
    """
    features = rows[[column.name for column in categorical_columns()]].copy()
    for column in columns_with_role(Role.NUMERIC):
        features[column.name] = rows[column.name].astype("float64")
    for column in columns_with_role(Role.TIMESTAMP):
        for part in CALENDAR_PARTS:
            features[calendar_feature(column, part)] = getattr(rows[column.name].dt, part).astype("float64")
    return features


def encoder() -> ColumnTransformer:
    """An unfitted encoder: one-hot categories, numbers passed through unchanged."""
    one_hot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    return ColumnTransformer(
        [("categorical", one_hot, [column.name for column in categorical_columns()])],
        remainder="passthrough",
        verbose_feature_names_out=False,
    )
