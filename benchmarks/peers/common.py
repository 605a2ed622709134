"""What every peer shares: the project's answering core and its Prometheus counters on `/metrics`."""

from __future__ import annotations

from typing import Any

from target import project_module


def start_answering() -> Any:
    """The project's `Answering`, loaded and warmed up as the service loads it."""
    return project_module("serving.answering").Answering.start()


def metrics_app() -> Any:
    """An ASGI app answering `/metrics` from every process's counters (`PROMETHEUS_MULTIPROC_DIR`, set by serve.py).

    BentoML counts in the same multiprocess mode, so a counter costs every server the same.
    """
    from prometheus_client import CollectorRegistry, make_asgi_app, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return make_asgi_app(registry)
