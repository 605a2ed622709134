"""The validate stage on Dask: each partition of the raw rows checked with the contract's own pandera checks.

The bytes are vouched for as in the local stage (`pipeline.validate.check_version`), then every
partition is checked on the cluster by `core.validation.check_rows`. Failures are small and come
back first: any at all fail the stage with the local stage's summary, before a row is written.
"""

from __future__ import annotations

import json
from pathlib import Path

import dask
import pandas as pd
from distributed import Client

from ..config import ComputeParams
from ..core.validation import DataContractError, check_rows, summarise_failures
from ..pipeline.validate import DataVersionError, check_version
from .tables import in_order, read_raw_partitions, write_partitions


def checked_partition(rows: pd.DataFrame, number: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One partition's rows typed by the contract, and its failure cases with rows named `<partition>:<row>`."""
    valid, failures = check_rows(rows, with_target=True)
    named = failures["index"].astype(object).map(lambda index: index if pd.isna(index) else f"{number}:{index}")
    return valid, failures.assign(index=named)


def all_failures(failures: list[pd.DataFrame]) -> pd.DataFrame:
    """Every partition's failure cases, with a missing or unexpected column (reported by each) once."""
    cases = pd.concat(failures, ignore_index=True)
    table_level = cases["index"].isna()
    once = cases[table_level].astype(str).drop_duplicates().index
    return cases[~table_level | cases.index.isin(once)]


def validate_file(
    source: Path, destination: Path, lineage: Path | None, client: Client, settings: ComputeParams
) -> int:
    """Validate `source` on the cluster and write the coerced rows to `destination` (as the local stage
    does); return the row count."""
    try:
        content = source.read_bytes()
    except OSError as error:
        raise DataVersionError(f"{source}: cannot read the raw data ({error.strerror})") from None
    record = check_version(source, content)
    del content  # the workers read the file themselves
    partitions = read_raw_partitions(str(source), settings).to_delayed()
    checked = [dask.delayed(checked_partition, nout=2)(rows, number) for number, rows in enumerate(partitions)]
    valid = [rows for rows, _ in checked]
    # One computation: the checks run once, the failures and row counts come back, the rows wait on the workers.
    futures = client.compute([*valid, *(failed for _, failed in checked), *(dask.delayed(len)(rows) for rows in valid)])
    valid_futures, failures, counts = (
        futures[: len(valid)],
        futures[len(valid) : 2 * len(valid)],
        futures[2 * len(valid) :],
    )
    found = all_failures(client.gather(failures))
    if not found.empty:
        raise DataContractError(f"{source}: {summarise_failures(found)}")
    if sum(client.gather(counts)) == 0:
        raise DataContractError(f"{source}: no rows: the header matches the contract but there are no data rows")
    rows = write_partitions(in_order(valid_futures), destination, valid_futures[0].result().iloc[:0])
    if lineage is not None:
        lineage.parent.mkdir(parents=True, exist_ok=True)
        lineage.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return rows
