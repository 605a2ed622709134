"""Each row's feature contributions: how much each contract column moved the model's raw output.

For a row, the contributions plus the base value add up to the model's raw output for it:
the log-odds of the positive class (binary), the raw score of the predicted class before the
softmax (multiclass), or the predicted value (regression), exactly (to rounding). They are
SHAP values of the tree ensemble, computed by each family's own fast path: LightGBM's
`pred_contrib`, and SHAP's `TreeExplainer` for scikit-learn's HistGradientBoosting (SHAP is
imported on the first call that needs it: it takes ~3 s and pulls in numba).

The trees see encoded columns (`FeatureEncoder`: one per category of a categorical feature);
their contributions are summed back to the feature, and a feature computed from one contract
column (`Feature.source`, e.g. a timestamp's month and weekday) is reported under that
column's name, so a reader sees the columns they send, not the feature code's internals.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from .errors import ProjectError
from .featureset import feature_list

# SHAP's explainer for each HistGradientBoosting model, built once per model (it walks every tree).
_tree_explainers: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


class ExplanationError(ProjectError):
    """The model's estimator has no contribution method here."""


@dataclass(frozen=True)
class Contributions:
    """Per-row contributions by name (`values[row, name]`) and each row's base value, in `output`'s units."""

    names: tuple[str, ...]
    values: np.ndarray
    base_values: np.ndarray
    output: str
    method: str

    def top(self, row: int, count: int) -> list[tuple[str, float]]:
        """Row `row`'s `count` largest contributions by absolute value, largest first (ties by name order)."""
        order = np.argsort(-np.abs(self.values[row]), kind="stable")[:count]
        return [(self.names[index], float(self.values[row, index])) for index in order]

    def mean_absolute(self) -> dict[str, float]:
        """The mean absolute contribution of each name over all rows, largest first."""
        means = np.abs(self.values).mean(axis=0) if len(self.values) else np.zeros(len(self.names))
        ranked = sorted(zip(self.names, means.tolist(), strict=True), key=lambda pair: -pair[1])
        return dict(ranked)


def explained_names() -> tuple[str, ...]:
    """The names contributions are reported under: each feature's source column, else its own, in `FEATURES` order."""
    return tuple(dict.fromkeys(feature.explained_as for feature in feature_list().features))


def explain(model: Pipeline, inputs: pd.DataFrame) -> Contributions:
    """Every row's contributions to the model's raw output, by contract column (see the module docstring).

    `inputs` are `model_inputs` rows; `model` is the saved pipeline: the `FeatureEncoder`, then the estimator.
    """
    encoder, estimator = model[:-1], model[-1]
    encoded = encoder.transform(inputs)
    if hasattr(estimator, "booster_"):  # LightGBM
        per_column, base, output, method = _lightgbm_contributions(estimator, encoded)
    else:
        per_column, base, output, method = _tree_explainer_contributions(estimator, encoded)
    names = explained_names()
    by_feature = {feature.name: feature.explained_as for feature in feature_list().features}
    position = {name: index for index, name in enumerate(names)}
    # (encoded columns, names): 1 where an encoded column belongs to a name; the product sums them.
    membership = np.zeros((per_column.shape[1], len(names)))
    for column, feature in enumerate(encoder[-1].encoded_features()):
        membership[column, position[by_feature[feature]]] = 1.0
    return Contributions(names, per_column @ membership, base, output, method)


def _output(estimator: Any, class_count: int) -> str:
    """What contributions plus base value add up to, in words."""
    if class_count == 0:
        return "predicted value"
    if class_count == 2:
        return f"log-odds of class {estimator.classes_[1]}"
    return "raw score (log-odds scale) of the predicted class"


def _predicted_class(per_class: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Multiclass: each row's contributions and base value for its highest raw score (the predicted class).

    `per_class` is (rows, columns, classes) and `base` (rows, classes); returns (rows, columns) and (rows,).
    """
    rows = np.arange(per_class.shape[0])
    predicted = (per_class.sum(axis=1) + base).argmax(axis=1)
    return per_class[rows, :, predicted], base[rows, predicted]


def _class_count(estimator: Any) -> int:
    return len(estimator.classes_) if hasattr(estimator, "classes_") else 0


def _lightgbm_contributions(estimator: Any, encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray, str, str]:
    """LightGBM's own SHAP values (`pred_contrib`): per encoded column, then the base value, per class block."""
    classes = _class_count(estimator)
    raw = np.asarray(estimator.booster_.predict(encoded, pred_contrib=True))
    width = encoded.shape[1] + 1
    if classes > 2:
        blocks = raw.reshape(len(encoded), classes, width).transpose(0, 2, 1)  # (rows, columns + base, classes)
        per_column, base = _predicted_class(blocks[:, :-1, :], blocks[:, -1, :])
    else:
        per_column, base = raw[:, :-1], raw[:, -1]
    return per_column, base, _output(estimator, classes), "lightgbm pred_contrib"


def _tree_explainer_contributions(estimator: Any, encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray, str, str]:
    """SHAP's `TreeExplainer` values, exact for tree ensembles, and its expected value as the base."""
    explainer = _tree_explainer(estimator)
    values = np.asarray(explainer.shap_values(encoded, check_additivity=False))
    expected = np.atleast_1d(np.asarray(explainer.expected_value, dtype="float64"))
    classes = _class_count(estimator)
    if classes > 2:  # (rows, columns, classes)
        per_column, base = _predicted_class(values, np.broadcast_to(expected, (len(encoded), classes)))
    else:
        per_column, base = values, np.full(len(encoded), expected[-1])
    return per_column, base, _output(estimator, classes), "shap TreeExplainer"


def _tree_explainer(estimator: Any) -> Any:
    """The model's cached `TreeExplainer`; SHAP is imported here, on first use, never at start-up."""
    try:
        return _tree_explainers[estimator]
    except KeyError:
        pass
    try:
        import shap
    except ImportError:
        raise ExplanationError(f"explaining {type(estimator).__name__} needs SHAP: add it with `uv add shap`") from None
    try:
        explainer = shap.TreeExplainer(estimator)
    except Exception as error:  # SHAP names what it cannot read
        raise ExplanationError(f"SHAP cannot explain {type(estimator).__name__}: {error}") from None
    _tree_explainers[estimator] = explainer
    return explainer
