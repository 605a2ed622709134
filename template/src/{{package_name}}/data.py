"""The first pipeline stages: validate raw rows against the contract, then split them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from .config import SplitParams
from .schema import TARGET, read_csv


def write_csv(rows: pd.DataFrame, path: Path) -> None:
    """Write rows in the one CSV form every stage reads back."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(path, index=False, lineterminator="\n", date_format="%Y-%m-%dT%H:%M:%S")


def validate_file(source: Path, destination: Path) -> int:
    """Validate `source` against the contract and write the coerced rows; return the row count."""
    rows = read_csv(source)
    write_csv(rows, destination)
    return len(rows)


def split_rows(rows: pd.DataFrame, params: SplitParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded train/test split, stratified on the target when params ask for it."""
    train, test = train_test_split(
        rows,
        test_size=params.test_size,
        random_state=params.seed,
        stratify=rows[TARGET.name] if params.stratify else None,
    )
    return train, test
