"""The vocabulary of the data contract: a column, its role, and the pandas type of its values.

The team's `contract.py` declares its columns with these types; the platform reads them.

Unseen categories (values outside a column's `categories`) follow the column's
`unseen_categories` policy:

- `reject` (the default): validation fails naming the column, the unseen values and the
  row count, and the service answers such a request with a 400.
- `encode_as_unknown`: rows pass (strings up to `max_length`, or
  `UNSEEN_CATEGORY_MAX_LENGTH` characters), and the encoder encodes a category it never
  saw in training as all zeros. For inputs whose list of values grows faster than you
  retrain; never for the target.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

# Longest unseen category a column with `encode_as_unknown` and no `max_length` accepts.
UNSEEN_CATEGORY_MAX_LENGTH = 100

PANDAS_DTYPES: dict[type, str] = {int: "int64", float: "float64", str: "str", datetime: "datetime64[ns]"}


class Role(enum.StrEnum):
    """What a column is for; decides whether and how it reaches the model."""

    IDENTIFIER = "identifier"  # joins predictions to outcomes; never a feature
    PERSONAL = "personal"  # personal data: never a feature
    TIMESTAMP = "timestamp"  # when the row was observed; calendar features
    SEGMENT = "segment"  # business slice for per-segment metrics; also a feature
    CATEGORICAL = "categorical"
    NUMERIC = "numeric"
    TARGET = "target"


class UnseenCategories(enum.StrEnum):
    """What happens to a value outside a column's `categories` (see this module's docstring)."""

    REJECT = "reject"
    ENCODE_AS_UNKNOWN = "encode_as_unknown"


@dataclass(frozen=True)
class Column:
    """One column of the contract, with the checks every row must pass."""

    name: str
    role: Role
    dtype: type[int] | type[float] | type[str] | type[datetime]
    description: str
    example: str | int | float
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[str, ...] = ()
    pattern: str | None = None
    max_length: int | None = None
    nullable: bool = False
    unseen_categories: UnseenCategories = UnseenCategories.REJECT

    def __post_init__(self) -> None:
        if self.role is Role.TARGET and self.accepts_unseen_categories:
            raise ValueError(f"target {self.name!r}: a model cannot learn unseen classes; use reject")

    @property
    def accepts_unseen_categories(self) -> bool:
        """Whether values outside `categories` pass, to be encoded as unknown."""
        return self.unseen_categories is UnseenCategories.ENCODE_AS_UNKNOWN

    @property
    def length_limit(self) -> int | None:
        """The most characters a value may have: a free-text category gets a bound by default."""
        if self.categories and self.accepts_unseen_categories:
            return self.max_length or UNSEEN_CATEGORY_MAX_LENGTH
        return self.max_length


def pandas_dtype(column: Column) -> str:
    """The pandas dtype of a column's values; whole numbers that may be missing need `Int64`."""
    if column.dtype is int and column.nullable:
        return "Int64"
    return PANDAS_DTYPES[column.dtype]
