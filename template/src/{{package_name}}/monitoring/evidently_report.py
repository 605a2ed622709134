"""Evidently's data-drift report, written beside the built-in one when `monitoring.report: evidently`.

The built-in statistics (`drift.py`) decide alerts and exit codes; this page is a second view for
teams who read Evidently's reports. It never changes the summary, the built-in report or the metrics.

Evidently compares two tables of rows, but the reference profile stores distributions, not rows,
so the reference table is rebuilt from it (`reference_frame`): up to 1,000 rows in which each
numeric input takes values from the profile's sample of that input and each categorical input
(and each predicted class) appears in proportion to its recorded share, missing values included.
Columns are placed in rows independently with a fixed seed, so the table keeps every column's
distribution but not the relations between columns: enough for Evidently's per-column drift
tests, which is all `DataDriftPreset` runs. Live values of a category the reference does not know
count as `__other__`, as in the built-in checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..core.errors import ProjectError
from ..core.featureset import model_inputs
from .profile import CategoricalProfile, NumericProfile, Reference, ReferenceProfile
from .window import Window

EVIDENTLY_FILE = "evidently.html"
PREDICTION_COLUMN = "prediction"
REFERENCE_ROWS = 1000
REFERENCE_SEED = 0


class EvidentlyMissingError(ProjectError):
    """ml-project.yaml asks for an Evidently report, but Evidently is not installed."""


def _allocate(counts: Mapping[str | None, int], rows: int) -> dict[str | None, int]:
    """Split `rows` between the keys in proportion to their counts (largest remainders get the rest)."""
    total = sum(counts.values())
    if total == 0:
        return dict.fromkeys(counts, 0)
    quotas = {key: count * rows / total for key, count in counts.items()}
    shares = {key: int(quota) for key, quota in quotas.items()}
    by_remainder = sorted(quotas, key=lambda key: quotas[key] - shares[key], reverse=True)
    for key in by_remainder[: rows - sum(shares.values())]:
        shares[key] += 1
    return shares


def _numeric_column(spec: NumericProfile, rows: int, rng: np.random.Generator) -> np.ndarray:
    """Values drawn from the profile's sample, with the recorded share of them missing."""
    sample = spec.sample_values
    split = _allocate({"present": spec.present_count, "missing": spec.missing_count}, rows)
    values = rng.choice(sample, size=split["present"], replace=split["present"] > len(sample))
    return rng.permutation(np.concatenate([values, np.full(split["missing"], np.nan)]))


def _categorical_column(spec: CategoricalProfile, rows: int, rng: np.random.Generator) -> np.ndarray:
    """Each category (and missing values) in proportion to its recorded count."""
    allocation = _allocate({**spec.counts, None: spec.missing_count}, rows)  # None: missing
    values = np.repeat(np.array(list(allocation), dtype=object), list(allocation.values()))
    return rng.permutation(values)


def column_profiles(profile: ReferenceProfile) -> dict[str, NumericProfile | CategoricalProfile]:
    """The profile of every column Evidently compares: each model input, then the predictions."""
    return {**profile.features, PREDICTION_COLUMN: profile.prediction}


def reference_frame(profile: ReferenceProfile, seed: int = REFERENCE_SEED) -> pd.DataFrame:
    """Rows with the reference profile's distribution per column (see the module docstring)."""
    rng = np.random.default_rng(seed)
    rows = min(profile.rows, REFERENCE_ROWS)
    return pd.DataFrame(
        {
            name: _numeric_column(spec, rows, rng)
            if isinstance(spec, NumericProfile)
            else _categorical_column(spec, rows, rng)
            for name, spec in column_profiles(profile).items()
        }
    )


def _as_reference_categories(values: pd.Series, spec: CategoricalProfile, other: str) -> pd.Series:
    """Live values as strings, with categories the reference does not know counted as `other`."""
    known = set(spec.counts)
    text = values.astype(object).where(values.isna(), values.astype(str))
    return text.where(text.isna() | text.isin(known), other).astype(object)


def current_frame(window: Window, profile: ReferenceProfile) -> pd.DataFrame:
    """The window's model inputs and compared predictions, typed like the reference frame."""
    other = profile.other_category
    features = model_inputs(window.rows).reset_index(drop=True)
    features[PREDICTION_COLUMN] = window.predictions.reset_index(drop=True)
    return pd.DataFrame(
        {
            name: pd.to_numeric(features[name], errors="coerce").astype("float64")
            if isinstance(spec, NumericProfile)
            else _as_reference_categories(features[name], spec, other)
            for name, spec in column_profiles(profile).items()
        }
    )


def _removed_in_pandas_3(*args: object, **kwargs: object) -> None:
    raise NotImplementedError("pandas 3 removed pandas.core.dtypes.common.infer_dtype_from_object")


def _let_evidently_import_on_pandas_3() -> None:
    """Evidently 0.7.23 imports a pandas helper that pandas 3 removed, at import time, for a column-type
    test this report never runs: give it a stand-in that fails loudly if it is ever called."""
    import pandas.core.dtypes.common as pandas_dtypes

    if not hasattr(pandas_dtypes, "infer_dtype_from_object"):
        pandas_dtypes.infer_dtype_from_object = _removed_in_pandas_3


def _evidently() -> tuple[Any, Any, Any, Any]:
    """Evidently's Report, DataDriftPreset, Dataset and DataDefinition, or an error saying how to get them."""
    _let_evidently_import_on_pandas_3()
    try:
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset
    except ImportError as error:
        raise EvidentlyMissingError(
            f"monitoring.report is 'evidently' in ml-project.yaml but Evidently cannot be imported ({error}): "
            "run `uv sync --group evidently`, or set monitoring.report: builtin"
        ) from None
    return Report, DataDriftPreset, Dataset, DataDefinition


def write_evidently_report(window: Window, reference: Reference, output_dir: Path, min_rows: int) -> Path | None:
    """Write evidently.html for the window; below `min_rows` rows remove a stale one and write nothing."""
    report_class, preset, dataset, definition = _evidently()
    path = output_dir / EVIDENTLY_FILE
    if len(window.rows) < min_rows:
        path.unlink(missing_ok=True)  # drift is not judged on too few rows: no page that suggests otherwise
        return None
    profile = reference.profile
    current, reference_rows = current_frame(window, profile), reference_frame(profile)
    # Evidently refuses a column without values (a feature turned all-null, no compared predictions);
    # the built-in report covers those, so they are left out of this page rather than failing the run.
    kinds = {name: spec.kind for name, spec in column_profiles(profile).items()}
    compared = [name for name in kinds if current[name].notna().any() and reference_rows[name].notna().any()]
    data_definition = definition(
        numerical_columns=[name for name in compared if kinds[name] == "numeric"],
        categorical_columns=[name for name in compared if kinds[name] == "categorical"],
    )
    current_data = dataset.from_pandas(current[compared], data_definition=data_definition)
    reference_data = dataset.from_pandas(reference_rows[compared], data_definition=data_definition)
    snapshot = report_class([preset()]).run(current_data=current_data, reference_data=reference_data)
    output_dir.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(path))
    return path
