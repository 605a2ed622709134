"""The reference profile: how each model input and the predictions were distributed on the test rows.

The evaluate stage builds it (`reference_profile`), the registry keeps it beside each model
version, and monitoring and the Evidently report read it (`load_reference`), all through the
typed model below (`ReferenceProfile`). Monitoring compares live traffic with it (PSI or
chi-square on the bins and shares, KS on the samples), so the file describes itself. Format,
`profile_version` 1, strict JSON (unchanged since the first release: every stored profile loads):

    {
      "profile_version": 1,
      "schema_version": "1",             the data contract's SCHEMA_VERSION
      "model_version": "20250630T...",   the model whose predictions are profiled
      "problem_type": "binary_classification",
      "rows": 400,                       rows profiled: each count list plus its missing_count adds up to it
      "other_category": "__other__",
      "features": {name: <numeric> or <categorical>},   every declared feature (features.FEATURES)
      "prediction": <categorical> + "probabilities" (classification), or <numeric> (regression)
    }

<numeric>: {"kind": "numeric", "bin_edges": [e1, ..., ek], "counts": [c0, ..., ck], "mean", "std",
"missing_count", "missing_share", "sample": [...]}. The bins are (-inf, e1), [e1, e2), ...,
[ek, +inf), so there is one more count than edges; bin a live value with
`numpy.searchsorted(bin_edges, value, side="right")`. Edges are the reference's deciles and, for
every value holding at least 5% of the rows, that value and the next one above it (so it has a
bin of its own), duplicates dropped: a count feature gets one bin per common count, a
zero-inflated one a bin for its zeros. Profiles written before the point-mass edges have
deciles only and load and compare as they are. Counts cover the rows
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

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..contract import SCHEMA_VERSION
from ..core.errors import ProjectError
from ..core.feature import FeatureKind
from ..core.featureset import feature_list
from ..core.metrics import reported
from ..core.predict import Predictions
from ..registry.store import REFERENCE_PROFILE_FILE, Registry

PROFILE_VERSION = 1
OTHER_CATEGORY = "__other__"
SAMPLE_SIZE = 1000
DECILES = np.linspace(0.1, 0.9, 9)
# A value holding at least this share of the rows gets a bin of its own (counts, codes, zero-inflation).
ATOM_SHARE = 0.05
PROBABILITY_EDGES = np.round(np.linspace(0.1, 0.9, 9), 1)


class ProfileError(ProjectError):
    """The registry's reference profile is missing or not a reference profile."""


class _Format(BaseModel):
    """A part of the profile file: immutable once read, unknown keys ignored."""

    model_config = ConfigDict(frozen=True)


class NumericProfile(_Format):
    """<numeric> in the module docstring."""

    kind: Literal["numeric"] = "numeric"
    bin_edges: list[float | None]
    counts: list[int]
    mean: float | None
    std: float | None
    missing_count: int
    missing_share: float | None
    sample: list[float | None] = []

    @property
    def edges(self) -> np.ndarray:
        """The bin edges as numbers (a null, which no profile writes, is left out)."""
        return np.asarray([edge for edge in self.bin_edges if edge is not None], dtype="float64")

    @property
    def sample_values(self) -> np.ndarray:
        """The sorted sample as numbers."""
        return np.asarray([value for value in self.sample if value is not None], dtype="float64")

    @property
    def present_count(self) -> int:
        """Rows with a value."""
        return sum(self.counts)


class CategoricalProfile(_Format):
    """<categorical> in the module docstring."""

    kind: Literal["categorical"] = "categorical"
    counts: dict[str, int]
    shares: dict[str, float | None]
    missing_count: int
    missing_share: float | None


class ClassesProfile(CategoricalProfile):
    """A classifier's predictions: the decided labels, and each class's probability."""

    probabilities: dict[str, NumericProfile]


FeatureProfile = Annotated[NumericProfile | CategoricalProfile, Field(discriminator="kind")]
PredictionProfile = Annotated[NumericProfile | ClassesProfile, Field(discriminator="kind")]


class ReferenceProfile(_Format):
    """The whole file (format in the module docstring)."""

    profile_version: Literal[1] = PROFILE_VERSION
    schema_version: str | int | None = None
    model_version: str | None = None
    problem_type: str | None = None
    rows: int
    other_category: str = OTHER_CATEGORY
    features: dict[str, FeatureProfile]
    prediction: PredictionProfile

    @property
    def classes(self) -> list[str] | None:
        """The model's classes as strings (classification), None for regression."""
        if not isinstance(self.prediction, ClassesProfile):
            return None
        return [label for label in self.prediction.counts if label != self.other_category]

    def to_json(self) -> dict[str, Any]:
        """The profile as the file holds it."""
        return self.model_dump(mode="json")

    def write(self, path: Path) -> None:
        """Write the file as strict JSON (no NaN or Infinity)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2, allow_nan=False) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> ReferenceProfile:
        """Read a profile file, failing with the file and the fix."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ProfileError(f"{path} not found: the registry is incomplete; run `uv run dvc repro`") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ProfileError(f"{path} is not JSON ({error}): run `uv run dvc repro` to rewrite it") from None
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise ProfileError(
                f"{path} is not a reference profile (profile_version {PROFILE_VERSION}): run `uv run dvc repro` "
                f"({error.error_count()} problem(s), first: {_first_problem(error)})"
            ) from None


def _first_problem(error: ValidationError) -> str:
    first = error.errors()[0]
    return f"{'.'.join(str(part) for part in first['loc']) or 'the file'}: {first['msg']}"


@dataclass(frozen=True)
class Reference:
    """The promoted version and the reference profile it was evaluated with."""

    version: str
    profile: ReferenceProfile


def load_reference(registry: Registry) -> Reference:
    """The promoted version's reference profile from the registry."""
    version = registry.require_promoted()
    return Reference(version, ReferenceProfile.read(registry.version_dir(version) / REFERENCE_PROFILE_FILE))


def reported_list(values: np.ndarray) -> list[float | None]:
    """Numbers as the reports state them."""
    return [reported(float(value)) for value in values]


def bin_edges(present: np.ndarray) -> np.ndarray:
    """The reference's deciles, plus edges that give every value holding `ATOM_SHARE` of the rows a bin of its own.

    Deciles alone collapse on discrete data: a count with most rows at 0-3 gets edges [0, 1, 2, 3],
    merging every higher count into one bin, and a discount of 0/5/10/20 merges 10 and 20.
    """
    if not len(present):
        return np.array([])
    values, counts = np.unique(present, return_counts=True)
    atoms = np.flatnonzero(counts >= ATOM_SHARE * len(present))
    following = values[atoms[atoms + 1 < len(values)] + 1]
    deciles = np.quantile(present, DECILES, method="inverted_cdf")  # observed values: no edge between two counts
    return np.unique(np.concatenate([deciles, values[atoms], following]))


def numeric_profile(values: pd.Series, rng: np.random.Generator, edges: np.ndarray | None = None) -> NumericProfile:
    """Bins, moments, missing share and a sorted sample of one numeric column."""
    present = values.dropna().to_numpy(dtype="float64")
    if edges is None:
        edges = bin_edges(present)
    edges = np.unique([reported(float(edge)) for edge in edges])
    counts = np.bincount(np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1)
    sample = np.sort(rng.choice(present, size=min(SAMPLE_SIZE, len(present)), replace=False))
    missing = len(values) - len(present)
    return NumericProfile(
        bin_edges=reported_list(edges),
        counts=[int(count) for count in counts],
        mean=reported(values.mean()),
        std=reported(values.std()),
        missing_count=missing,
        missing_share=reported(missing / len(values)),
        sample=reported_list(sample),
    )


def _category_counts(values: pd.Series, categories: Sequence[str]) -> dict[str, Any]:
    """Count and share of each category, of anything else, and of missing values."""
    present = values.dropna().astype(str)
    seen = present.value_counts()
    counts = {category: int(seen.get(category, 0)) for category in categories or sorted(seen.index)}
    counts[OTHER_CATEGORY] = len(present) - sum(counts.values())
    missing = len(values) - len(present)
    return {
        "counts": counts,
        "shares": {category: reported(count / len(values)) for category, count in counts.items()},
        "missing_count": missing,
        "missing_share": reported(missing / len(values)),
    }


def categorical_profile(values: pd.Series, categories: Sequence[str]) -> CategoricalProfile:
    """Count and share of each category, of anything else, and of missing values."""
    return CategoricalProfile(**_category_counts(values, categories))


def feature_profiles(
    features: pd.DataFrame, rng: np.random.Generator
) -> dict[str, NumericProfile | CategoricalProfile]:
    """The profile of every declared feature, numeric or categorical as `FEATURES` declares it."""
    return {
        feature.name: numeric_profile(features[feature.name], rng)
        if feature.kind is FeatureKind.NUMERIC
        else categorical_profile(features[feature.name], feature.categories)
        for feature in feature_list().features
    }


def prediction_profile(predictions: Predictions, rng: np.random.Generator) -> NumericProfile | ClassesProfile:
    """Decided labels and each class's probability (classification), or the predicted values."""
    if predictions.classes is None or predictions.probabilities is None:
        return numeric_profile(pd.Series(predictions.values), rng)
    classes = [str(label) for label in predictions.classes]
    probabilities = {
        label: numeric_profile(pd.Series(predictions.probabilities[:, index]), rng, PROBABILITY_EDGES)
        for index, label in enumerate(classes)
    }
    return ClassesProfile(**_category_counts(pd.Series(predictions.values), classes), probabilities=probabilities)


def reference_profile(
    features: pd.DataFrame, predictions: Predictions, metadata: Mapping[str, Any], seed: int
) -> ReferenceProfile:
    """The profile monitoring compares live traffic with (format in the module docstring)."""
    rng = np.random.default_rng(seed)
    return ReferenceProfile(
        schema_version=SCHEMA_VERSION,
        model_version=metadata.get("version"),
        problem_type=metadata.get("problem_type"),
        rows=len(features),
        features=feature_profiles(features, rng),
        prediction=prediction_profile(predictions, rng),
    )
