"""Fit the model on validated training rows and save it with its lineage."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline

from .artifacts import save_model
from .config import ProblemType, TrainParams
from .features import build_features, encoder
from .schema import SCHEMA_VERSION, TARGET, read_csv


def fit(rows: pd.DataFrame, problem_type: ProblemType, params: TrainParams) -> Pipeline:
    """Fit encoder and gradient-boosted trees on validated rows with a target."""
    classification = problem_type.is_classification
    estimator_class = HistGradientBoostingClassifier if classification else HistGradientBoostingRegressor
    estimator = estimator_class(
        learning_rate=params.learning_rate,
        max_iter=params.max_iter,
        max_leaf_nodes=params.max_leaf_nodes,
        l2_regularization=params.l2_regularization,
        random_state=params.seed,
    )
    model = Pipeline([("encode", encoder()), ("estimate", estimator)])
    model.fit(build_features(rows), rows[TARGET.name])
    return model


def lineage(train_path: Path, problem_type: ProblemType, params: TrainParams, rows: int) -> dict[str, Any]:
    """What a reviewer needs to trace a model back to its data, code and settings."""
    trained_at = datetime.now(UTC)
    return {
        "version": trained_at.strftime("%Y%m%dT%H%M%SZ"),
        "trained_at": trained_at.isoformat(timespec="seconds"),
        "problem_type": problem_type.value,
        "target": TARGET.name,
        "schema_version": SCHEMA_VERSION,
        "training_data_sha256": hashlib.sha256(train_path.read_bytes()).hexdigest(),
        "training_rows": rows,
        "params": params.model_dump(),
        "sklearn_version": sklearn.__version__,
    }


def train_file(train_path: Path, model_path: Path, problem_type: ProblemType, params: TrainParams) -> dict[str, Any]:
    """Train on a validated CSV and save the model; return its metadata."""
    rows = read_csv(train_path)
    model = fit(rows, problem_type, params)
    metadata = lineage(train_path, problem_type, params, len(rows))
    if problem_type.is_classification:
        metadata["classes"] = [str(label) for label in model.classes_]
    return save_model(model, model_path, metadata)
