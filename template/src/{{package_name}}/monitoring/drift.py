"""Drift statistics: how far a window of live values has moved from the reference profile.

Every comparison is vectorised over the window's rows (NumPy binning, no per-row Python) and
reads only the reference profile (`profile.py` documents its format and types it):

- numeric: PSI on the reference's bins (deciles, and a bin of its own for every value common
  enough to be a point mass: the counts of a discrete input, the zeros of a zero-inflated one)
  plus a bin for missing values; how far the mean moved, in reference standard deviations; a
  two-sample Kolmogorov-Smirnov test against the reference's sample; a chi-square test of the
  missing share.
- categorical: PSI on the category shares (values the reference does not know count as
  `__other__`, missing values as a category of their own); a chi-square test on the counts.

PSI smooths each share with half a count per bin, so a bin empty on one side gives a large but
finite term. `judge` then applies one rule to every feature and to the predictions: drifted
when the change is material AND one of its tests is significant after Holm's correction
across all tests of the run. Material means the PSI reaches the threshold, or (numeric) the
mean may have moved by sqrt(threshold) standard deviations: a normal input whose mean moves by
d SDs has a PSI of about d squared, but a count or a skewed input only about 0.19 for d = 0.5,
so PSI alone misses mean shifts there. "May have moved" is the estimate plus its sampling error
at the run's confidence (Bonferroni over the run's means), so a shift exactly at sqrt(threshold)
is flagged, and a large window with a small shift is not. The PSI and the mean ignore
differences too small to matter; the tests ignore differences a small window produces by
chance, and the correction bounds the chance that a run on same-distribution data flags
anything at all by the significance level.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise

import numpy as np
import pandas as pd
from scipy import stats

from .profile import CategoricalProfile, NumericProfile, ProfileError, ReferenceProfile

# Added to every bin count before taking shares for PSI (Jeffreys' half count).
SMOOTHING_COUNT = 0.5
MISSING_LABEL = "(missing)"


@dataclass(frozen=True)
class Drift:
    """One feature (or the predictions) compared with its reference."""

    name: str
    kind: str  # "numeric" or "categorical"
    psi: float
    labels: list[str]  # the bins or categories, the last one for missing values
    reference_shares: list[float]
    window_shares: list[float]
    reference_missing_share: float
    window_missing_share: float
    window_rows: int
    tests: dict[str, float] = field(default_factory=dict)  # test name -> p-value
    corrected: dict[str, float] = field(default_factory=dict)  # test name -> Holm-adjusted p-value
    drifted: bool = False
    mean_shift: float | None = None  # window mean - reference mean, in reference standard deviations
    mean_shift_error: float | None = None  # its standard error, in the same unit

    @property
    def p_value(self) -> float | None:
        """The smallest corrected p-value of this feature's tests; None when no test applied."""
        return min(self.corrected.values()) if self.corrected else None


def psi(reference_counts: np.ndarray, window_counts: np.ndarray) -> float:
    """Population stability index of two count vectors over the same bins."""
    expected = _smoothed_shares(reference_counts)
    actual = _smoothed_shares(window_counts)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def _smoothed_shares(counts: np.ndarray) -> np.ndarray:
    padded = counts.astype("float64") + SMOOTHING_COUNT
    return padded / padded.sum()


def _shares(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    return [float(count / total) if total else 0.0 for count in counts]


def chi_square_p(reference_counts: np.ndarray, window_counts: np.ndarray) -> float:
    """p-value of the chi-square test that two count vectors come from one distribution (2 x K table)."""
    table = np.vstack([reference_counts, window_counts]).astype("float64")
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return float("nan")  # one category only, or one side empty: nothing to test
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    statistic = float(((table - expected) ** 2 / expected).sum())
    return float(stats.chi2.sf(statistic, table.shape[1] - 1))


def _ecdf_counts(grid: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each grid point g: how many values are < g and how many are <= g.

    Sorting the values once and searching the (small) grid in them is several times faster
    than binning every value into the grid.
    """
    ordered = np.sort(values)
    return np.searchsorted(ordered, grid, side="left"), np.searchsorted(ordered, grid, side="right")


def ks_p(sample: np.ndarray, grid: np.ndarray, below: np.ndarray, at_most: np.ndarray, rows: int) -> float:
    """Two-sample Kolmogorov-Smirnov p-value (asymptotic, as scipy's `ks_2samp`) of the window vs the sample.

    Between consecutive grid points the sample's ECDF is flat and the window's only rises, so
    the largest gap lies at a grid point (just before or at it): `grid` holds every sample
    value, `below`/`at_most` the window's counts there.
    """
    if not len(sample) or not rows:
        return float("nan")
    reference_below = np.searchsorted(sample, grid, side="left") / len(sample)
    reference_at_most = np.searchsorted(sample, grid, side="right") / len(sample)
    distance = max(
        np.abs(below / rows - reference_below).max(initial=0.0),
        np.abs(at_most / rows - reference_at_most).max(initial=0.0),
    )
    effective = round(len(sample) * rows / (len(sample) + rows))
    return float(stats.kstwo.sf(distance, max(effective, 1)))


def bin_labels(edges: Sequence[float]) -> list[str]:
    """Readable names of the bins (-inf, e1), [e1, e2), ..., [ek, +inf)."""
    if not len(edges):
        return ["all values"]
    bounds = [f"{edge:.4g}" for edge in edges]
    return [f"< {bounds[0]}", *(f"[{low}, {high})" for low, high in pairwise(bounds)), f">= {bounds[-1]}"]


def numeric_drift(name: str, reference: NumericProfile, values: np.ndarray) -> Drift:
    """Compare a window's numeric values (NaN = missing) with a reference <numeric> profile."""
    values = np.asarray(values, dtype="float64")
    present = values[~np.isnan(values)]
    missing = len(values) - len(present)
    edges, sample = reference.edges, reference.sample_values
    grid = np.unique(np.concatenate([edges, sample]))
    below, at_most = _ecdf_counts(grid, present)
    edge_positions = np.searchsorted(grid, edges)
    counts = np.diff(np.concatenate([[0], below[edge_positions], [len(present)]]))
    reference_counts = np.append(np.asarray(reference.counts), reference.missing_count)
    window_counts = np.append(counts, missing)
    reference_present = reference.present_count
    shift, error = _mean_shift(reference, present)
    return Drift(
        name=name,
        kind="numeric",
        psi=psi(reference_counts, window_counts),
        labels=[*bin_labels(edges), MISSING_LABEL],
        reference_shares=_shares(reference_counts),
        window_shares=_shares(window_counts),
        reference_missing_share=_share(reference.missing_count, reference_present + reference.missing_count),
        window_missing_share=_share(missing, len(values)),
        window_rows=len(values),
        tests={
            "ks": ks_p(sample, grid, below, at_most, len(present)),
            "missing_chi2": chi_square_p(
                np.array([reference_present, reference.missing_count]), np.array([len(present), missing])
            ),
        },
        mean_shift=shift,
        mean_shift_error=error,
    )


def _mean_shift(reference: NumericProfile, present: np.ndarray) -> tuple[float | None, float | None]:
    """How far the window's mean moved, in reference standard deviations, and the standard error of that."""
    std, rows = reference.std, reference.present_count
    if reference.mean is None or not std or rows < 2 or len(present) < 2:
        return None, None
    shift = (present.mean() - reference.mean) / std
    # Delta method: both means vary, and so does the reference's SD (by its kurtosis, from the sample).
    sample = reference.sample_values
    spread = ((sample - sample.mean()) ** 4).mean() / sample.var() ** 2 - 1 if len(sample) > 3 and sample.var() else 2
    variance = (std**2 / rows + present.var(ddof=1) / len(present)) / std**2 + shift**2 * spread / (4 * rows)
    return float(shift), float(np.sqrt(variance))


def categorical_drift(name: str, reference: CategoricalProfile, values: pd.Series, other: str) -> Drift:
    """Compare a window's category values (NaN = missing) with a reference <categorical> profile."""
    known = [category for category in reference.counts if category != other]
    codes, uniques = pd.factorize(values)  # missing values get code -1
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    seen = dict(zip(map(str, uniques), counts.tolist(), strict=True))
    known_counts = [seen.pop(category, 0) for category in known]
    unknown = sum(seen.values())
    missing = len(values) - int(counts.sum())
    reference_counts = np.array(
        [
            *(reference.counts[category] for category in known),
            reference.counts.get(other, 0),
            reference.missing_count,
        ]
    )
    window_counts = np.array([*known_counts, unknown, missing])
    return Drift(
        name=name,
        kind="categorical",
        psi=psi(reference_counts, window_counts),
        labels=[*known, other, MISSING_LABEL],
        reference_shares=_shares(reference_counts),
        window_shares=_shares(window_counts),
        reference_missing_share=_share(reference.missing_count, int(reference_counts.sum())),
        window_missing_share=_share(missing, len(values)),
        window_rows=len(values),
        tests={"chi2": chi_square_p(reference_counts, window_counts)},
    )


def feature_drifts(profile: ReferenceProfile, features: pd.DataFrame) -> list[Drift]:
    """Every model input of the reference profile compared with the window's features."""
    drifts = []
    for name, reference in profile.features.items():
        if name not in features.columns:
            raise ProfileError(f"the reference profile has feature {name!r}, the feature code no longer does")
        if isinstance(reference, NumericProfile):
            drifts.append(numeric_drift(name, reference, features[name].to_numpy(dtype="float64", na_value=np.nan)))
        else:
            drifts.append(categorical_drift(name, reference, features[name], profile.other_category))
    return drifts


def prediction_drift(profile: ReferenceProfile, predictions: pd.Series) -> Drift | None:
    """The window's answers against the reference predictions; None when no answer is comparable."""
    answered = predictions.dropna()
    if answered.empty:
        return None
    reference = profile.prediction
    if isinstance(reference, NumericProfile):
        return numeric_drift("prediction", reference, pd.to_numeric(answered).to_numpy(dtype="float64"))
    return categorical_drift("prediction", reference, answered.astype(str), profile.other_category)


def _share(part: int, whole: int) -> float:
    return float(part / whole) if whole else 0.0


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values: reject where adjusted < alpha keeps the family-wise error at alpha."""
    order = np.argsort(p_values)
    ranked = p_values[order] * (len(p_values) - np.arange(len(p_values)))
    adjusted = np.empty_like(p_values)
    adjusted[order] = np.minimum(np.maximum.accumulate(ranked), 1.0)
    return adjusted


def judge(drifts: Sequence[Drift], threshold: float, significance: float) -> list[Drift]:
    """Correct every p-value across `drifts` (Holm) and mark each one drifted or not (module docstring)."""
    tests = [
        (index, test, p) for index, drift in enumerate(drifts) for test, p in drift.tests.items() if np.isfinite(p)
    ]
    adjusted = holm(np.array([p for *_, p in tests], dtype="float64")) if tests else np.array([])
    corrected: list[dict[str, float]] = [{} for _ in drifts]
    for (index, test, _), value in zip(tests, adjusted, strict=True):
        corrected[index][test] = float(value)
    # Bonferroni: the bounds of every mean in the run hold together with probability 1 - significance.
    z = float(stats.norm.isf(significance / max(1, sum(drift.mean_shift is not None for drift in drifts))))
    return [
        replace(
            drift,
            corrected=corrected[index],
            drifted=material(drift, threshold, z) and any(p < significance for p in corrected[index].values()),
        )
        for index, drift in enumerate(drifts)
    ]


def material(drift: Drift, threshold: float, z: float) -> bool:
    """PSI at the threshold, or a mean shift of sqrt(threshold) SDs within `z` standard errors of the estimate."""
    if drift.psi >= threshold:
        return True
    if drift.mean_shift is None or drift.mean_shift_error is None:
        return False
    return bool(abs(drift.mean_shift) + z * drift.mean_shift_error >= np.sqrt(threshold))
