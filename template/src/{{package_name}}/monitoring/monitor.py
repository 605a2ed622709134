"""The `monitor` command: live traffic against the promoted model's reference profile.

It reads a window of the prediction log (or a batch file of contract rows), checks every row
against the data contract, compares each model input and the predictions with the reference
profile the evaluate stage wrote (`drift.py` has the statistics and the alert rule), and, when
true outcomes are given, scores the live primary metric against the promotion gate. It writes
`summary.json`, `report.html` and `metrics.prom` (Prometheus text format) to the output
directory and exits with the summary's code, so a scheduler can act on the result.
docs/monitoring.md explains each number.

This module only runs the steps in order; each has its own module: `inputs` (files),
`window` (contract checks, batch predictions), `drift`, `performance`, `summary`, `report`,
`prometheus`, and `evidently_report` when ml-project.yaml asks for it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ..config import ProjectConfig
from ..core.featureset import model_inputs
from ..registry.store import Registry
from .drift import Drift, feature_drifts, judge, prediction_drift
from .inputs import BATCH_SUFFIXES, REQUEST_ID, MonitorInputError, is_log_file, read_log, read_outcomes
from .performance import live_performance
from .profile import Reference, load_reference
from .summary import MonitorSummary, summarise
from .window import Window, window_from_batch, window_from_log

SUMMARY_FILE, REPORT_FILE, METRICS_FILE = "summary.json", "report.html", "metrics.prom"


def assess(window: Window, reference: Reference, config: ProjectConfig) -> tuple[list[Drift], Drift | None]:
    """Drift of every feature and of the predictions, judged together; nothing when the window is too small."""
    settings = config.monitoring
    if len(window.rows) < settings.min_window:
        return [], None
    drifts = feature_drifts(reference.profile, model_inputs(window.rows))
    prediction = prediction_drift(reference.profile, window.predictions)
    judged = judge([*drifts, *([prediction] if prediction else [])], settings.drift_threshold, settings.significance)
    return judged[: len(drifts)], (judged[-1] if prediction else None)


def monitor(
    config: ProjectConfig,
    registry: Registry,
    predictions: Path,
    outcomes: Path | None = None,
    window_hours: int | None = None,
    now: datetime | None = None,
    report_dir: Path | None = None,
) -> MonitorSummary:
    """Run every check on a log window or a batch file; return the summary.

    With `report_dir` and `monitoring.report: evidently`, Evidently's report of the window goes there too.
    """
    if window_hours is not None and window_hours < 1:
        raise MonitorInputError(f"--window-hours must be at least 1 (got {window_hours})")
    reference = load_reference(registry)
    now = now or datetime.now(UTC)
    hours = window_hours or config.monitoring.window_hours
    if predictions.is_dir() or (predictions.suffix == ".jsonl" and is_log_file(predictions)):
        log = read_log(predictions)
        window = window_from_log(log, reference, hours, now, str(predictions))
    elif predictions.exists() or predictions.suffix in BATCH_SUFFIXES:
        window = window_from_batch(predictions, reference, registry)
        log = pd.DataFrame({REQUEST_ID: window.request_ids, "_fallback": False})
        log["_prediction"], log["_probabilities"] = window.predictions, window.probabilities
    else:
        raise MonitorInputError(
            f"prediction log directory {predictions} not found: start the service (it writes there), "
            "set PREDICTION_LOG_DIR, or pass --predictions DIR or a .csv/.jsonl batch file"
        )
    drifts, prediction = assess(window, reference, config)
    if report_dir is not None and config.monitoring.report == "evidently":
        from .evidently_report import write_evidently_report

        write_evidently_report(window, reference, report_dir, config.monitoring.min_window)
    performance = None
    if outcomes is not None:
        performance = live_performance(read_outcomes(outcomes), log, reference, config, outcomes)
    return summarise(window, reference, drifts, prediction, performance, config)


def write_outputs(summary: MonitorSummary, output_dir: Path, now: datetime | None = None) -> list[Path]:
    """Write summary.json, report.html and metrics.prom; return their paths."""
    from .prometheus import write_prometheus
    from .report import render_report

    output_dir.mkdir(parents=True, exist_ok=True)
    summary_path, report_path, metrics_path = (output_dir / name for name in (SUMMARY_FILE, REPORT_FILE, METRICS_FILE))
    summary.write(summary_path)
    report_path.write_text(render_report(summary), encoding="utf-8")
    write_prometheus(summary, metrics_path, now or datetime.now(UTC))
    return [summary_path, report_path, metrics_path]
