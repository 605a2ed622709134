"""Stage files as Dask frames: raw rows read in partitions, and partitions written to one Parquet file.

Workers read a stage's input by path (the local cluster shares this machine's disk; a real cluster
needs the project directory, or `data.raw`'s URL, where its workers can read it). The client
writes a stage's output: it fetches the computed partitions one at a time, in order, and writes
each as a row group of one Parquet file, so its memory holds one partition, the file reads back
in the same partitions, and the next stage reads the same file whatever the engine. The file
is written under a temporary name and renamed once complete: a stage that fails leaves the
previous output as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import dask.dataframe as dd
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dask.delayed import Delayed
from distributed import Client, Future

from ..config import ComputeParams
from ..core.tables import TableError


def at_least_one_per_worker(frame: dd.DataFrame, settings: ComputeParams) -> dd.DataFrame:
    """`frame` split further when it has fewer partitions than workers: every worker gets rows to train on."""
    return frame if frame.npartitions >= settings.workers else frame.repartition(npartitions=settings.workers)


def read_raw_partitions(source: str, settings: ComputeParams) -> dd.DataFrame:
    """Raw rows in partitions of about `compute.blocksize` bytes: CSV cells as text (as `validate` reads them)."""
    if source.lower().endswith(".parquet"):
        frame = dd.read_parquet(source, split_row_groups=True)
    else:
        frame = dd.read_csv(source, dtype=str, keep_default_na=False, blocksize=settings.blocksize)
    return at_least_one_per_worker(frame, settings)


def read_stage_table(path: Path, settings: ComputeParams) -> dd.DataFrame:
    """A table a stage wrote, one partition per row group."""
    if not path.is_file():
        raise TableError(f"{path} not found: run the stages before this one (`uv run dvc repro`)")
    return at_least_one_per_worker(dd.read_parquet(str(path), split_row_groups=True), settings)


def in_order(futures: Iterable[Future]) -> Iterator[pd.DataFrame]:
    """Each future's frame in turn, released as soon as it is fetched."""
    for future in futures:
        yield future.result()
        future.release()


def write_partitions(partitions: Iterable[pd.DataFrame], path: Path, meta: pd.DataFrame) -> int:
    """Write frames as the row groups of one Parquet file, replacing `path` only once complete; the rows written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    schema = pa.Schema.from_pandas(meta, preserve_index=False)
    rows = 0
    try:
        with pq.ParquetWriter(partial, schema) as writer:
            for partition in partitions:
                if len(partition):
                    writer.write_table(pa.Table.from_pandas(partition, schema=schema, preserve_index=False))
                    rows += len(partition)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return rows


def write_frame(client: Client, frame: dd.DataFrame | list[Delayed], path: Path, meta: pd.DataFrame) -> int:
    """Compute `frame`'s partitions on the cluster and write them to `path`; the rows written."""
    delayed = frame.to_delayed() if isinstance(frame, dd.DataFrame) else frame
    return write_partitions(in_order(client.compute(delayed)), path, meta)
