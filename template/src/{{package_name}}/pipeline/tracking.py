"""Experiment tracking: each evaluated training run logged to MLflow, when params.yaml asks for it.

DVC already versions params and metrics with the code; MLflow adds a browsable run history
(`uv run mlflow ui --backend-store-uri mlruns`). The store is a local folder, ignored by git.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..config import TrackingParams, flatten
from ..core.errors import ProjectError


class TrackingError(ProjectError):
    """Tracking is switched on but cannot log."""


def log_run(settings: TrackingParams, metadata: dict[str, Any], metrics: dict[str, Any], artifacts: list[Path]) -> str:
    """Log one training run (params, metrics, the model files) and return its run id ('' when off)."""
    if settings.backend == "none":
        return ""
    # MLflow keeps the folder store in maintenance mode behind this switch; it is the store that
    # needs no server or database, which is what a local pilot wants.
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    try:
        import mlflow
    except ImportError:
        raise TrackingError(
            "params.yaml tracking.backend is mlflow but MLflow is not installed: run `uv sync --group tracking`"
        ) from None
    mlflow.set_tracking_uri(Path(settings.uri).resolve().as_uri())
    mlflow.set_experiment(settings.experiment)
    with mlflow.start_run(run_name=metadata["version"]) as run:
        mlflow.log_params(flatten(metadata["params"]))
        mlflow.set_tags({"model_version": metadata["version"], "git_commit": metadata["git"]["commit"] or "none"})
        numeric = {name: value for name, value in metrics.items() if isinstance(value, int | float)}
        mlflow.log_metrics(numeric)
        for path in artifacts:
            mlflow.log_artifact(str(path), artifact_path="model")
    return run.info.run_id
