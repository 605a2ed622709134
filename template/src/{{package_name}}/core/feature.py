"""The vocabulary of the feature list: one model input, seen by the model as a category or a number.

The team's `features.py` declares its features with these types; `featureset.py` holds
`build_features` to that declaration.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .columns import Column, Role


class FeatureKind(enum.StrEnum):
    """How the model sees a feature: one-hot encoded categories, or a number passed through."""

    CATEGORICAL = "categorical"
    NUMERIC = "numeric"


# The pandas dtype each kind of feature has: text categories, and numbers as floats (NaN when missing).
KIND_DTYPES = {FeatureKind.CATEGORICAL: "str", FeatureKind.NUMERIC: "float64"}


@dataclass(frozen=True)
class Feature:
    """One model input: its name in `build_features`' output, its kind, and what it means.

    `categories` are the values a categorical feature is expected to take; the reference
    profile counts each of them, zeros included (the values seen when there are none).
    `source` is the contract column the feature is computed from, when it comes from one:
    explanations report the feature's contribution under that column's name (`core.explain`).
    """

    name: str
    kind: FeatureKind
    description: str = ""
    categories: tuple[str, ...] = ()
    source: str | None = None

    @property
    def explained_as(self) -> str:
        """The name explanations give this feature's contribution: its source column's, else its own."""
        return self.source or self.name

    @property
    def dtype(self) -> str:
        """The pandas dtype of this feature's values."""
        return KIND_DTYPES[self.kind]

    @classmethod
    def from_column(cls, column: Column) -> Feature:
        """A contract column passed to the model as it is: a category (segment or categorical) or a number."""
        if column.role in (Role.SEGMENT, Role.CATEGORICAL):
            return cls(column.name, FeatureKind.CATEGORICAL, column.description, column.categories, column.name)
        if column.role is Role.NUMERIC:
            return cls(column.name, FeatureKind.NUMERIC, column.description, source=column.name)
        raise ValueError(f"column {column.name!r} has role {column.role}: only categories and numbers pass as they are")
