"""The split stage on Dask: train and test sets, partition by partition.

A random split draws each partition's test rows with the local stage's own `split_rows`, seeded
by `split.seed` and the partition's number, so each class keeps its share in every partition.
A time split holds out the newest rows of the whole table: the cluster finds the timestamp of
the oldest test row (the `test_size` share of the newest), and every partition splits at it;
rows that share that timestamp all go to the test set.
"""

from __future__ import annotations

from pathlib import Path

import dask
import dask.dataframe as dd
import pandas as pd
from distributed import Client

from ..config import ComputeParams, ConfigError, SplitParams
from ..core.columns import Role
from ..core.contract import columns_with_role
from ..pipeline.split import split_rows
from .tables import read_stage_table, write_frame


def split_partition(rows: pd.DataFrame, params: SplitParams, number: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One partition's train and test rows, drawn with a seed of its own."""
    return split_rows(rows, params.model_copy(update={"seed": params.seed + number}))


def time_cutoff(rows: dd.DataFrame, params: SplitParams, client: Client) -> pd.Timestamp:
    """The timestamp from which rows are test rows: that of the newest `test_size` share's oldest row."""
    timestamps = columns_with_role(Role.TIMESTAMP)
    if not timestamps:
        raise ConfigError("params.yaml split.strategy is time, but the data contract has no timestamp column")
    column = rows[timestamps[0].name]
    total = client.compute(column.size).result()
    return client.compute(column.nlargest(max(1, round(total * params.test_size))).min()).result()


def split_file(
    source: Path, train_path: Path, test_path: Path, params: SplitParams, client: Client, settings: ComputeParams
) -> tuple[int, int]:
    """Split the validated rows in `source` into `train_path` and `test_path`; the row counts of each."""
    rows = read_stage_table(source, settings)
    meta = rows._meta
    if params.strategy == "time":
        column = rows[columns_with_role(Role.TIMESTAMP)[0].name]
        cutoff = time_cutoff(rows, params, client)
        train, test = rows[column < cutoff], rows[column >= cutoff]
    else:
        pairs = [dask.delayed(split_partition, nout=2)(part, params, n) for n, part in enumerate(rows.to_delayed())]
        train = [part for part, _ in pairs]
        test = [part for _, part in pairs]
    return write_frame(client, train, train_path, meta), write_frame(client, test, test_path, meta)
