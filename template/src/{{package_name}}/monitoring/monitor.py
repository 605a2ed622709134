"""The `monitor` command: live traffic against the promoted model's reference profile.

It reads a window of the prediction log (or a batch file of contract rows), checks every row
against the data contract, compares each model input and the predictions with the reference
profile the evaluate stage wrote (`drift.py` has the statistics and the alert rule), and, when
true outcomes are given, scores the live primary metric against the promotion gate. It writes
`summary.json`, `report.html` and `metrics.prom` (Prometheus text format) to the output
directory and exits with one of the codes below, so a scheduler can act on the result.
docs/monitoring.md explains each number.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import ProjectConfig
from ..contract import COLUMNS, TARGET
from ..core.columns import Column, Role
from ..core.errors import ProjectError
from ..core.metrics import METRICS, reported
from ..core.validation import data_schema
from ..features import build_features
from ..monitoring.drift import Drift, categorical_drift, judge, numeric_drift
from ..registry.store import REFERENCE_PROFILE_FILE, Registry
from ..telemetry.prediction_log import REDACTED, read_prediction_log

EXIT_ALL_CLEAR, EXIT_ALERT, EXIT_INSUFFICIENT_DATA = 0, 3, 4
STATUS_EXIT_CODES = {"all_clear": EXIT_ALL_CLEAR, "alert": EXIT_ALERT, "insufficient_data": EXIT_INSUFFICIENT_DATA}
SUMMARY_FILE, REPORT_FILE, METRICS_FILE = "summary.json", "report.html", "metrics.prom"
REQUEST_ID = "request_id"
BATCH_SUFFIXES = (".csv", ".jsonl")


class MonitorInputError(ProjectError):
    """The prediction log, batch file, outcomes or reference profile cannot be used as given."""


@dataclass(frozen=True)
class Window:
    """The rows monitoring judges, as the service saw them.

    `rows` holds the contract's input columns typed as the contract says, with any value that
    cannot be read as such as missing. `predictions` is the answer per row (missing where there
    is none to compare: a fallback answer, another model version, a row breaking the contract).
    """

    source: str
    rows: pd.DataFrame
    violations: np.ndarray
    predictions: pd.Series
    probabilities: list[Mapping[str, float] | None]
    request_ids: pd.Series
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class Reference:
    """The promoted version and the reference profile it was evaluated with."""

    version: str
    profile: Mapping[str, Any]

    @property
    def classes(self) -> list[str] | None:
        """The model's classes as strings (classification), None for regression."""
        prediction = self.profile["prediction"]
        if prediction["kind"] != "categorical":
            return None
        return [label for label in prediction["counts"] if label != self.profile["other_category"]]


@dataclass(frozen=True)
class Performance:
    """The live primary metric on the rows whose true outcome is known."""

    metric: str
    value: float | None
    threshold: float
    higher_is_better: bool
    rows: int
    judged: bool

    @property
    def decayed(self) -> bool:
        if not self.judged or self.value is None:
            return False
        return self.value < self.threshold if self.higher_is_better else self.value > self.threshold


def load_reference(registry: Registry) -> Reference:
    """The promoted version's reference profile from the registry."""
    version = registry.require_promoted()
    path = registry.version_dir(version) / REFERENCE_PROFILE_FILE
    try:
        profile = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MonitorInputError(f"{path} not found: the registry is incomplete; run `uv run dvc repro`") from None
    except json.JSONDecodeError as error:
        raise MonitorInputError(f"{path} is not JSON ({error}): run `uv run dvc repro` to rewrite it") from None
    if profile.get("profile_version") != 1 or not {"features", "prediction"} <= profile.keys():
        raise MonitorInputError(f"{path} is not a reference profile (profile_version 1): run `uv run dvc repro`")
    return Reference(version, profile)


def typed_rows(raw: pd.DataFrame) -> pd.DataFrame:
    """The contract's input columns in their types; a value that does not convert becomes missing."""
    typed = {}
    for column in COLUMNS:
        values = raw[column.name]
        if column.dtype is datetime:
            parsed = pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")
            typed[column.name] = parsed.dt.tz_localize(None)
        elif column.dtype in (int, float):
            typed[column.name] = pd.to_numeric(values, errors="coerce").astype("float64")
        else:
            typed[column.name] = values.where(values.isna(), values.astype(str))
    return pd.DataFrame(typed, index=raw.index)


def contract_violations(raw: pd.DataFrame) -> np.ndarray:
    """Which rows break the data contract (`data_schema`, the checks training applies)."""
    import pandera.errors

    checked = raw.copy()
    for column in _personal_columns():  # redacted in the log: nothing left to check
        checked[column.name] = checked[column.name].mask(checked[column.name] == REDACTED, column.example)
    violating = np.zeros(len(raw), dtype=bool)
    try:
        data_schema(with_target=False).validate(checked.reset_index(drop=True), lazy=True)
    except pandera.errors.SchemaErrors as errors:
        rows = pd.to_numeric(errors.failure_cases["index"], errors="coerce").dropna().astype(int)
        violating[rows.to_numpy()] = True
    return violating


def _personal_columns() -> tuple[Column, ...]:
    return tuple(column for column in COLUMNS if column.role is Role.PERSONAL)


LOG_FIELDS = ("request_id", "timestamp", "model_version", "fallback", "prediction", "probabilities")


def log_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Prediction-log records as one frame: the request columns, then the answer's fields prefixed `_`.

    One pass straight into column lists: holding a million parsed records as dictionaries
    first would double the time and the memory.
    """
    names = [column.name for column in COLUMNS]
    columns: dict[str, list[Any]] = {name: [] for name in [*names, *LOG_FIELDS]}
    feature_appends = [(name, columns[name].append) for name in names]
    field_appends = [(name, columns[name].append) for name in LOG_FIELDS]
    for record in records:
        features = record.get("features") or {}
        for name, append in feature_appends:
            append(features.get(name))
        for name, append in field_appends:
            append(record.get(name))
    frame = pd.DataFrame({name: columns.pop(name) for name in names})
    frame[REQUEST_ID] = columns.pop(REQUEST_ID)
    frame["_timestamp"] = pd.to_datetime(columns.pop("timestamp"), utc=True, format="ISO8601", errors="coerce")
    frame["_fallback"] = [bool(value) for value in columns.pop("fallback")]
    for name, values in columns.items():
        frame[f"_{name}"] = values
    return frame


def read_log(path: Path) -> pd.DataFrame:
    """Every record of a prediction-log directory (or one JSONL log file) as a frame."""
    if path.is_dir():
        return log_frame(read_prediction_log(path))
    return log_frame(_jsonl_records(path))


def window_from_log(log: pd.DataFrame, reference: Reference, hours: int, now: datetime, source: str) -> Window:
    """The log's records of the last `hours`, with the predictions the reference version made."""
    start = now - timedelta(hours=hours)
    recent = log[(log["_timestamp"] >= start) & (log["_timestamp"] <= now)].reset_index(drop=True)
    raw = recent[[column.name for column in COLUMNS]]
    violations = contract_violations(raw)
    comparable = (recent["_model_version"] == reference.version) & ~recent["_fallback"]
    return Window(
        source=source,
        rows=typed_rows(raw),
        violations=violations,
        predictions=recent["_prediction"].where(comparable),
        probabilities=list(recent["_probabilities"].where(comparable, None)),
        request_ids=recent[REQUEST_ID],
        start=start,
        end=now,
    )


def _jsonl_records(path: Path) -> list[dict[str, Any]]:
    records = []
    try:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    try:
                        records.append(json.loads(line))
                    except json.JSONDecodeError as error:
                        raise MonitorInputError(f"{path}:{number} is not JSON ({error.msg})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise MonitorInputError(f"cannot read {path}: {error}") from None
    if any(not isinstance(record, dict) for record in records):
        raise MonitorInputError(f"{path}: every line must be a JSON object")
    return records


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or JSONL file as strings-and-values, failing with the file and the fix."""
    if path.suffix not in BATCH_SUFFIXES:
        raise MonitorInputError(f"{path}: expected a .csv or .jsonl file")
    if not path.is_file():
        raise MonitorInputError(f"{path} not found")
    if path.suffix == ".jsonl":
        return pd.DataFrame.from_records(_jsonl_records(path))
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise MonitorInputError(f"{path} is empty: expected a header row") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise MonitorInputError(f"cannot read {path} as CSV: {error}") from None


def window_from_batch(path: Path, reference: Reference, registry: Registry) -> Window:
    """Contract rows from a file, predicted by the promoted model; every row is in the window."""
    raw = read_table(path)
    missing = [column.name for column in COLUMNS if column.name not in raw.columns]
    if missing:
        raise MonitorInputError(f"{path}: missing contract column(s) {', '.join(missing)}")
    raw = raw.reset_index(drop=True)
    inputs = raw[[column.name for column in COLUMNS]]
    violations = contract_violations(inputs)
    rows = typed_rows(inputs)
    predictions = pd.Series([None] * len(rows), dtype=object)
    probabilities: list[Mapping[str, float] | None] = [None] * len(rows)
    valid = ~violations
    if valid.any():
        values, scores = _predict(registry, reference, rows[valid])
        predictions[valid] = values
        for index, row_scores in zip(np.flatnonzero(valid), scores, strict=True):
            probabilities[index] = row_scores
    ids = raw[REQUEST_ID] if REQUEST_ID in raw.columns else pd.Series([None] * len(raw), dtype=object)
    return Window(str(path), rows, violations, predictions, probabilities, ids)


def _predict(registry: Registry, reference: Reference, rows: pd.DataFrame) -> tuple[list[Any], list[Any]]:
    """The promoted model's answers for valid rows, as the service would log them."""
    from ..core.predict import predict
    from ..registry.artifacts import load_model

    model, metadata = load_model(registry.model_path(reference.version))
    predictions = predict(model, metadata, build_features(rows))
    values = [value.item() if isinstance(value, np.generic) else value for value in predictions.values]
    if predictions.probabilities is None or predictions.classes is None:
        return values, [None] * len(values)
    classes = [str(label) for label in predictions.classes]
    scores = [dict(zip(classes, map(float, row), strict=True)) for row in predictions.probabilities]
    return values, scores


def feature_drifts(profile: Mapping[str, Any], features: pd.DataFrame) -> list[Drift]:
    """Every model input of the reference profile compared with the window's features."""
    other = profile["other_category"]
    drifts = []
    for name, reference in profile["features"].items():
        if name not in features.columns:
            raise MonitorInputError(f"the reference profile has feature {name!r}, the feature code no longer does")
        if reference["kind"] == "numeric":
            drifts.append(numeric_drift(name, reference, features[name].to_numpy(dtype="float64", na_value=np.nan)))
        else:
            drifts.append(categorical_drift(name, reference, features[name], other))
    return drifts


def prediction_drift(profile: Mapping[str, Any], predictions: pd.Series) -> Drift | None:
    """The window's answers against the reference predictions; None when no answer is comparable."""
    answered = predictions.dropna()
    if answered.empty:
        return None
    reference = profile["prediction"]
    if reference["kind"] == "numeric":
        return numeric_drift("prediction", reference, pd.to_numeric(answered).to_numpy(dtype="float64"))
    return categorical_drift("prediction", reference, answered.astype(str), profile["other_category"])


def read_outcomes(path: Path) -> pd.Series:
    """True outcomes keyed by request id, from a CSV or JSONL file with `request_id` and the target column."""
    table = read_table(path)
    missing = [name for name in (REQUEST_ID, TARGET.name) if name not in table.columns]
    if missing:
        raise MonitorInputError(
            f"{path}: missing column(s) {', '.join(missing)} (expected {REQUEST_ID}, {TARGET.name})"
        )
    table = table.dropna(subset=[TARGET.name])
    ids = table[REQUEST_ID].astype(str)
    repeated = ids[ids.duplicated()].unique()
    if len(repeated):
        raise MonitorInputError(f"{path}: request id(s) appear more than once: {', '.join(repeated[:5])}")
    return pd.Series(table[TARGET.name].to_numpy(), index=ids, name=TARGET.name)


def live_performance(
    outcomes: pd.Series, log: pd.DataFrame, reference: Reference, config: ProjectConfig, source: Path
) -> Performance:
    """The gate metric on the logged answers whose outcome is known (fallback answers excluded)."""
    known_ids = set(log[REQUEST_ID].astype(str))
    unknown = [request_id for request_id in outcomes.index if request_id not in known_ids]
    if unknown:
        raise MonitorInputError(
            f"{source}: {len(unknown)} request id(s) are not in the predictions (e.g. {', '.join(unknown[:3])}); "
            "check the file, or point --predictions at the log that holds them"
        )
    answered = log[~log["_fallback"] & log[REQUEST_ID].astype(str).isin(outcomes.index)]
    metric = config.gate.metric
    if metric not in METRICS:
        raise MonitorInputError(f"ml-project.yaml gate.metric {metric!r} is not a known metric")
    judged = len(answered) >= config.monitoring.min_window
    value = _score(metric, outcomes.loc[answered[REQUEST_ID].astype(str)].to_numpy(), answered, reference)
    return Performance(
        metric, value, config.gate.threshold, METRICS[metric].higher_is_better, len(answered), judged=judged
    )


def _score(metric_name: str, truth: np.ndarray, answered: pd.DataFrame, reference: Reference) -> float | None:
    """One metric of the logged answers, computed as the evaluate stage computes it."""
    if not len(answered):
        return None
    import sklearn.metrics

    from ..core.predict import Predictions
    from ..pipeline.evaluate import metric_inputs

    classes = reference.classes
    if classes is None:
        predictions = Predictions(values=pd.to_numeric(answered["_prediction"]).to_numpy(dtype="float64"))
        truth = pd.to_numeric(pd.Series(truth), errors="coerce").to_numpy(dtype="float64")
    else:
        scores = [[float((row or {}).get(label, np.nan)) for label in classes] for row in answered["_probabilities"]]
        predictions = Predictions(
            values=answered["_prediction"].astype(str).to_numpy(),
            probabilities=np.array(scores, dtype="float64"),
            classes=np.array(classes),
        )
        truth = np.array([_label(value) for value in truth])
    metric = METRICS[metric_name]
    inputs, options = metric_inputs(metric, predictions)
    try:
        return reported(float(getattr(sklearn.metrics, metric.function)(truth, inputs, **options)))
    except ValueError as error:  # e.g. one class only among the outcomes
        raise MonitorInputError(f"cannot compute {metric_name} on the outcomes: {error}") from None


def _label(value: Any) -> str:
    """An outcome as the class labels are written: `1`, not `1.0`."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _rate(flags: np.ndarray) -> float:
    return float(flags.mean()) if len(flags) else 0.0


def summarise(
    window: Window,
    reference: Reference,
    drifts: Sequence[Drift],
    prediction: Drift | None,
    performance: Performance | None,
    config: ProjectConfig,
) -> dict[str, Any]:
    """Everything the run found, as strict JSON: status, exit code, window, checks, alerts."""
    settings = config.monitoring
    rows = len(window.rows)
    enough = rows >= settings.min_window
    violation_rate = _rate(window.violations)
    alerts = [
        f"{drift.name} drifted: PSI {drift.psi:.3f} >= {settings.drift_threshold}, p = {drift.p_value:.2g}"
        for drift in [*drifts, *([prediction] if prediction else [])]
        if drift.drifted
    ]
    if enough and violation_rate > settings.max_violation_rate:
        alerts.append(
            f"{100 * violation_rate:.1f}% of rows break the data contract "
            f"(limit {100 * settings.max_violation_rate:.1f}%)"
        )
    if performance is not None and performance.decayed:
        relation = "at least" if performance.higher_is_better else "at most"
        alerts.append(
            f"live {performance.metric} = {performance.value} misses the gate ({relation} {performance.threshold})"
        )
    status = "alert" if alerts else "all_clear" if enough else "insufficient_data"
    missing_shares = [drift.window_missing_share for drift in drifts]
    return {
        "status": status,
        "exit_code": STATUS_EXIT_CODES[status],
        "alerts": alerts,
        "window": {
            "source": window.source,
            "rows": rows,
            "start": window.start.isoformat() if window.start else None,
            "end": window.end.isoformat() if window.end else None,
            "min_window": settings.min_window,
            "predictions_compared": int(window.predictions.notna().sum()),
        },
        "reference": {"model_version": reference.version, "rows": reference.profile.get("rows")},
        "thresholds": {
            "drift_threshold": settings.drift_threshold,
            "significance": settings.significance,
            "correction": "holm",
            "max_violation_rate": settings.max_violation_rate,
        },
        "contract_violation_rate": reported(violation_rate),
        "missing_rate": reported(float(np.mean(missing_shares))) if missing_shares else None,
        "features": [_drift_json(drift) for drift in drifts],
        "prediction": _drift_json(prediction) if prediction else None,
        "performance": _performance_json(performance),
    }


def _drift_json(drift: Drift) -> dict[str, Any]:
    return {
        "name": drift.name,
        "kind": drift.kind,
        "drifted": drift.drifted,
        "psi": reported(drift.psi),
        "p_value": reported(drift.p_value) if drift.p_value is not None else None,
        "tests": {test: reported(p) for test, p in drift.tests.items()},
        "corrected": {test: reported(p) for test, p in drift.corrected.items()},
        "reference_missing_share": reported(drift.reference_missing_share),
        "window_missing_share": reported(drift.window_missing_share),
        "bins": [
            {"label": label, "reference": reported(ref), "window": reported(live)}
            for label, ref, live in zip(drift.labels, drift.reference_shares, drift.window_shares, strict=True)
        ],
    }


def _performance_json(performance: Performance | None) -> dict[str, Any] | None:
    if performance is None:
        return None
    return {
        "metric": performance.metric,
        "value": performance.value,
        "threshold": performance.threshold,
        "higher_is_better": performance.higher_is_better,
        "rows": performance.rows,
        "judged": performance.judged,
        "decayed": performance.decayed,
    }


def assess(window: Window, reference: Reference, config: ProjectConfig) -> tuple[list[Drift], Drift | None]:
    """Drift of every feature and of the predictions, judged together; nothing when the window is too small."""
    settings = config.monitoring
    if len(window.rows) < settings.min_window:
        return [], None
    drifts = feature_drifts(reference.profile, build_features(window.rows))
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
) -> dict[str, Any]:
    """Run every check on a log window or a batch file; return the summary (see `summarise`).

    With `report_dir` and `monitoring.report: evidently`, Evidently's report of the window goes there too.
    """
    if window_hours is not None and window_hours < 1:
        raise MonitorInputError(f"--window-hours must be at least 1 (got {window_hours})")
    reference = load_reference(registry)
    now = now or datetime.now(UTC)
    hours = window_hours or config.monitoring.window_hours
    if predictions.is_dir() or (predictions.suffix == ".jsonl" and _is_log_file(predictions)):
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
        from ..monitoring.evidently_report import write_evidently_report

        write_evidently_report(window, reference, report_dir, config.monitoring.min_window)
    performance = None
    if outcomes is not None:
        performance = live_performance(read_outcomes(outcomes), log, reference, config, outcomes)
    return summarise(window, reference, drifts, prediction, performance, config)


def _is_log_file(path: Path) -> bool:
    """Whether a JSONL file holds prediction-log records (with `features`) rather than contract rows."""
    try:
        with path.open(encoding="utf-8") as lines:
            first = next((line for line in lines if line.strip()), "")
    except (OSError, UnicodeDecodeError):
        return False
    try:
        return isinstance(record := json.loads(first), dict) and isinstance(record.get("features"), dict)
    except json.JSONDecodeError:
        return False


def write_outputs(summary: Mapping[str, Any], output_dir: Path, now: datetime | None = None) -> list[Path]:
    """Write summary.json, report.html and metrics.prom; return their paths."""
    from ..monitoring.report import render_report

    output_dir.mkdir(parents=True, exist_ok=True)
    summary_path, report_path, metrics_path = (output_dir / name for name in (SUMMARY_FILE, REPORT_FILE, METRICS_FILE))
    summary_path.write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    report_path.write_text(render_report(summary), encoding="utf-8")
    write_prometheus(summary, metrics_path, now or datetime.now(UTC))
    return [summary_path, report_path, metrics_path]


def write_prometheus(summary: Mapping[str, Any], path: Path, now: datetime) -> None:
    """The run's numbers as Prometheus text (node-exporter's textfile collector or a push can read it)."""
    from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

    metrics = CollectorRegistry()
    version = summary["reference"]["model_version"]

    def gauge(name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        return Gauge(f"model_monitor_{name}", documentation, ["model_version", *labels], registry=metrics)

    status = gauge("status", "1 for the outcome of the last run, per status", ["status"])
    for name in STATUS_EXIT_CODES:
        status.labels(version, name).set(int(summary["status"] == name))
    gauge("alerts", "Alerts raised by the last run").labels(version).set(len(summary["alerts"]))
    gauge("window_rows", "Rows in the monitored window").labels(version).set(summary["window"]["rows"])
    gauge("last_run_timestamp_seconds", "When the last run finished").labels(version).set(now.timestamp())
    rates = {
        "contract_violation_rate": "Share of rows breaking the data contract",
        "missing_rate": "Mean share of missing model inputs",
    }
    for name, documentation in rates.items():
        if summary[name] is not None:
            gauge(name, documentation).labels(version).set(summary[name])
    checks = [*summary["features"], *([summary["prediction"]] if summary["prediction"] else [])]
    psi = gauge("psi", "Population stability index against the reference profile", ["feature"])
    p_value = gauge("p_value", "Smallest Holm-corrected p-value of the feature's tests", ["feature"])
    drifted = gauge("drifted", "1 when the feature (or `prediction`) drifted", ["feature"])
    for check in checks:
        psi.labels(version, check["name"]).set(check["psi"] if check["psi"] is not None else float("nan"))
        p_value.labels(version, check["name"]).set(check["p_value"] if check["p_value"] is not None else float("nan"))
        drifted.labels(version, check["name"]).set(int(check["drifted"]))
    performance = summary["performance"]
    if performance is not None and performance["value"] is not None:
        live = gauge("live_metric", "The gate metric on rows with known outcomes", ["metric"])
        live.labels(version, performance["metric"]).set(performance["value"])
    write_to_textfile(str(path), metrics)
