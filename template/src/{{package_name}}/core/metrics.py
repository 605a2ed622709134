"""The metric catalog: each metric the pipeline can report, what it reads, and which way is better.

Kept apart from `evaluate` so the gate and the readiness report can read it without
importing scikit-learn: a metric names its `sklearn.metrics` function instead of holding it,
and `metric_value`, the one way evaluation and monitoring score predictions, imports
scikit-learn when it is called.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .errors import ProjectError

if TYPE_CHECKING:
    import numpy as np

    from .predict import Predictions

REPORTED_DECIMALS = 6

# What a metric scores: the decided label of each row (the decision threshold applied), the
# probability of each class, or a regression model's predicted values.
Reads = Literal["labels", "probabilities", "values"]


@dataclass(frozen=True)
class Metric:
    """A reported metric: the `sklearn.metrics` function computing it, its input and its direction."""

    function: str
    reads: Reads = "labels"
    higher_is_better: bool = True
    # Scores the positive class (the model's second class), so it applies to binary models only.
    positive_class: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def sign(self) -> int:
        """Turns the reported value into a score where higher is always better."""
        return 1 if self.higher_is_better else -1

    def applies_to(self, class_count: int) -> bool:
        """Whether the metric means something for a model with this many classes (0: regression)."""
        if self.reads == "values":
            return class_count == 0
        return class_count == 2 if self.positive_class else class_count >= 2


METRICS: dict[str, Metric] = {
    "accuracy": Metric("accuracy_score"),
    "balanced_accuracy": Metric("balanced_accuracy_score"),
    "f1": Metric("f1_score", positive_class=True),
    "f1_macro": Metric("f1_score", options={"average": "macro"}),
    "roc_auc": Metric("roc_auc_score", reads="probabilities", positive_class=True),
    "roc_auc_ovr": Metric("roc_auc_score", reads="probabilities", options={"multi_class": "ovr"}),
    "log_loss": Metric("log_loss", reads="probabilities", higher_is_better=False),
    "rmse": Metric("root_mean_squared_error", reads="values", higher_is_better=False),
    "mae": Metric("mean_absolute_error", reads="values", higher_is_better=False),
    "r2": Metric("r2_score", reads="values"),
}


def reported(value: float | None) -> float | None:
    """A number as the pipeline's reports state it: six decimals, None when undefined (NaN, infinite)."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), REPORTED_DECIMALS)


class MetricChoiceError(ProjectError):
    """params.yaml names a metric this project does not know, or one that does not fit the model."""


def metric_inputs(metric: Metric, predictions: Predictions) -> tuple[np.ndarray, dict[str, Any]]:
    """What `metric`'s function scores, and the keyword arguments it needs for this model."""
    options = dict(metric.options)
    if metric.reads != "probabilities":
        if metric.positive_class and predictions.classes is not None:
            options["pos_label"] = predictions.classes[1]
        return predictions.values, options
    if predictions.probabilities is None or predictions.classes is None:
        raise MetricChoiceError(f"{metric.function} needs class probabilities; this model gives none")
    options["labels"] = predictions.classes
    if len(predictions.classes) == 2:
        return predictions.probabilities[:, 1], options
    return predictions.probabilities, options


def metric_value(name: str, target: np.ndarray, predictions: Predictions) -> float | None:
    """One metric of `predictions` against the true target; None where it is undefined (e.g. one class only)."""
    import sklearn.metrics
    from sklearn.exceptions import UndefinedMetricWarning

    metric = METRICS[name]
    scored, options = metric_inputs(metric, predictions)
    function = getattr(sklearn.metrics, metric.function)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UndefinedMetricWarning)
        try:
            return float(function(target, scored, **options))
        except UndefinedMetricWarning:
            return None
