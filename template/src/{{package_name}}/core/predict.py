"""Predictions from a trained model: the one way evaluation, serving and monitoring make them.

For binary classification the label comes from the decision threshold chosen at training
time from the error costs in ml-project.yaml, not from scikit-learn's fixed 0.5.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline


@dataclass(frozen=True)
class Predictions:
    """Labels or values for each row; for classification, the probability of every class."""

    values: np.ndarray
    probabilities: np.ndarray | None = None
    classes: np.ndarray | None = None


def positive_threshold(metadata: Mapping[str, Any]) -> float | None:
    """The binary decision threshold recorded at training time (None: argmax decides)."""
    threshold = metadata.get("decision_threshold")
    return None if threshold is None else float(threshold)


def predict(model: Pipeline, metadata: Mapping[str, Any], features: pd.DataFrame) -> Predictions:
    """Predict every row of `features` (from `model_inputs`) the way the model was trained to."""
    if not hasattr(model, "predict_proba"):
        return Predictions(values=np.asarray(model.predict(features), dtype="float64"))
    probabilities = model.predict_proba(features)
    classes = model.classes_
    threshold = positive_threshold(metadata)
    if threshold is not None and len(classes) == 2:
        values = np.where(probabilities[:, 1] >= threshold, classes[1], classes[0])
    else:
        values = classes[probabilities.argmax(axis=1)]
    return Predictions(values=values, probabilities=probabilities, classes=classes)
