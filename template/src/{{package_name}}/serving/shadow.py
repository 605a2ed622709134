"""Shadow mode: a candidate version scores every request next to the served one, unseen by callers.

Set `SHADOW_MODEL_VERSION` to a version in the registry and restart the service: each answer's
prediction-log record then carries the candidate's answer under `shadow`, and `/metrics`
counts how often the two agree (`model_shadow_comparisons_total{outcome}`: `agree` /
`disagree` for classification, `compared` for regression, plus `error`) and, for regression,
how far apart they are (`model_shadow_difference`). The caller only ever gets the served
model's answer: a shadow that cannot load, or fails on a request, is logged and counted and
changes nothing else. Scoring runs on the request path, so shadowing roughly doubles the
prediction's CPU time per request.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from ..contract import TARGET
from ..core.errors import ProjectError
from ..registry.artifacts import load_model
from ..registry.contracts import mismatch, recorded_contract
from ..registry.store import Registry
from ..telemetry.observability import METRIC_PREFIX, value_buckets
from .api import Prediction, answers_from

if TYPE_CHECKING:
    import prometheus_client

SHADOW_VERSION_ENV = "SHADOW_MODEL_VERSION"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShadowModel:
    """A registered candidate scored in shadow."""

    model: Any
    metadata: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.metadata["version"])

    def answers(self, rows: list[dict[str, Any]]) -> list[Prediction]:
        return answers_from(self.model, self.metadata, rows)


@dataclass(frozen=True)
class ShadowSetup:
    """The shadow a worker runs (None for none) and, when one was asked for but not loaded, why."""

    shadow: ShadowModel | None = None
    problem: str | None = None


def load_shadow(registry: Registry, served_version: str, environ: Mapping[str, str] = os.environ) -> ShadowSetup:
    """The candidate `SHADOW_MODEL_VERSION` names, loaded and verified like the served model.

    Never raises: a shadow is an experiment, so a bad setting must not stop the service.
    """
    version = environ.get(SHADOW_VERSION_ENV, "").strip()
    if not version:
        return ShadowSetup()
    if version == served_version:
        return ShadowSetup(problem=f"{SHADOW_VERSION_ENV}={version} is the served version: nothing to compare")
    if version not in registry.versions():
        known = ", ".join(registry.versions()) or "none"
        return ShadowSetup(problem=f"{SHADOW_VERSION_ENV}={version} is not in the registry (versions: {known})")
    try:
        model, metadata = load_model(registry.model_path(version))
    except ProjectError as error:
        return ShadowSetup(problem=f"{SHADOW_VERSION_ENV}={version} cannot be loaded: {error}")
    if (different := mismatch(version, recorded_contract(metadata))) is not None:
        return ShadowSetup(problem=f"{SHADOW_VERSION_ENV}={version} cannot score today's requests: {different}")
    return ShadowSetup(ShadowModel(model, metadata))


def shadow_entry(answer: Prediction) -> dict[str, Any]:
    """What the prediction log keeps of a shadow answer."""
    return {
        "model_version": answer.model_version,
        "prediction": answer.prediction,
        "probabilities": answer.probabilities,
    }


def difference_buckets() -> tuple[float, ...]:
    """The predicted-value buckets, shifted to start at zero: differences span the target's range."""
    low = TARGET.minimum if TARGET.minimum is not None else 0.0
    return tuple(bound - low for bound in value_buckets())


@dataclass(frozen=True)
class ShadowMetrics:
    comparisons: prometheus_client.Counter
    difference: prometheus_client.Histogram


@cache
def shadow_metrics() -> ShadowMetrics:
    """This process's shadow metrics, created on first use (as in `observability`)."""
    import prometheus_client

    return ShadowMetrics(
        comparisons=prometheus_client.Counter(
            f"{METRIC_PREFIX}shadow_comparisons",
            "Shadow answers compared with the served ones: agree, disagree (classification), compared, error",
            ["outcome"],
        ),
        difference=prometheus_client.Histogram(
            f"{METRIC_PREFIX}shadow_difference",
            "Absolute difference between the shadow's and the served model's predicted value (regression)",
            buckets=difference_buckets(),
        ),
    )


def record_comparison(
    served: Sequence[Prediction], shadow: Sequence[Prediction] | None, *, classification: bool
) -> None:
    """Count how the shadow's answers compare with the served ones; `shadow` None means it failed."""
    metrics = shadow_metrics()
    if shadow is None:
        metrics.comparisons.labels(outcome="error").inc(len(served))
        return
    for answer, candidate in zip(served, shadow, strict=True):
        if classification:
            metrics.comparisons.labels(
                outcome="agree" if answer.prediction == candidate.prediction else "disagree"
            ).inc()
        else:
            metrics.comparisons.labels(outcome="compared").inc()
            metrics.difference.observe(abs(float(candidate.prediction) - float(answer.prediction)))


def score_in_shadow(shadow: ShadowModel, rows: list[dict[str, Any]]) -> list[Prediction] | None:
    """The shadow's answers, or None (logged) when it fails: a failing shadow never fails the request."""
    try:
        return shadow.answers(rows)
    except Exception:  # any failure of the candidate is the experiment's result, not the caller's problem
        logger.exception("the shadow model %s failed to predict", shadow.version)
        return None
