"""What the service serves, decided once at start-up: the promoted model, or the fallback policy.

`ml-project.yaml` `service.fallback` says what happens when the promoted model cannot be
loaded (missing, corrupt, hash mismatch, untrusted types):

- `error`: nothing is served; `preflight` (run by `<package> serve`) stops start-up with
  the reason and a non-zero exit, where `bentoml serve` alone would respawn the worker forever.
- `rule_based`: the service starts and answers `service.fallback_prediction`, flagging every
  such answer in the response and the metrics.
- `last_good`: the previously promoted version is loaded instead; with none, as `error`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import ServiceSettings
from ..core.errors import ProjectError
from ..registry.artifacts import load_model
from ..registry.store import Registry
from .shadow import load_shadow

API_KEYS_ENV = "SERVICE_API_KEYS"
# Measured with Shipshape's benchmarks/serve.py and the sample model: one worker, at full use of one core,
# answers about 165 single-row requests per second one at a time (~6 ms of CPU each), and
# several times that when they arrive together (see `batching`). Planning uses the former.
REQUESTS_PER_SECOND_PER_WORKER = 150
MAX_BATCH_WAIT_SECONDS = 0.005


class ServingError(ProjectError):
    """The service cannot start: no model it may serve, or its settings are incomplete."""


@dataclass(frozen=True)
class ServedModel:
    """The model a worker answers with; `model` is None when answering the rule-based default."""

    model: Any
    metadata: dict[str, Any]
    fallback_reason: str | None = None

    @property
    def is_fallback(self) -> bool:
        return self.fallback_reason is not None

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "rule-based"))


def load_promoted(registry: Registry) -> ServedModel:
    """The promoted version, loaded and verified."""
    version = registry.require_promoted()
    model, metadata = load_model(registry.model_path(version))
    return ServedModel(model, metadata)


def resolve(registry: Registry, settings: ServiceSettings) -> ServedModel:
    """The model to serve under the fallback policy; raises `ServingError` when there is none."""
    try:
        return load_promoted(registry)
    except ProjectError as error:
        problem = str(error)
    if settings.fallback == "last_good":
        previous = registry.previous_version()
        if previous is None:
            raise ServingError(f"cannot serve: {problem}; and no earlier version to fall back to (last_good)")
        model, metadata = load_model(registry.model_path(previous))
        return ServedModel(model, metadata, fallback_reason=f"promoted model unusable ({problem}); serving {previous}")
    if settings.fallback == "rule_based":
        if settings.fallback_prediction is None:
            raise ServingError(f"cannot serve: {problem}; and service.fallback_prediction is not set (rule_based)")
        return ServedModel(None, {"version": "rule-based"}, fallback_reason=f"promoted model unusable ({problem})")
    raise ServingError(f"cannot serve: {problem} (service.fallback is error: fix the model, or roll back)")


def api_keys(settings: ServiceSettings) -> frozenset[str]:
    """The accepted API keys (comma-separated in SERVICE_API_KEYS); empty when auth is off."""
    if not settings.api_key_auth:
        return frozenset()
    keys = frozenset(key.strip() for key in os.environ.get(API_KEYS_ENV, "").split(",") if key.strip())
    if not keys:
        raise ServingError(f"service.api_key_auth is on but {API_KEYS_ENV} is empty: set it to one or more keys")
    return keys


def traffic(settings: ServiceSettings, cpu_count: int | None = None) -> dict[str, Any]:
    """BentoML traffic and worker settings from the latency budget and peak throughput answers.

    The timeout is ten latency budgets (at least 5 s, for full batches; at most 10 s): long
    enough for a slow request, short enough that an overloaded worker answers 504 instead of
    hanging. Concurrency is four times what Little's law says peak traffic keeps in flight (at
    least 32); above it BentoML answers 429 at once. Workers cover peak throughput, up to one
    per CPU. A batch waits at most a twentieth of the budget, and never over 5 ms, for
    requests to join it (see `batching`).
    """
    budget_seconds = settings.latency_budget_ms / 1000
    in_flight = settings.peak_throughput_rps * budget_seconds
    workers = math.ceil(settings.peak_throughput_rps / REQUESTS_PER_SECOND_PER_WORKER)
    return {
        "timeout": min(10.0, max(5.0, 10 * budget_seconds)),
        "max_concurrency": max(32, math.ceil(4 * in_flight)),
        "workers": max(1, min(workers, cpu_count or os.cpu_count() or 1)),
        "batch_wait": min(MAX_BATCH_WAIT_SECONDS, budget_seconds / 20),
    }


def preflight(registry: Registry, settings: ServiceSettings) -> str:
    """Check the service can start as configured; return what it will serve, or raise `ServingError`."""
    api_keys(settings)
    served = resolve(registry, settings)
    if served.is_fallback:
        summary = f"starting in fallback: {served.fallback_reason}"
    else:
        summary = f"serving promoted model {served.version} from {Path(registry.root)}"
    shadow = load_shadow(registry, served.version)
    if shadow.shadow is not None:
        summary += f"; shadow: {shadow.shadow.version} (logged and compared, never returned)"
    elif shadow.problem is not None:
        summary += f"; no shadow: {shadow.problem}"
    return summary
