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

A missing value is an empty cell. Number and date columns also read `NaN`, `None` and `null`
as missing (`NUMBER_NULLS`: how Python, NumPy and JSON print one); a text column reads
only the empty cell (`TEXT_NULLS`), so a real category such as "NA" or "None" stays a value.
A column's `null_values` adds spellings of its own, e.g. `null_values=("n/a",)`. Validation
and its null counts (training files and monitored batches alike) read `Column.nulls`, the one
list per column; a JSON request to the service writes a missing value as `null`.

`sensitive=True` marks a protected attribute (age band, sex, ethnicity...): the fairness stage
compares the model's outcomes across its groups and the gate fails on a disparity beyond
ml-project.yaml `fairness.min_ratio` (`pipeline.fairness`). The flag changes nothing else: the
column is validated, requested and logged as its role says. A model input (e.g. `Role.CATEGORICAL`)
is audited for direct use; `Role.PERSONAL` keeps it out of the model, redacted in the prediction
log and out of monitoring, and the audit then measures what correlated inputs carry of it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

# Longest unseen category a column with `encode_as_unknown` and no `max_length` accepts.
UNSEEN_CATEGORY_MAX_LENGTH = 100

# How a missing value may be written in a file: numbers and dates, and text.
NUMBER_NULLS = ("", "NaN", "None", "null")
TEXT_NULLS = ("",)

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
    # More spellings of a missing value, besides the type's own (NUMBER_NULLS or TEXT_NULLS).
    null_values: tuple[str, ...] = ()
    # A protected attribute: the fairness stage compares the model's outcomes across its values.
    sensitive: bool = False

    def __post_init__(self) -> None:
        if self.role is Role.TARGET and self.accepts_unseen_categories:
            raise ValueError(f"target {self.name!r}: a model cannot learn unseen classes; use reject")
        if self.role is Role.TARGET and self.sensitive:
            raise ValueError(f"target {self.name!r} cannot be sensitive: mark the protected input column instead")
        both = [value for value in self.nulls if value in self.categories]
        if both:
            raise ValueError(f"column {self.name!r}: {both} cannot be both a category and a missing value")

    @property
    def nulls(self) -> tuple[str, ...]:
        """Every spelling of a missing value in this column: its type's, then its own `null_values`."""
        own = NUMBER_NULLS if self.dtype in (int, float, datetime) else TEXT_NULLS
        return tuple(dict.fromkeys((*own, *self.null_values)))

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
