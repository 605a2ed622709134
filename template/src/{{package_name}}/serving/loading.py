"""What the service serves, decided once at start-up: the promoted model, or the fallback policy.

A version is usable when its file loads (present, hash as recorded, trusted types only), it
was trained on the project's current data contract (`registry.contracts`), and it answers
the contract's example row. `ml-project.yaml` `service.fallback` says what happens when the
promoted version is not usable:

- `error`: nothing is served. `preflight` stops start-up with the reason and a non-zero exit.
  It runs in `<package> serve` before BentoML starts, and again in every `bentoml serve`
  (a built Bento, its container image, the Kubernetes pods) before any worker starts: without
  it BentoML would respawn a worker that cannot load the model forever.
- `rule_based`: the service starts and answers `service.fallback_prediction`, flagging every
  such answer in the response and the metrics.
- `last_good`: the previously promoted version is served instead, if it is usable; if not, as `error`.

A feature-store project also needs its online store (`lookup`): missing, unreadable or never
materialized, the service refuses to start under `error`, and under `rule_based` or
`last_good` starts and answers `service.fallback_prediction`, flagged, naming the store in
its log and in `/metadata`'s `fallback` (a previous model would need the same store).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import FeatureStoreSettings, ServiceSettings
from ..contract import COLUMNS
from ..core.errors import ProjectError
from ..registry.artifacts import load_model
from ..registry.contracts import require_current_contract
from ..registry.store import Registry
from .api import PredictionRequest, answers_from
from .lookup import FeatureLookup, open_lookup
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
    features_unavailable: bool = False  # the online feature store cannot be read: the rule-based default answers

    @property
    def is_fallback(self) -> bool:
        return self.fallback_reason is not None

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "rule-based"))


def example_rows() -> list[dict[str, Any]]:
    """The contract's example row, as the request model passes it to the model: what warm-ups predict."""
    return [PredictionRequest.model_validate({column.name: column.example for column in COLUMNS}).model_dump()]


def answer_example(model: Any, metadata: dict[str, Any]) -> None:
    """Predict the example row: raises whatever a worker's first request would meet."""
    answers_from(model, metadata, example_rows())


def load_usable(registry: Registry, version: str) -> ServedModel:
    """`version` loaded, verified, checked against the current contract and tried on the example row."""
    model, metadata = load_model(registry.model_path(version))
    require_current_contract(version, metadata)
    try:
        answer_example(model, metadata)
    except Exception as error:  # any failure here is one every request would meet
        raise ServingError(
            f"version {version} cannot answer the contract's example row ({type(error).__name__}: {error}): "
            "retrain it on the current contract, or roll back"
        ) from None
    return ServedModel(model, metadata)


def load_promoted(registry: Registry) -> ServedModel:
    """The promoted version, loaded and verified."""
    return load_usable(registry, registry.require_promoted())


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
        try:
            last_good = load_usable(registry, previous)
        except ProjectError as error:
            raise ServingError(f"cannot serve: {problem}; and the last good version is unusable too: {error}") from None
        reason = f"promoted model unusable ({problem}); serving {previous}"
        return ServedModel(last_good.model, last_good.metadata, fallback_reason=reason)
    if settings.fallback == "rule_based":
        if settings.fallback_prediction is None:
            raise ServingError(f"cannot serve: {problem}; and service.fallback_prediction is not set (rule_based)")
        return ServedModel(None, {"version": "rule-based"}, fallback_reason=f"promoted model unusable ({problem})")
    raise ServingError(f"cannot serve: {problem} (service.fallback is error: fix the model, or roll back)")


def resolve_features(
    settings: ServiceSettings, feature_store: FeatureStoreSettings, served: ServedModel
) -> tuple[FeatureLookup | None, ServedModel]:
    """The online feature lookup (None without feature views) and what to serve: `served`, or the
    rule-based default when the store cannot be read and `service.fallback` allows it.

    Raises `ServingError` naming the store otherwise, and when a fallback answer is needed but
    `service.fallback_prediction` is not set.
    """
    try:
        lookup = open_lookup()
    except ProjectError as error:
        if settings.fallback == "error" or settings.fallback_prediction is None:
            raise ServingError(
                f"cannot serve: {error} (service.fallback is {settings.fallback}, "
                f"fallback_prediction {settings.fallback_prediction})"
            ) from None
        reason = f"online feature store unusable ({error}); answering service.fallback_prediction"
        return None, ServedModel(None, {"version": "rule-based"}, fallback_reason=reason, features_unavailable=True)
    if lookup is not None and feature_store.unknown_entity == "fallback" and settings.fallback_prediction is None:
        raise ServingError("feature_store.unknown_entity is fallback but service.fallback_prediction is not set")
    return lookup, served


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


def preflight(registry: Registry, settings: ServiceSettings, feature_store: FeatureStoreSettings | None = None) -> str:
    """Check the service can start as configured; return what it will serve, or raise `ServingError`.

    It does what a worker does before it answers (`resolve`: load, verify, check the contract,
    predict the example row; with feature views, open and read the online store), in this
    process, so a model or store that would kill the worker stops start-up here, with the
    reason, instead.
    """
    api_keys(settings)
    lookup, served = resolve_features(settings, feature_store or FeatureStoreSettings(), resolve(registry, settings))
    if served.is_fallback:
        summary = f"starting in fallback: {served.fallback_reason}"
    else:
        summary = f"serving promoted model {served.version} from {Path(registry.root)}"
    if lookup is not None:
        summary += f", reading feature views from the online store {lookup.store}"
    shadow = load_shadow(registry, served.version)
    if shadow.shadow is not None:
        summary += f"; shadow: {shadow.shadow.version} (logged and compared, never returned)"
    elif shadow.problem is not None:
        summary += f"; no shadow: {shadow.problem}"
    return summary
