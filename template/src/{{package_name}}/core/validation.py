"""Raw rows checked against the data contract, with errors that say what to fix.

A broken file fails with one line per column and check, naming the failing row count and
example values, e.g. `- column 'tenure_months': 3 row(s) are not int64 (e.g. 'abc', 'x')`.
Raw data comes as CSV (`read_csv`) or Parquet (`read_raw` picks by suffix). In CSV a missing value
is any spelling in its column's `Column.nulls`; `write_csv` writes it as an empty cell, the form
`read_csv` reads back. Past validation, stages exchange Parquet (`core.tables`).
"""

from __future__ import annotations

import difflib
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.errors
import pandera.pandas as pa
from pandera.engines import pandas_engine

from .columns import Column, pandas_dtype
from .contract import contract_columns
from .errors import ProjectError

# How many distinct failing values a summary line quotes, and how much of each.
EXAMPLES_PER_LINE = 3
EXAMPLE_CHARACTERS = 40
# pandera's names for a value that cannot be converted to the column's type.
TYPE_CHECKS = ("coerce_dtype", "dtype")
# The columns of pandera's failure cases that the summary reads.
FAILURE_CASE_COLUMNS = ["column", "check", "failure_case", "index"]


class DataContractError(ProjectError):
    """Rows broke the contract; the message lists every column, check and row count."""


def _quoted(values: Iterable[object]) -> str:
    return ", ".join(repr(value) for value in values)


def _checks(column: Column) -> list[pa.Check]:
    """The column's value checks; each `error` is the wording its summary line uses."""
    checks = []
    if column.minimum is not None:
        checks.append(pa.Check.ge(column.minimum, error=f"are below the minimum {column.minimum:g}"))
    if column.maximum is not None:
        checks.append(pa.Check.le(column.maximum, error=f"are above the maximum {column.maximum:g}"))
    if column.categories and not column.accepts_unseen_categories:
        unseen = f"have an unseen category, not one of {_quoted(column.categories)}"
        checks.append(pa.Check.isin(column.categories, error=unseen))
    if column.pattern is not None:
        checks.append(pa.Check.str_matches(column.pattern, error=f"do not match the pattern '{column.pattern}'"))
    if column.length_limit is not None:
        longer = f"are longer than {column.length_limit} characters"
        checks.append(pa.Check.str_length(max_value=column.length_limit, error=longer))
    return checks


def declared(columns: Sequence[Column] | None, *, with_target: bool = True) -> Sequence[Column]:
    """`columns` when given (another table's, e.g. a feature view's history), else the contract's."""
    return contract_columns(with_target=with_target) if columns is None else columns


def data_schema(*, with_target: bool = True, columns: Sequence[Column] | None = None) -> pa.DataFrameSchema:
    """The pandera schema for raw rows (or for `columns`); without the target for rows to predict."""
    return pa.DataFrameSchema(
        {
            column.name: pa.Column(
                pandas_dtype(column),
                checks=_checks(column),
                nullable=column.nullable,
                description=column.description,
            )
            for column in declared(columns, with_target=with_target)
        },
        strict=True,
        coerce=True,
        ordered=False,
    )


def with_nulls(
    rows: pd.DataFrame, *, with_target: bool = True, columns: Sequence[Column] | None = None
) -> pd.DataFrame:
    """`rows` with every spelling of a missing value in text cells (`Column.nulls`) made missing."""
    marked = {}
    for column in declared(columns, with_target=with_target):
        values = rows.get(column.name)
        if values is not None and pd.api.types.is_string_dtype(values.dtype):  # text, or objects read as text
            marked[column.name] = values.mask(values.isin(column.nulls))
    return rows.assign(**marked) if marked else rows


def _undeclared_nulls(
    rows: pd.DataFrame, *, with_target: bool = True, columns: Sequence[Column] | None = None
) -> pd.DataFrame:
    """Text cells that a number or date type reads as missing but that are not in their column's `Column.nulls`
    (e.g. 'nan', '-nan' or 'NaT'), as pandera failure cases of the type check: coercion would let them through."""
    cases = []
    for column in declared(columns, with_target=with_target):
        values = rows.get(column.name)
        if column.dtype is str or values is None or not pd.api.types.is_string_dtype(values.dtype):
            continue
        present = values.dropna()
        if column.dtype is datetime:  # a quick pass: only cells that read as no date need a closer look
            unread = pd.to_datetime(present, errors="coerce", utc=True, format="mixed").isna()
        else:
            unread = pd.to_numeric(present, errors="coerce").isna()
        dtype = pandas_engine.Engine.dtype(pandas_dtype(column))
        missing = [value for value in present[unread].unique() if _coerces_to_missing(dtype, value)]
        failing = present[present.isin(missing)]
        check = f"coerce_dtype('{pandas_dtype(column)}')"
        failures = {"column": column.name, "check": check, "failure_case": failing, "index": failing.index}
        cases.append(pd.DataFrame(failures))
    return pd.concat(cases, ignore_index=True) if cases else pd.DataFrame(columns=FAILURE_CASE_COLUMNS)


def _coerces_to_missing(dtype: Any, value: str) -> bool:
    """Whether the schema's coercion to `dtype` turns `value` into a missing value."""
    try:
        return bool(dtype.coerce(pd.Series([value], dtype=object)).isna().all())
    except (ValueError, TypeError, OverflowError):
        return False  # not a value of the type: the schema's type check reports it


def check_rows(
    rows: pd.DataFrame, *, with_target: bool, columns: Sequence[Column] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`rows` validated against the schema, and every failure case (none when the rows pass)."""
    marked = with_nulls(rows, with_target=with_target, columns=columns)
    try:
        valid = data_schema(with_target=with_target, columns=columns).validate(marked, lazy=True)
    except pandera.errors.SchemaErrors as errors:
        undeclared = _undeclared_nulls(marked, with_target=with_target, columns=columns)
        return marked, pd.concat([errors.failure_cases, undeclared], ignore_index=True)
    # Only a cell that coercion turned into a missing value can be an undeclared spelling of one:
    # looking for them in those rows alone spares parsing every number twice.
    became_missing = (marked.notna() & valid.isna()).any(axis=1)
    return valid, _undeclared_nulls(marked[became_missing], with_target=with_target, columns=columns)


def validate(rows: pd.DataFrame, *, with_target: bool = True, columns: Sequence[Column] | None = None) -> pd.DataFrame:
    """Return `rows` coerced to the contract (or to `columns`), or raise `DataContractError` naming each problem."""
    valid, failure_cases = check_rows(rows, with_target=with_target, columns=columns)
    if not failure_cases.empty:
        raise DataContractError(summarise_failures(failure_cases, columns))
    if valid.empty:
        raise DataContractError("no rows: the header matches the contract but there are no data rows")
    return valid


def violating_rows(rows: pd.DataFrame, *, with_target: bool = True) -> np.ndarray:
    """Which rows break the contract, one flag per row, without raising (monitoring counts them)."""
    violating = np.zeros(len(rows), dtype=bool)
    _, failure_cases = check_rows(rows.reset_index(drop=True), with_target=with_target)
    failing = pd.to_numeric(failure_cases["index"], errors="coerce").dropna().astype(int)
    violating[failing.to_numpy()] = True
    return violating


def typed_leniently(rows: pd.DataFrame, *, with_target: bool = True) -> pd.DataFrame:
    """The contract's columns in their types, keeping rows `validate` would refuse: a value that does not convert
    becomes missing. Numbers come back as float64 (NaN holds the missing ones), timestamps as naive UTC."""
    typed = {}
    rows = with_nulls(rows, with_target=with_target)
    for column in contract_columns(with_target=with_target):
        values = rows[column.name]
        if column.dtype is datetime:
            parsed = pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")
            typed[column.name] = parsed.dt.tz_localize(None)
        elif column.dtype in (int, float):
            typed[column.name] = pd.to_numeric(values, errors="coerce").astype("float64")
        else:
            typed[column.name] = values.where(values.isna(), values.astype(str))
    return pd.DataFrame(typed, index=rows.index)


def summarise_failures(failure_cases: pd.DataFrame, columns: Sequence[Column] | None = None) -> str:
    """pandera's failure cases as one line per column and check, in contract (or `columns`) order."""
    lines = _column_set_lines(failure_cases[failure_cases["column"].isna()])
    for column in declared(columns):
        cases = failure_cases[failure_cases["column"] == column.name]
        if not cases.empty:
            lines += _column_lines(column, cases)
    return "\n".join(["rows break the data contract:", *lines])


def _column_set_lines(table_level: pd.DataFrame) -> list[str]:
    """Missing and unexpected columns, pairing likely renames."""
    missing = list(table_level.loc[table_level["check"] == "column_in_dataframe", "failure_case"])
    unexpected = list(table_level.loc[table_level["check"] == "column_in_schema", "failure_case"])
    renames = _likely_renames(missing, unexpected)
    lines = [
        f"- column {old!r}: missing, and {new!r} is unexpected: did you rename {old!r} to {new!r}?"
        for old, new in renames.items()
    ]
    lines += [f"- column {name!r}: missing from the data" for name in missing if name not in renames]
    renamed = set(renames.values())
    lines += [f"- column {name!r}: unexpected, not in the contract" for name in unexpected if name not in renamed]
    return lines


def _likely_renames(missing: list[str], unexpected: list[str]) -> dict[str, str]:
    """Each missing column paired with the most similar unexpected one, ignoring case."""
    renames: dict[str, str] = {}
    for name in missing:
        candidates = {str(other).lower(): other for other in unexpected if other not in renames.values()}
        match = difflib.get_close_matches(name.lower(), candidates, n=1, cutoff=0.6)
        if match:
            renames[name] = candidates[match[0]]
    return renames


def _column_lines(column: Column, cases: pd.DataFrame) -> list[str]:
    """One line per failed check of one column.

    With `coerce=True` a value of the wrong type fails both `coerce_dtype` and `dtype`, and
    the value checks then fail on the uncoerced column as a whole: the type line says it
    all. A null fails the type too; the null line counts it, unless the row's value is of the
    wrong type (an undeclared spelling of a missing value such as 'nan' is both).
    """
    checks = cases["check"].astype(str)
    wrong_type = checks.str.startswith(TYPE_CHECKS)
    if wrong_type.any():
        wrong_value = wrong_type & cases["failure_case"].notna()
        missing = (checks == "not_nullable") & ~cases["index"].isin(cases.loc[wrong_value, "index"])
        keep = wrong_value | missing
        cases, checks = cases[keep], checks[keep]
    wording = checks.map(lambda check: failure_wording(column, check))
    return [
        f"- column {column.name!r}: {_failure_line(check_wording, failures)}"
        for check_wording, failures in cases.groupby(wording, sort=False)
    ]


def failure_wording(column: Column, check: str) -> str:
    """What a failed pandera check says about a column's values, e.g. "are not int64"."""
    if check.startswith(TYPE_CHECKS):
        return f"are not {pandas_dtype(column)}"
    if check == "not_nullable":
        return f"are missing ({_spelled(column.nulls)}), but the column is not nullable"
    return check  # the contract's own checks carry their wording as their `error`


def _spelled(nulls: tuple[str, ...]) -> str:
    """How a column's missing values were written, in words: "an empty cell, 'NaN', 'None' or 'null'"."""
    words = ["an empty cell" if value == "" else repr(value) for value in nulls]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _failure_line(wording: str, cases: pd.DataFrame) -> str:
    examples = cases["failure_case"].dropna().drop_duplicates().head(EXAMPLES_PER_LINE)
    shown = ", ".join(_example(value) for value in examples)
    return f"{cases['index'].nunique()} row(s) {wording}" + (f" (e.g. {shown})" if shown else "")


def _example(value: Any) -> str:
    """A failing value as the message quotes it: whole numbers without `.0`, long text cut short."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = repr(value)
    return text if len(text) <= EXAMPLE_CHARACTERS else f"{text[: EXAMPLE_CHARACTERS - 1]}…"


def read_raw(path: Path, content: bytes, columns: Sequence[Column] | None = None) -> pd.DataFrame:
    """Validate the raw data the pipeline starts from (or a table of `columns`), `content` being the bytes of
    `path`: Parquet by its suffix, else CSV (`read_csv`)."""
    if path.suffix.lower() != ".parquet":
        return read_csv(path, content=content, columns=columns)
    try:
        rows = pd.read_parquet(io.BytesIO(content))
    except (ValueError, OSError) as error:  # pyarrow's errors are both
        raise DataContractError(f"{path}: not a readable Parquet file ({error})") from None
    try:
        return validate(rows, columns=columns)
    except DataContractError as error:
        raise DataContractError(f"{path}: {error}") from None


def read_csv(
    path: Path, *, with_target: bool = True, content: bytes | None = None, columns: Sequence[Column] | None = None
) -> pd.DataFrame:
    """Read and validate a CSV file of raw rows (from `content`, its bytes, when already read); errors start with
    the file's path. Only a column's own null spellings become missing: a category "NA" stays "NA"."""
    source = path if content is None else io.BytesIO(content)
    try:  # every cell as text; `validate` then turns each column's own null spellings into missing values
        rows = pd.read_csv(source, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        expected = _quoted(column.name for column in declared(columns, with_target=with_target))
        raise DataContractError(f"{path}: the file is empty (no header, no rows); expected {expected}") from None
    try:
        return validate(rows, with_target=with_target, columns=columns)
    except DataContractError as error:
        raise DataContractError(f"{path}: {error}") from None


def write_csv(rows: pd.DataFrame, path: Path) -> None:
    """Write rows as CSV in the form `read_csv` reads back (a missing value is an empty cell)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(path, index=False, lineterminator="\n", date_format="%Y-%m-%dT%H:%M:%S")
