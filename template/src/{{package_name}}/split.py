"""The split stage: a seeded train/test split of validated rows.

Plain pandas sampling rather than scikit-learn: this stage runs in its own process, and
not importing scikit-learn here saves more time than the split itself takes.
"""

from __future__ import annotations

import pandas as pd

from .config import SplitParams
from .schema import TARGET


def split_rows(rows: pd.DataFrame, params: SplitParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded train/test split; with `stratify`, each target class keeps its share in both parts."""
    if params.stratify:
        test = rows.groupby(TARGET.name, group_keys=False).sample(frac=params.test_size, random_state=params.seed)
    else:
        test = rows.sample(frac=params.test_size, random_state=params.seed)
    train = rows.drop(index=test.index)
    return train.sort_index(), test.sort_index()
