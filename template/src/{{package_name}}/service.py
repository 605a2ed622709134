"""The HTTP service: one row in, one prediction out, through the training contract and features.

The request model is built from the data contract, so a request that passes it is a row
training would have accepted; `build_features` is the function training used. BentoML
adds `/livez`, `/readyz` and Prometheus `/metrics`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bentoml
import numpy as np
from pydantic import BaseModel, Field

from .artifacts import load_model
from .features import build_features
from .predict import predict
from .registry import Registry
from .schema import frame_from_records, request_model

REGISTRY_PATH = Path("models/registry")

PredictionRequest = request_model()


def plain(value: Any) -> Any:
    """A NumPy scalar as the Python value JSON can carry; Python values pass through."""
    return value.item() if isinstance(value, np.generic) else value


class Prediction(BaseModel):
    """The model's answer for one row."""

    prediction: int | float | str = Field(description="Predicted class label or value")
    probabilities: dict[str, float] | None = Field(None, description="Probability per class (classification)")
    model_version: str = Field(description="Version of the model that answered")


@bentoml.service(traffic={"timeout": 10})
class ModelService:
    """Serves the promoted version in the model registry (`models/registry`)."""

    def __init__(self) -> None:
        registry = Registry(REGISTRY_PATH)
        self.model, self.metadata = load_model(registry.model_path(registry.require_promoted()))

    @bentoml.api(route="/predict", input_spec=PredictionRequest)
    def predict(self, **row: Any) -> Prediction:
        """Predict one row; fields follow the data contract exactly."""
        predictions = predict(self.model, self.metadata, build_features(frame_from_records([row])))
        probabilities = None
        if predictions.probabilities is not None and predictions.classes is not None:
            scores = zip(predictions.classes, predictions.probabilities[0], strict=True)
            probabilities = {str(plain(label)): round(float(p), 6) for label, p in scores}
        prediction = plain(predictions.values[0])
        return Prediction(prediction=prediction, probabilities=probabilities, model_version=self.metadata["version"])
