"""The split stage: a seeded train/test split of validated rows."""

from __future__ import annotations

import pandas as pd
from sklearn.model_selection import train_test_split

from .config import SplitParams
from .schema import TARGET


def split_rows(rows: pd.DataFrame, params: SplitParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded train/test split, stratified on the target when params ask for it."""
    train, test = train_test_split(
        rows,
        test_size=params.test_size,
        random_state=params.seed,
        stratify=rows[TARGET.name] if params.stratify else None,
    )
    return train, test
