"""The Dask cluster a stage runs on: a real one when `DASK_SCHEDULER_ADDRESS` names it, else a bounded
`LocalCluster` the stage starts and always closes.

A cluster that fails the stage fails it with a `ClusterError` naming the scheduler's address: one
that cannot be reached within `compute.connect_timeout_seconds`, or one that loses a worker while
the stage computes. The local cluster gives a task no second worker to die on (no retries), so a
dying worker stops the stage at once instead of after several restarts; a real cluster keeps its
own retry policy. Stages write their outputs only once everything is computed, so a failed stage
leaves the previous outputs as they were.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager

import dask
from distributed import Client, LocalCluster
from distributed.comm.core import CommClosedError
from distributed.scheduler import KilledWorker

from ..config import ComputeParams
from ..core.errors import ProjectError

# Text columns as pandas itself reads them (`str`), not as pyarrow-backed `string`: the partitions
# are then typed exactly as the local stages' frames, which the contract checks and the encoder expect.
PANDAS_STRINGS = {"dataframe.convert-string": False}
ADDRESS_ENV = "DASK_SCHEDULER_ADDRESS"  # read by dask's config as `scheduler-address`
# What a lost worker or scheduler raises in the client.
CLUSTER_FAILURES = (KilledWorker, CommClosedError, asyncio.CancelledError, TimeoutError, OSError)


class ClusterError(ProjectError):
    """The Dask cluster cannot be reached, or lost a worker while a stage computed."""


def scheduler_address() -> str | None:
    """The real cluster's scheduler (`DASK_SCHEDULER_ADDRESS`, or `scheduler-address` in dask's config), if any."""
    return os.environ.get(ADDRESS_ENV) or dask.config.get("scheduler-address", None) or None


def local_cluster(settings: ComputeParams) -> LocalCluster:
    """A cluster on this machine: `settings.workers` workers, each with its threads and memory bounded.

    Worker processes bind to 127.0.0.1; threads (`processes: false`) talk in memory and start
    in a fraction of the time. The dashboard needs bokeh, which is not installed: the
    scheduler's HTTP endpoints (health, metrics) listen on 127.0.0.1, at a free port.
    """
    network = {"host": "127.0.0.1"} if settings.processes else {}
    return LocalCluster(
        n_workers=settings.workers,
        threads_per_worker=settings.threads_per_worker,
        memory_limit=settings.memory_limit,
        processes=settings.processes,
        dashboard_address="127.0.0.1:0",
        scheduler_kwargs={"allowed_failures": 0},
        **network,
    )


@contextmanager
def cluster_client(settings: ComputeParams) -> Iterator[Client]:
    """A client of the configured cluster for the length of a stage; the local cluster is closed on the way out."""
    with dask.config.set(PANDAS_STRINGS):  # local workers inherit the client's dask config
        yield from _connected(settings)


def _connected(settings: ComputeParams) -> Iterator[Client]:
    address = scheduler_address()
    cluster = None
    try:
        if address is None:
            cluster = local_cluster(settings)
            address = cluster.scheduler_address
            client = Client(cluster, timeout=settings.connect_timeout_seconds)
        else:
            client = Client(address, timeout=settings.connect_timeout_seconds)
    except CLUSTER_FAILURES as error:
        if cluster is not None:
            cluster.close()
        raise ClusterError(
            f"cannot reach the Dask scheduler at {address} within {settings.connect_timeout_seconds} s ({error}): "
            f"start it, or unset {ADDRESS_ENV} to run on a local cluster"
        ) from None
    try:
        workers = set(client.scheduler_info()["workers"])
        yield client
    except CLUSTER_FAILURES as error:
        lost = lost_workers(client, workers)
        if lost is None and not isinstance(error, KilledWorker | CommClosedError):
            raise  # the stage's own error (a file it cannot write, say), not the cluster's
        raise ClusterError(
            f"the Dask cluster at {address} failed during the stage: {lost or 'a worker died'} ({error}); "
            "no output was replaced (after `dvc repro`, `uv run dvc checkout` restores the last recorded ones)"
        ) from None
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def lost_workers(client: Client, started_with: set[str]) -> str | None:
    """Which of the workers the stage started with are gone, in words; None when none is."""
    try:
        current = set(client.scheduler_info()["workers"])
    except CLUSTER_FAILURES:
        return "the scheduler stopped answering"
    lost = sorted(started_with - current)
    return f"lost worker(s) {', '.join(lost)}" if lost else None
