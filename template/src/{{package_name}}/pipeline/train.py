"""The train stage: fit encoder and estimator on the training features, save the model with its lineage.

A binary model that decides with a cost (ml-project.yaml `decision`) has its threshold chosen on
rows it was not fitted on, or the threshold would be tuned to probabilities the model learnt by
heart: `train.threshold_holdout` of the training rows (each class in proportion) are held out of
the fit and the threshold is chosen on their probabilities. One fit, where cross-validated
probabilities took four; the test set stays untouched for the evaluate stage.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from ..config import ConfigError, ProblemType, ProjectConfig, TrainParams
from ..contract import SCHEMA_VERSION, TARGET
from ..core.featureset import encoder, read_features
from ..estimator import LIBRARY, SETTINGS_ERRORS, make_estimator
from ..registry.artifacts import MODEL_FILE, save_model, sha256_of

THRESHOLD_GRID = np.round(np.linspace(0.01, 0.99, 99), 2)
# Below this many rows, fitting and predicting run on one thread: starting and synchronising
# OpenMP threads costs more than the work (measured on the 2,000-row sample on 2 cores: 0.3 s on
# one thread, 2 to 20 s on two once the machine is busy).
PARALLEL_MIN_ROWS = 100_000


def thread_limit(rows: int) -> threadpool_limits:
    """One thread for small data, the libraries' own choice for large data (use as `with`)."""
    return threadpool_limits(limits=1 if rows < PARALLEL_MIN_ROWS else None)


def unfitted_model(problem_type: ProblemType, params: TrainParams) -> Pipeline:
    """Encoder and estimator, configured from params.yaml, not yet fitted."""
    try:
        estimator = make_estimator(
            classification=problem_type.is_classification, settings=params.estimator, seed=params.seed
        )
    except TypeError as error:
        raise ConfigError(f"params.yaml train.estimator: {error}") from None
    return Pipeline([("encode", encoder()), ("estimate", estimator)])


def fit(features: pd.DataFrame, target: pd.Series, problem_type: ProblemType, params: TrainParams) -> Pipeline:
    """Fit the model on features from `model_inputs` and their target."""
    model = unfitted_model(problem_type, params)
    try:
        return model.fit(features, target)
    except SETTINGS_ERRORS as error:  # estimators check their settings when fitting starts
        raise ConfigError(f"params.yaml train.estimator: {error}") from None


def expected_cost(target: np.ndarray, positive_probability: np.ndarray, threshold: float, fn_cost: float) -> float:
    """Cost per row of deciding at `threshold`: a missed positive costs `fn_cost`, a false alarm 1."""
    flagged = positive_probability >= threshold
    missed = np.sum(target & ~flagged)
    false_alarms = np.sum(~target & flagged)
    return float(fn_cost * missed + false_alarms) / len(target)


def choose_threshold(target: np.ndarray, positive_probability: np.ndarray, fn_cost: float) -> float:
    """The threshold with the lowest expected cost; on ties, the one closest to 0.5."""
    costs = [expected_cost(target, positive_probability, threshold, fn_cost) for threshold in THRESHOLD_GRID]
    best = min(zip(costs, np.abs(THRESHOLD_GRID - 0.5), THRESHOLD_GRID, strict=True))
    return float(best[2])


def held_out_positions(target: pd.Series, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the rows to fit on and of the `share` held out, each class in proportion in both."""
    positions = np.arange(len(target))
    fitted, held_out = train_test_split(positions, test_size=share, stratify=target, random_state=seed)
    return np.sort(fitted), np.sort(held_out)


def fit_and_choose_threshold(
    features: pd.DataFrame, target: pd.Series, fn_cost: float, problem_type: ProblemType, params: TrainParams
) -> tuple[Pipeline, dict[str, Any]]:
    """Fit on all but the held-out rows; choose the decision threshold on the held-out rows' probabilities."""
    fitted, held_out = held_out_positions(target, params.threshold_holdout, params.seed)
    model = fit(features.iloc[fitted], target.iloc[fitted], problem_type, params)
    probability = model.predict_proba(features.iloc[held_out])[:, 1]
    is_positive = (target.iloc[held_out] == model.classes_[1]).to_numpy()
    decision = {
        "decision_threshold": choose_threshold(is_positive, probability, fn_cost),
        "false_negative_cost": fn_cost,
        "threshold_rows": len(held_out),
    }
    return model, decision


def git_state() -> dict[str, Any]:
    """The commit the code was trained from, and whether tracked files had uncommitted changes."""
    git = shutil.which("git")
    if git is None:
        return {"commit": None, "dirty": None}
    try:
        # Fixed arguments, git resolved from PATH above: nothing here comes from input.
        commit = subprocess.run([git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout  # noqa: S603
        status = subprocess.run(  # noqa: S603
            [git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, check=True
        ).stdout
    except subprocess.CalledProcessError:  # not a git repository, or no commit yet
        return {"commit": None, "dirty": None}
    return {"commit": commit.strip(), "dirty": bool(status.strip())}


def data_version(record: Path) -> dict[str, Any]:
    """The raw data the validate stage read: path, md5 and size of its bytes, and its DVC pointer's md5 (or null)."""
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
        return {key: data[key] for key in ("path", "md5", "size", "dvc_md5")}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(
            f"{record}: not the validate stage's record of the raw data ({error}): `uv run dvc repro`"
        ) from None


def lineage(features_path: Path, data_record: Path, problem_type: ProblemType, params: TrainParams) -> dict[str, Any]:
    """What a reviewer needs to trace a model back to its data, code and settings."""
    trained_at = datetime.now(UTC)
    return {
        "version": trained_at.strftime("%Y%m%dT%H%M%SZ"),
        "trained_at": trained_at.isoformat(timespec="seconds"),
        "problem_type": problem_type.value,
        "target": TARGET.name,
        "schema_version": SCHEMA_VERSION,
        "data": {**data_version(data_record), "training_features_sha256": sha256_of(features_path)},
        "git": git_state(),
        "params": params.model_dump(),
        "libraries": {name: installed_version(name) for name in ("scikit-learn", "skops", LIBRARY)},
    }


def train_file(
    features_path: Path, data_record: Path, model_dir: Path, config: ProjectConfig, params: TrainParams
) -> dict[str, Any]:
    """Train on a features file, choose the decision threshold, save the model; return its metadata."""
    features, target = read_features(features_path)
    metadata = lineage(features_path, data_record, config.problem_type, params)
    with thread_limit(len(features)):
        if config.problem_type is ProblemType.BINARY_CLASSIFICATION and config.decision is not None:
            fn_cost = config.decision.false_negative_cost
            model, decision = fit_and_choose_threshold(features, target, fn_cost, config.problem_type, params)
            metadata |= decision
        else:
            model = fit(features, target, config.problem_type, params)
    metadata["training_rows"] = len(features) - metadata.get("threshold_rows", 0)
    if config.problem_type.is_classification:
        metadata["classes"] = [str(label) for label in model.classes_]
    return save_model(model, model_dir / MODEL_FILE, metadata)
