"""The files stages hand each other: Parquet, which keeps every column's type.

Only the raw data a team brings is text (CSV, or Parquet); the validate stage reads it through
the contract's checks (`core.validation`), and from there on rows travel as Parquet: the next
stage reads exactly the types the last one wrote, without parsing text or checking it again.
A file is written under a temporary name and renamed when complete, so a stage that fails
leaves the previous output as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .errors import ProjectError


class TableError(ProjectError):
    """A stage's input file is missing or is not the Parquet table a stage wrote."""


def write_table(rows: pd.DataFrame, path: Path) -> None:
    """Write `rows` (without the index) as Parquet, replacing `path` only once the file is complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        rows.to_parquet(partial, index=False)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def read_table(path: Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The rows a stage wrote with `write_table` (only `columns`, when given)."""
    import pyarrow

    try:
        return pd.read_parquet(path, columns=None if columns is None else list(columns))
    except FileNotFoundError:
        raise TableError(f"{path} not found: run the stages before this one (`uv run dvc repro`)") from None
    except (pyarrow.ArrowException, OSError, ValueError) as error:
        raise TableError(f"{path} is not a Parquet table a stage wrote ({error}): rerun `uv run dvc repro`") from None
