"""The HTTP contract: request and response shapes, and how predictions become answers.

The request model comes from the data contract (`contract.py`); the batch request's size limit
comes from `ml-project.yaml`, which the service reads and passes to `batch_request`.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, WithJsonSchema, create_model

from ..contract import TARGET
from ..core.contract import served_columns, view_columns
from ..core.explain import explain
from ..core.featureset import model_inputs
from ..core.predict import predict
from ..core.requests import frame_from_records, openapi_nullable, request_model

PredictionRequest = request_model()


@cache
def batch_request(max_rows: int) -> type[BaseModel]:
    """The `/predict_batch` body: `{"rows": [...]}`, 1 to `max_rows` rows, each as in /predict."""
    return create_model(
        "BatchRequest",
        __config__=ConfigDict(extra="forbid", strict=True),
        rows=(
            list[PredictionRequest],  # type: ignore[valid-type]
            Field(min_length=1, max_length=max_rows, description="Rows to predict, each as in /predict"),
        ),
    )


def plain(value: Any) -> Any:
    """A NumPy scalar as the Python value JSON can carry; Python values pass through."""
    return value.item() if isinstance(value, np.generic) else value


def class_labels(classes: Any) -> list[str]:
    """The model's classes as answers name their probabilities: `1`, not `np.int64(1)`."""
    return [str(plain(label)) for label in classes]


# What the OpenAPI document says a prediction is: a value of the target's type in the data contract.
# A union would be cut to its first member by BentoML's document, e.g. "integer" for a regression.
PREDICTION_SCHEMA = TypeAdapter(TARGET.dtype).json_schema()


class Contribution(BaseModel):
    """How much one contract column moved the model's raw output for this row."""

    column: str = Field(description="Contract column (or feature computed from several)")
    contribution: float = Field(description="Its contribution, in the units of `output`")


class Explanation(BaseModel):
    """The largest contributions to one answer: with the base value, all of them add up to the raw output."""

    output: str = Field(description="What the contributions add up to, e.g. 'log-odds of class 1'")
    base_value: float | None = Field(
        description="The raw output before any column's contribution (null: no model answered)",
        json_schema_extra=openapi_nullable,
    )
    contributions: list[Contribution] = Field(description="The `explain` largest by absolute value, largest first")


# What a rule-based answer's explanation says: no model answered, so nothing explains it.
NO_MODEL_EXPLANATION = "none: the rule-based fallback answered, no model to explain"


class Prediction(BaseModel):
    """The answer for one row."""

    prediction: Annotated[int | float | str, WithJsonSchema(PREDICTION_SCHEMA)] = Field(
        description="Predicted class label or value"
    )
    probabilities: dict[str, float] | None = Field(
        None, description="Probability per class (classification)", json_schema_extra=openapi_nullable
    )
    model_version: str = Field(description="Version of the model that answered ('rule-based' in fallback)")
    fallback: bool = Field(False, description="True when the answer is the configured fallback, not the model's")
    explanation: Explanation | None = Field(
        None,
        description="The top feature contributions, when the request asks for them with `?explain=k`",
        json_schema_extra=openapi_nullable,
    )


class FeaturePrediction(Prediction):
    """The answer for one row of a feature-store project: a `Prediction`, and which views were stale."""

    stale_features: list[str] = Field(
        default_factory=list,
        description="Feature views whose newest value was older than their ttl at the row's time (predicted "
        "without it, as in training)",
    )


def answer_model() -> type[Prediction]:
    """What an answer is: `FeaturePrediction` when the project reads feature views, else `Prediction` unchanged."""
    return FeaturePrediction if view_columns() else Prediction


Answer = answer_model()


class BatchPrediction(BaseModel):
    predictions: list[Answer]  # type: ignore[valid-type]


def answers_from(
    model: Any, metadata: dict[str, Any], rows: list[dict[str, Any]], *, fallback: bool = False
) -> list[Prediction]:
    """The model's answer for each validated row (with the feature views' columns, if the project has any)."""
    predictions = predict(model, metadata, model_inputs(frame_from_records(rows, served_columns())))
    version = str(metadata.get("version"))
    values = predictions.values.tolist()  # Python values, as JSON carries them
    if predictions.probabilities is None or predictions.classes is None:
        return [
            Answer(prediction=value, probabilities=None, model_version=version, fallback=fallback) for value in values
        ]
    labels = class_labels(predictions.classes)
    return [
        Answer(
            prediction=value,
            probabilities=dict(zip(labels, probabilities, strict=True)),
            model_version=version,
            fallback=fallback,
        )
        for value, probabilities in zip(values, predictions.probabilities.tolist(), strict=True)
    ]


def explanations_from(model: Any, rows: list[dict[str, Any]], count: int) -> list[Explanation]:
    """Each validated row's `count` largest contributions to `model`'s raw output (`core.explain`)."""
    contributions = explain(model, model_inputs(frame_from_records(rows, served_columns())))
    return [
        Explanation(
            output=contributions.output,
            base_value=float(contributions.base_values[row]),
            contributions=[
                Contribution(column=name, contribution=value) for name, value in contributions.top(row, count)
            ],
        )
        for row in range(len(rows))
    ]


def no_model_explanation() -> Explanation:
    """The explanation of a rule-based answer: no model answered, so there is nothing to explain."""
    return Explanation(output=NO_MODEL_EXPLANATION, base_value=None, contributions=[])
