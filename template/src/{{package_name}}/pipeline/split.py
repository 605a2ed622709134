"""The split stage: train and test sets from validated rows, at random or by time.

A time split holds out the newest rows, which is how a model meets production data: it
exposes drift that a random split hides. Plain pandas rather than scikit-learn: this stage
runs in its own process, and not importing scikit-learn saves more time than the split takes.
"""

from __future__ import annotations

import pandas as pd

from ..config import ConfigError, SplitParams
from ..contract import TARGET
from ..core.columns import Role
from ..core.contract import columns_with_role


def random_split(rows: pd.DataFrame, params: SplitParams) -> pd.Index:
    """Index of a seeded random test set; with `stratify`, each class keeps its share."""
    if params.stratify:
        test = rows.groupby(TARGET.name, group_keys=False).sample(frac=params.test_size, random_state=params.seed)
    else:
        test = rows.sample(frac=params.test_size, random_state=params.seed)
    return test.index


def time_split(rows: pd.DataFrame, params: SplitParams) -> pd.Index:
    """Index of the newest `test_size` share of rows, by the contract's timestamp column."""
    timestamps = columns_with_role(Role.TIMESTAMP)
    if not timestamps:
        raise ConfigError("params.yaml split.strategy is time, but the data contract has no timestamp column")
    order = rows[timestamps[0].name].sort_values(kind="stable").index
    test_rows = max(1, round(len(rows) * params.test_size))
    return order[-test_rows:]


def split_rows(rows: pd.DataFrame, params: SplitParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and test sets, each in the original row order."""
    test_index = time_split(rows, params) if params.strategy == "time" else random_split(rows, params)
    return rows.drop(index=test_index).sort_index(), rows.loc[test_index].sort_index()
