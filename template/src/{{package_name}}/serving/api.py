"""The HTTP contract: request and response shapes, and how predictions become answers.

Shared by the BentoML service and the benchmark's FastAPI baseline, so both validate and
answer exactly alike. The request model comes from the data contract (`contract.py`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, create_model

from ..config import load_project_config
from ..core.predict import predict
from ..core.requests import frame_from_records, request_model
from ..features import build_features

MAX_BATCH_ROWS = load_project_config().service.max_batch_rows

PredictionRequest = request_model()
BatchRequest = create_model(
    "BatchRequest",
    __config__=ConfigDict(extra="forbid", strict=True),
    rows=(
        list[PredictionRequest],  # type: ignore[valid-type]
        Field(min_length=1, max_length=MAX_BATCH_ROWS, description="Rows to predict, each as in /predict"),
    ),
)


def plain(value: Any) -> Any:
    """A NumPy scalar as the Python value JSON can carry; Python values pass through."""
    return value.item() if isinstance(value, np.generic) else value


class Prediction(BaseModel):
    """The answer for one row."""

    prediction: int | float | str = Field(description="Predicted class label or value")
    probabilities: dict[str, float] | None = Field(None, description="Probability per class (classification)")
    model_version: str = Field(description="Version of the model that answered ('rule-based' in fallback)")
    fallback: bool = Field(False, description="True when the answer is the configured fallback, not the model's")


class BatchPrediction(BaseModel):
    predictions: list[Prediction]


def answers_from(
    model: Any, metadata: dict[str, Any], rows: list[dict[str, Any]], *, fallback: bool = False
) -> list[Prediction]:
    """The model's answer for each validated row."""
    predictions = predict(model, metadata, build_features(frame_from_records(rows)))
    version = str(metadata.get("version"))
    answers = []
    for index, value in enumerate(predictions.values):
        probabilities = None
        if predictions.probabilities is not None and predictions.classes is not None:
            scores = zip(predictions.classes, predictions.probabilities[index], strict=True)
            probabilities = {str(plain(label)): float(p) for label, p in scores}
        answer = Prediction(
            prediction=plain(value), probabilities=probabilities, model_version=version, fallback=fallback
        )
        answers.append(answer)
    return answers
