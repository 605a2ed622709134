"""Batch scoring on Dask: every partition of the input scored on the cluster by `scoring.batch.score_frame`.

Each partition takes the service's path (contract checks, `model_inputs`, `predict`) on a worker,
with the promoted model shipped once to the cluster; the client writes the answers and the
rejects as they come back, in input order, through the same atomic files as the local command
(`scoring.batch.run_outputs`), so a failed run leaves the previous output as it was. Rows are
numbered from 1 across the whole file, as the local command numbers them.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

import dask
import pandas as pd
from distributed import Client

from ..config import ComputeParams
from ..core.contract import contract_columns
from ..scoring.batch import (
    ScoredRows,
    ScoringError,
    ScoringSummary,
    input_format,
    new_run_id,
    rejects_path,
    run_outputs,
    score_frame,
)
from ..serving.loading import ServedModel
from .tables import in_order, read_raw_partitions


def score_partition(
    rows: pd.DataFrame, first_row: int, served: ServedModel, run_id: str, explain: int = 0
) -> ScoredRows:
    """Score one partition whose first row is row `first_row` of the file (`explain`: as in `score_frame`)."""
    numbered = rows.set_axis(pd.RangeIndex(first_row, first_row + len(rows)), axis="index")
    return score_frame(numbered, served, run_id, explain)


def score_file(
    source: str,
    output: Path,
    served: ServedModel,
    client: Client,
    settings: ComputeParams,
    *,
    rejects: Path | None = None,
    progress: TextIO | None = sys.stderr,
    explain: int = 0,
) -> ScoringSummary:
    """Score every row of `source` on the cluster into `output` and the rejects file, as `scoring.batch.score_file`."""
    run_id, started = new_run_id(), time.perf_counter()
    rejects = rejects or rejects_path(output)
    input_format(source)
    if rejects.suffix.lower() != ".csv":
        raise ScoringError(f"{rejects}: the rejects file is written as CSV: give it a .csv name")
    try:
        frame = read_raw_partitions(source, settings)
    except FileNotFoundError:
        raise ScoringError(f"{source}: no such file: give the path or URL of a .csv or .parquet file") from None
    except pd.errors.EmptyDataError:
        raise ScoringError(f"{source}: the file is empty: it needs a header with the contract's columns") from None
    names = [column.name for column in contract_columns(with_target=False)]
    missing = [name for name in names if name not in frame.columns]
    if missing:
        listed = ", ".join(repr(name) for name in missing)
        raise ScoringError(f"{source}: the contract's columns {listed} are missing: add them to the file")
    partitions = client.persist(frame[names]).to_delayed()
    lengths = client.gather(client.compute([dask.delayed(len)(part) for part in partitions]))
    if sum(lengths) == 0:
        raise ScoringError(f"{source}: the file has a header but no rows")
    firsts = [1 + sum(lengths[:number]) for number in range(len(lengths))]
    model = dask.delayed(served, pure=True)  # shipped to the cluster once, not once per partition
    tasks = [
        dask.delayed(score_partition)(part, first, model, run_id, explain)
        for part, first in zip(partitions, firsts, strict=True)
    ]
    with run_outputs(output, rejects) as (scored, rejected):
        for number, answered in enumerate(in_order(client.compute(tasks)), start=1):
            scored.write(answered.scored)
            rejected.write(answered.rejects)
            if progress is not None and len(tasks) > 1:
                rate = (scored.rows + rejected.rows) / (time.perf_counter() - started)
                print(
                    f"partition {number}/{len(tasks)}: {scored.rows} rows scored, {rejected.rows} rejected "
                    f"({rate:,.0f} rows/s)",
                    file=progress,
                )
    return ScoringSummary.of_run(run_id, served.version, scored, rejected, started)
