"""The reference profile: how each model input and the predictions were distributed on the test rows.

Monitoring compares live traffic with it (PSI or chi-square on the bins and shares, KS on the
samples), so the file describes itself. Format, `profile_version` 1, strict JSON:

    {
      "profile_version": 1,
      "schema_version": "1",             the data contract's SCHEMA_VERSION
      "model_version": "20250630T...",   the model whose predictions are profiled
      "problem_type": "binary_classification",
      "rows": 400,                       rows profiled: each count list plus its missing_count adds up to it
      "other_category": "__other__",
      "features": {name: <numeric> or <categorical>},   every model input, as build_features names it
      "prediction": <categorical> + "probabilities" (classification), or <numeric> (regression)
    }

<numeric>: {"kind": "numeric", "bin_edges": [e1, ..., ek], "counts": [c0, ..., ck], "mean", "std",
"missing_count", "missing_share", "sample": [...]}. The bins are (-inf, e1), [e1, e2), ...,
[ek, +inf), so there is one more count than edges; bin a live value with
`numpy.searchsorted(bin_edges, value, side="right")`. Edges are the reference's deciles with
duplicates dropped (fewer bins for features with few distinct values). Counts cover the rows
with a value; `missing_count` the others. `std` is the sample standard deviation; null where
undefined. `sample` is up to 1000 values drawn without replacement (seeded) and sorted, for
two-sample KS tests. A bin can be empty (below the minimum of a count feature, say), so smooth
shares before taking logarithms for PSI.

<categorical>: {"kind": "categorical", "counts": {category: count}, "shares": {category: share},
"missing_count", "missing_share"}. Keys are categories as strings: every category the data
contract declares (zero counts included; the values seen when it declares none), plus
"__other__" for anything else. Map a live value that is not a key to "__other__" before
comparing. Shares are of all rows, so the shares and `missing_share` add up to 1.

The prediction is the <categorical> of the decided labels (the decision threshold applied) with
the model's classes as categories, plus "probabilities": {class: <numeric>} whose bins are the
fixed tenths of [0, 1]; for regression, the <numeric> of the predicted values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..contract import SCHEMA_VERSION
from ..core.metrics import reported
from ..core.predict import Predictions
from ..features import categorical_columns, numeric_feature_names

PROFILE_VERSION = 1
OTHER_CATEGORY = "__other__"
SAMPLE_SIZE = 1000
DECILES = np.linspace(0.1, 0.9, 9)
PROBABILITY_EDGES = np.round(np.linspace(0.1, 0.9, 9), 1)


def reported_list(values: np.ndarray) -> list[float | None]:
    """Numbers as the reports state them."""
    return [reported(float(value)) for value in values]


def numeric_profile(values: pd.Series, rng: np.random.Generator, edges: np.ndarray | None = None) -> dict[str, Any]:
    """Bins, moments, missing share and a sorted sample of one numeric column."""
    present = values.dropna().to_numpy(dtype="float64")
    if edges is None:
        edges = np.quantile(present, DECILES) if len(present) else np.array([])
    edges = np.unique([reported(float(edge)) for edge in edges])
    counts = np.bincount(np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1)
    sample = np.sort(rng.choice(present, size=min(SAMPLE_SIZE, len(present)), replace=False))
    missing = len(values) - len(present)
    return {
        "kind": "numeric",
        "bin_edges": reported_list(edges),
        "counts": [int(count) for count in counts],
        "mean": reported(values.mean()),
        "std": reported(values.std()),
        "missing_count": missing,
        "missing_share": reported(missing / len(values)),
        "sample": reported_list(sample),
    }


def categorical_profile(values: pd.Series, categories: Sequence[str]) -> dict[str, Any]:
    """Count and share of each category, of anything else, and of missing values."""
    present = values.dropna().astype(str)
    seen = present.value_counts()
    counts = {category: int(seen.get(category, 0)) for category in categories or sorted(seen.index)}
    counts[OTHER_CATEGORY] = len(present) - sum(counts.values())
    missing = len(values) - len(present)
    return {
        "kind": "categorical",
        "counts": counts,
        "shares": {category: reported(count / len(values)) for category, count in counts.items()},
        "missing_count": missing,
        "missing_share": reported(missing / len(values)),
    }


def feature_profiles(features: pd.DataFrame, rng: np.random.Generator) -> dict[str, dict[str, Any]]:
    """The profile of every model input, numeric or categorical as the feature code defines it."""
    numeric = set(numeric_feature_names())
    categories = {column.name: column.categories for column in categorical_columns()}
    return {
        name: numeric_profile(features[name], rng)
        if name in numeric
        else categorical_profile(features[name], categories.get(name, ()))
        for name in features.columns
    }


def prediction_profile(predictions: Predictions, rng: np.random.Generator) -> dict[str, Any]:
    """Decided labels and each class's probability (classification), or the predicted values."""
    if predictions.classes is None or predictions.probabilities is None:
        return numeric_profile(pd.Series(predictions.values), rng)
    classes = [str(label) for label in predictions.classes]
    probabilities = {
        label: numeric_profile(pd.Series(predictions.probabilities[:, index]), rng, PROBABILITY_EDGES)
        for index, label in enumerate(classes)
    }
    return {**categorical_profile(pd.Series(predictions.values), classes), "probabilities": probabilities}


def reference_profile(
    features: pd.DataFrame, predictions: Predictions, metadata: Mapping[str, Any], seed: int
) -> dict[str, Any]:
    """The profile monitoring compares live traffic with (format in the module docstring)."""
    rng = np.random.default_rng(seed)
    return {
        "profile_version": PROFILE_VERSION,
        "schema_version": SCHEMA_VERSION,
        "model_version": metadata.get("version"),
        "problem_type": metadata.get("problem_type"),
        "rows": len(features),
        "other_category": OTHER_CATEGORY,
        "features": feature_profiles(features, rng),
        "prediction": prediction_profile(predictions, rng),
    }
