"""The model's first step: `model_inputs` output in, the numeric matrix the estimator fits out.

Categories are one-hot encoded in sorted order, a missing value seen in training being one
more category and a category never seen in training all zeros; numbers pass through. That is
what scikit-learn's `ColumnTransformer` with `OneHotEncoder(handle_unknown="ignore")` computes
(`tests/test_encoding.py` holds the two equal), for a fraction of the cost per call: their checks
and column handling took ~3 ms of a one-row request, this takes ~0.4 ms. The fitted encoder
travels inside the model file, so serving encodes exactly as training did.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

# Up to this many rows a column is encoded by a dictionary lookup per value, beyond it by pandas' indexer.
LOOKUP_MAX_ROWS = 1_000


class FeatureEncoder(TransformerMixin, BaseEstimator):
    """One-hot `categorical` columns, then every other column as float64, in the fitted order."""

    def __init__(self, categorical: Sequence[str] = ()) -> None:
        self.categorical = categorical

    def fit(self, features: pd.DataFrame, target: Any = None) -> FeatureEncoder:
        """Learn each categorical column's categories and the order of the numeric columns."""
        self.feature_names_in_ = np.asarray(features.columns, dtype=object)
        self.n_features_in_ = len(features.columns)
        self.categories_ = [_categories(features[name]) for name in self.categorical]
        categorical = set(self.categorical)
        self.numeric_ = [name for name in features.columns if name not in categorical]
        return self

    def transform(self, features: pd.DataFrame) -> np.ndarray:
        """The encoded matrix: one-hot blocks in `categorical` order, then the numeric columns."""
        if not hasattr(self, "categories_"):  # check_is_fitted, without its cost on every request
            raise NotFittedError("this FeatureEncoder is not fitted yet: call fit first")
        blocks = [
            _one_hot(features[name], categories)
            for name, categories in zip(self.categorical, self.categories_, strict=True)
        ]
        blocks += [features[name].to_numpy(dtype="float64", na_value=np.nan)[:, None] for name in self.numeric_]
        return np.hstack(blocks) if blocks else np.empty((len(features), 0))

    def encoded_features(self) -> list[str]:
        """The feature each encoded column comes from, in `transform`'s column order (one per category block)."""
        check_is_fitted(self, "categories_")
        one_hot = [
            name for name, categories in zip(self.categorical, self.categories_, strict=True) for _ in categories
        ]
        return one_hot + list(self.numeric_)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """`<column>_<category>` for each one-hot column, then the numeric columns' names."""
        check_is_fitted(self, "categories_")
        one_hot = [
            f"{name}_{category}"
            for name, categories in zip(self.categorical, self.categories_, strict=True)
            for category in categories
        ]
        return np.asarray(one_hot + self.numeric_, dtype=object)


def _categories(values: pd.Series) -> np.ndarray:
    """Sorted distinct values, with a missing value last when there is one (as OneHotEncoder orders them)."""
    present = values.dropna()
    categories: list[Any] = sorted(present.unique().tolist())
    if len(present) < len(values):
        categories.append(np.nan)
    return np.asarray(categories, dtype=object)


def _one_hot(values: pd.Series, categories: np.ndarray) -> np.ndarray:
    """One column per category; a value outside them (unseen in training) is all zeros."""
    has_missing = len(categories) > 0 and bool(pd.isna(categories[-1]))
    position = {category: index for index, category in enumerate(categories[:-1] if has_missing else categories)}
    objects = values.to_numpy(dtype=object)
    if len(values) <= LOOKUP_MAX_ROWS:  # the service's few rows: ten times cheaper than pandas' indexer
        codes = np.fromiter((position.get(value, -1) for value in objects), np.intp, len(values))
    else:  # the pipeline's many rows: one hashed pass in C
        codes = pd.Index(list(position), dtype=object).get_indexer(objects)
    if has_missing:  # NaN, None or pd.NA alike are the missing category
        codes[values.isna().to_numpy()] = len(categories) - 1
    one_hot = np.zeros((len(values), len(categories)), dtype="float64")
    seen = codes >= 0
    one_hot[np.flatnonzero(seen), codes[seen]] = 1.0
    return one_hot
