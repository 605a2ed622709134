"""The validate stage: raw rows checked against the contract, written in the one CSV form stages share."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .schema import read_csv


def write_csv(rows: pd.DataFrame, path: Path) -> None:
    """Write rows in the one CSV form every stage reads back."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(path, index=False, lineterminator="\n", date_format="%Y-%m-%dT%H:%M:%S")


def validate_file(source: Path, destination: Path) -> int:
    """Validate `source` against the contract and write the coerced rows; return the row count."""
    rows = read_csv(source)
    write_csv(rows, destination)
    return len(rows)
