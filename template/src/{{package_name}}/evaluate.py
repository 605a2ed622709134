"""Score a trained model on held-out rows and write the metrics DVC tracks."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from sklearn.metrics import get_scorer
from sklearn.pipeline import Pipeline

from .artifacts import load_model
from .errors import ProjectError
from .features import build_features
from .metrics import METRICS
from .schema import TARGET, read_csv


class UnknownMetricError(ProjectError):
    """params.yaml names a metric this project does not know."""


def score(model: Pipeline, rows: pd.DataFrame, metric_names: Iterable[str]) -> dict[str, float]:
    """Each named metric of `model` on validated rows with a target."""
    unknown = sorted(set(metric_names) - METRICS.keys())
    if unknown:
        raise UnknownMetricError(f"unknown metric(s) {unknown} in params.yaml; choose from {sorted(METRICS)}")
    features, target = build_features(rows), rows[TARGET.name]
    results = {}
    for name in metric_names:
        metric = METRICS[name]
        results[name] = round(metric.sign * float(get_scorer(metric.scorer)(model, features, target)), 6)
    return results


def evaluate_file(test_path: Path, model_path: Path, metrics_path: Path, metric_names: list[str]) -> dict[str, float]:
    """Score the saved model on a validated CSV and write `metrics_path`; return the metrics."""
    model, _ = load_model(model_path)
    rows = read_csv(test_path)
    metrics = {**score(model, rows, metric_names), "test_rows": len(rows)}
    metrics_path.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return metrics
