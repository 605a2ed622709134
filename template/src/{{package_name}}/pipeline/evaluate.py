"""The evaluate stage: score the candidate on held-out rows the way production will use it.

Every number comes from `predict`, so label metrics (f1, accuracy) use the decision threshold
chosen at training time and probability metrics (roc_auc, log_loss) the probabilities. The
first metric in params.yaml `evaluate.metrics` is the primary one. The stage writes:

    metrics.json                    each metric, the row count and, for a binary model with a
                                    decision cost, the threshold and the expected cost per row
    reports/slices.json             the same per value of each segment column, with row counts
    reports/importance.json         permutation importance of each model input (primary metric), on
                                    at most `evaluate.importance_rows` rows drawn at random
    reports/plots/                  plot data for `dvc plots` and the same plots as PNG
    reports/reference_profile.json  what monitoring compares live traffic with (see `profile`)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from ..config import EvaluateParams
from ..core.columns import Role
from ..core.contract import columns_with_role
from ..core.featureset import read_features
from ..core.metrics import METRICS, MetricChoiceError, metric_value, reported
from ..core.predict import Predictions, positive_threshold, predict
from ..monitoring.profile import reference_profile
from ..registry.artifacts import load_model
from ..registry.store import REFERENCE_PROFILE_FILE
from .plots import write_plots
from .train import expected_cost, thread_limit

SLICES_FILE = "slices.json"
IMPORTANCE_FILE = "importance.json"
PLOTS_DIR = "plots"
MISSING_SEGMENT = "__missing__"


def class_count(predictions: Predictions) -> int:
    """How many classes the model predicts; 0 for regression."""
    return 0 if predictions.classes is None else len(predictions.classes)


def check_metrics(names: Sequence[str], predictions: Predictions) -> None:
    """Raise unless every name is a known metric that means something for this model."""
    fitting = sorted(name for name, metric in METRICS.items() if metric.applies_to(class_count(predictions)))
    misfits = sorted(name for name in names if name not in fitting)
    if misfits:
        raise MetricChoiceError(
            f"params.yaml evaluate.metrics: {misfits} unknown or not for this model; choose from {fitting}"
        )


def expected_cost_per_row(target: np.ndarray, predictions: Predictions, metadata: Mapping[str, Any]) -> float | None:
    """The cost per row of the decisions made (a false alarm costs 1); None without a binary decision cost."""
    threshold, fn_cost = positive_threshold(metadata), metadata.get("false_negative_cost")
    if threshold is None or fn_cost is None or class_count(predictions) != 2 or predictions.probabilities is None:
        return None
    is_positive = target == predictions.classes[1]
    return expected_cost(is_positive, predictions.probabilities[:, 1], threshold, float(fn_cost))


def scores(
    target: np.ndarray, predictions: Predictions, metadata: Mapping[str, Any], names: Sequence[str]
) -> dict[str, float | None]:
    """Each named metric, and the expected cost per row when the model decides with one."""
    results = {name: reported(metric_value(name, target, predictions)) for name in names}
    cost = expected_cost_per_row(target, predictions, metadata)
    return results if cost is None else {**results, "expected_cost_per_row": reported(cost)}


def held_out_metrics(
    target: np.ndarray, predictions: Predictions, metadata: Mapping[str, Any], names: Sequence[str]
) -> dict[str, Any]:
    """What metrics.json holds: the scores, the decision behind them (binary) and the row count."""
    results: dict[str, Any] = scores(target, predictions, metadata, names)
    if "expected_cost_per_row" in results:
        results["decision_threshold"] = positive_threshold(metadata)
        results["false_negative_cost"] = float(metadata["false_negative_cost"])
    return {**results, "test_rows": len(target)}


def rows_where(predictions: Predictions, mask: np.ndarray) -> Predictions:
    """The predictions of the rows selected by a boolean mask."""
    probabilities = None if predictions.probabilities is None else predictions.probabilities[mask]
    return Predictions(predictions.values[mask], probabilities, predictions.classes)


def slice_metrics(
    features: pd.DataFrame,
    target: np.ndarray,
    predictions: Predictions,
    metadata: Mapping[str, Any],
    names: Sequence[str],
) -> dict[str, dict[str, dict[str, Any]]]:
    """For each segment column, every value seen with its row count and scores (None where undefined)."""
    slices: dict[str, dict[str, dict[str, Any]]] = {}
    for column in columns_with_role(Role.SEGMENT):
        segments = features[column.name].fillna(MISSING_SEGMENT).astype(str).to_numpy()
        slices[column.name] = {}
        for segment in sorted(set(segments)):
            rows = segments == segment
            segment_scores = scores(target[rows], rows_where(predictions, rows), metadata, names)
            slices[column.name][segment] = {"rows": int(rows.sum()), **segment_scores}
    return slices


def importance_sample(
    features: pd.DataFrame, target: np.ndarray, params: EvaluateParams
) -> tuple[pd.DataFrame, np.ndarray]:
    """At most `importance_rows` held-out rows, drawn at random (seeded), in their original order."""
    if len(features) <= params.importance_rows:
        return features, target
    rows = np.sort(np.random.default_rng(params.seed).choice(len(features), params.importance_rows, replace=False))
    return features.iloc[rows], target[rows]


def importances(
    model: Pipeline,
    metadata: Mapping[str, Any],
    features: pd.DataFrame,
    target: np.ndarray,
    metric_name: str,
    params: EvaluateParams,
) -> dict[str, Any]:
    """How much worse the metric gets when each input's values are shuffled: what the model relies on.

    Measured on a sample of the held-out rows (`importance_sample`): the metric before shuffling
    (`value`) and after come from the same rows.
    """
    metric = METRICS[metric_name]
    features, target = importance_sample(features, target, params)

    def score(estimator: Pipeline, rows: pd.DataFrame, truth: np.ndarray) -> float:
        value = metric_value(metric_name, truth, predict(estimator, metadata, rows))
        return float("nan") if value is None else metric.sign * value

    # Dozens of predictions on at most `importance_rows` rows: one thread each is several times
    # faster than paying OpenMP's start-up cost on every call.
    with threadpool_limits(limits=1):
        result = permutation_importance(
            model, features, target, scoring=score, n_repeats=params.permutation_repeats, random_state=params.seed
        )
        value = metric_value(metric_name, target, predict(model, metadata, features))
    ranked = sorted(
        zip(features.columns, result.importances_mean, result.importances_std, strict=True), key=lambda row: -row[1]
    )
    return {
        "metric": metric_name,
        "value": reported(value),
        "rows": len(features),
        "repeats": params.permutation_repeats,
        "seed": params.seed,
        "features": [
            {"feature": name, "importance": reported(mean), "std": reported(std)} for name, mean, std in ranked
        ],
    }


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write strict JSON (no NaN or Infinity), readable by any tool."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def evaluate_files(
    features_path: Path, model_path: Path, metrics_path: Path, reports_dir: Path, params: EvaluateParams
) -> dict[str, Any]:
    """Score the saved model on a features file, write metrics and reports; return the metrics."""
    model, metadata = load_model(model_path)
    features, target_series = read_features(features_path)
    with thread_limit(len(features)):
        predictions = predict(model, metadata, features)
    return evaluate_predictions(
        model, metadata, features, target_series.to_numpy(), predictions, metrics_path, reports_dir, params
    )


def evaluate_predictions(
    model: Pipeline,
    metadata: Mapping[str, Any],
    features: pd.DataFrame,
    target: np.ndarray,
    predictions: Predictions,
    metrics_path: Path,
    reports_dir: Path,
    params: EvaluateParams,
) -> dict[str, Any]:
    """Write metrics and reports from the held-out rows' model inputs, target and predictions; return the metrics.

    The Dask engine predicts on its cluster, then calls this (`compute.evaluate`).
    """
    check_metrics(params.metrics, predictions)
    metrics = held_out_metrics(target, predictions, metadata, params.metrics)
    write_json(metrics_path, metrics)
    write_json(reports_dir / SLICES_FILE, slice_metrics(features, target, predictions, metadata, params.metrics))
    with thread_limit(len(features)):
        importance = importances(model, metadata, features, target, params.metrics[0], params)
    write_json(reports_dir / IMPORTANCE_FILE, importance)
    write_plots(reports_dir / PLOTS_DIR, target, predictions, importance)
    reference_profile(features, predictions, metadata, params.seed).write(reports_dir / REFERENCE_PROFILE_FILE)
    return metrics
