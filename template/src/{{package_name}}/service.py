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
from .schema import frame_from_records, request_model

MODEL_PATH = Path("models/model.skops")

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
    """Serves the model trained by the pipeline (`models/model.skops`)."""

    def __init__(self) -> None:
        self.model, self.metadata = load_model(MODEL_PATH)

    @bentoml.api(route="/predict", input_spec=PredictionRequest)
    def predict(self, **row: Any) -> Prediction:
        """Predict one row; fields follow the data contract exactly."""
        features = build_features(frame_from_records([row]))
        prediction = plain(self.model.predict(features)[0])
        probabilities = None
        if hasattr(self.model, "predict_proba"):
            scores = self.model.predict_proba(features)[0]
            classes = self.model.classes_
            probabilities = {str(plain(label)): round(float(p), 6) for label, p in zip(classes, scores, strict=True)}
        return Prediction(prediction=prediction, probabilities=probabilities, model_version=self.metadata["version"])
