"""The live primary metric: the gate's metric on the logged answers whose true outcome is known.

Scored by `core.metrics.metric_value`, as the evaluate stage scores the held-out rows, from the
labels and class probabilities the service logged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from ..config import ProjectConfig
from ..core.metrics import METRICS, metric_value, reported
from ..core.predict import Predictions
from .inputs import REQUEST_ID, MonitorInputError
from .profile import Reference


class Performance(BaseModel):
    """The live metric against the gate's threshold; `judged` once enough rows have outcomes."""

    model_config = ConfigDict(frozen=True)

    metric: str
    value: float | None
    threshold: float
    higher_is_better: bool
    rows: int
    judged: bool
    decayed: bool

    @classmethod
    def of(
        cls, metric: str, value: float | None, threshold: float, higher_is_better: bool, rows: int, *, judged: bool
    ) -> Performance:
        """The result, decayed when judged and on the wrong side of the threshold."""
        missed = value is not None and (value < threshold if higher_is_better else value > threshold)
        return cls(
            metric=metric,
            value=value,
            threshold=threshold,
            higher_is_better=higher_is_better,
            rows=rows,
            judged=judged,
            decayed=judged and missed,
        )


def live_performance(
    outcomes: pd.Series, log: pd.DataFrame, reference: Reference, config: ProjectConfig, source: Path
) -> Performance:
    """The gate metric on the logged answers whose outcome is known (fallback answers excluded)."""
    known_ids = set(log[REQUEST_ID].astype(str))
    unknown = [request_id for request_id in outcomes.index if request_id not in known_ids]
    if unknown:
        raise MonitorInputError(
            f"{source}: {len(unknown)} request id(s) are not in the predictions (e.g. {', '.join(unknown[:3])}); "
            "check the file, or point --predictions at the log that holds them"
        )
    answered = log[~log["_fallback"] & log[REQUEST_ID].astype(str).isin(outcomes.index)]
    metric = config.gate.metric
    if metric not in METRICS:
        raise MonitorInputError(f"ml-project.yaml gate.metric {metric!r} is not a known metric")
    truth = outcomes.loc[answered[REQUEST_ID].astype(str)].to_numpy()
    value = score(metric, truth, answered, reference) if len(answered) else None
    judged = len(answered) >= config.monitoring.min_window
    return Performance.of(
        metric, value, config.gate.threshold, METRICS[metric].higher_is_better, len(answered), judged=judged
    )


def score(metric: str, truth: np.ndarray, answered: pd.DataFrame, reference: Reference) -> float | None:
    """One metric of the logged answers (`_prediction`, `_probabilities`), as the evaluate stage computes it."""
    classes = reference.profile.classes
    if classes is None:
        predictions = Predictions(values=pd.to_numeric(answered["_prediction"]).to_numpy(dtype="float64"))
        truth = pd.to_numeric(pd.Series(truth), errors="coerce").to_numpy(dtype="float64")
    else:
        scores = [[float((row or {}).get(label, np.nan)) for label in classes] for row in answered["_probabilities"]]
        predictions = Predictions(
            values=answered["_prediction"].astype(str).to_numpy(),
            probabilities=np.array(scores, dtype="float64"),
            classes=np.array(classes),
        )
        truth = np.array([_label(value) for value in truth])
    try:
        return reported(metric_value(metric, truth, predictions))
    except ValueError as error:  # e.g. a label outside the model's classes
        raise MonitorInputError(f"cannot compute {metric} on the outcomes: {error}") from None


def _label(value: Any) -> str:
    """An outcome as the class labels are written: `1`, not `1.0`."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
