"""The features stage on Dask: the team's `build_features`, through `model_inputs`, on every partition."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from distributed import Client

from ..config import ComputeParams
from ..contract import TARGET
from ..core.columns import PANDAS_DTYPES
from ..core.featureset import feature_list, features_table
from .tables import read_stage_table, write_frame


def features_meta() -> pd.DataFrame:
    """An empty features table: the declared features in their dtypes, then the target."""
    declared = feature_list()
    columns = {name: pd.Series(dtype=declared.dtypes[name]) for name in declared.names}
    return pd.DataFrame({**columns, TARGET.name: pd.Series(dtype=PANDAS_DTYPES[TARGET.dtype])})


def features_files(split_paths: list[Path], output_dir: Path, client: Client, settings: ComputeParams) -> list[Path]:
    """Write the model inputs and target of each split file to `output_dir`; return the paths written."""
    meta = features_meta()
    written = []
    for split_path in split_paths:
        destination = output_dir / split_path.name
        rows = read_stage_table(split_path, settings)
        write_frame(client, rows.map_partitions(features_table, meta=meta), destination, meta)
        written.append(destination)
    return written
