"""The evaluate stage on Dask: the model predicts every test partition on the cluster; the reports are
computed where they are small.

Predicting is what grows with the rows and the model: it runs on the workers, partition by
partition, with the saved model (the one the service loads). The test rows' model inputs, target
and predictions then come back to the stage, and the local stage's own functions write the
metrics, slices, importance (on at most `evaluate.importance_rows` rows), plots and reference
profile from them: the same files, computed the same way. The test set is `split.test_size` of
the data (200,000 rows for a million-row table: ~20 MB of inputs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask
import numpy as np
import pandas as pd
from distributed import Client
from sklearn.pipeline import Pipeline

from ..config import ComputeParams, EvaluateParams
from ..contract import TARGET
from ..core.featureset import feature_list
from ..core.predict import Predictions, predict
from ..pipeline.evaluate import evaluate_predictions
from ..registry.artifacts import load_model
from .tables import read_stage_table


def predicted_partition(
    model: Pipeline, metadata: dict[str, Any], rows: pd.DataFrame
) -> tuple[pd.DataFrame, Predictions]:
    """One partition's model inputs with their target, and the model's predictions for them."""
    return rows, predict(model, metadata, rows[list(feature_list().names)])


def combined(predictions: list[Predictions]) -> Predictions:
    """The predictions of consecutive partitions as one."""
    probabilities = [part.probabilities for part in predictions]
    return Predictions(
        values=np.concatenate([part.values for part in predictions]),
        probabilities=None if probabilities[0] is None else np.concatenate(probabilities),
        classes=predictions[0].classes,
    )


def evaluate_files(
    features_path: Path,
    model_path: Path,
    metrics_path: Path,
    reports_dir: Path,
    params: EvaluateParams,
    client: Client,
    settings: ComputeParams,
) -> dict[str, Any]:
    """Score the saved model on a features file on the cluster, write metrics and reports; return the metrics."""
    model, metadata = load_model(model_path)
    rows = read_stage_table(features_path, settings)
    shipped = dask.delayed(model, pure=True), dask.delayed(metadata, pure=True)
    parts = client.gather(
        client.compute([dask.delayed(predicted_partition)(*shipped, part) for part in rows.to_delayed()])
    )
    features = pd.concat([part for part, _ in parts], ignore_index=True)
    predictions = combined([predicted for _, predicted in parts])
    target = features.pop(TARGET.name).to_numpy()
    return evaluate_predictions(model, metadata, features, target, predictions, metrics_path, reports_dir, params)
