"""A run's numbers in Prometheus text format (`metrics.prom`), for node-exporter's textfile collector or a push."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from .summary import STATUS_EXIT_CODES, MonitorSummary

NAN = float("nan")


def write_prometheus(summary: MonitorSummary, path: Path, now: datetime) -> None:
    """Write every gauge of one run, labelled with the reference model version."""
    from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

    metrics = CollectorRegistry()
    version = summary.reference.model_version

    def gauge(name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        return Gauge(f"model_monitor_{name}", documentation, ["model_version", *labels], registry=metrics)

    status = gauge("status", "1 for the outcome of the last run, per status", ["status"])
    for name in STATUS_EXIT_CODES:
        status.labels(version, name).set(int(summary.status == name))
    gauge("alerts", "Alerts raised by the last run").labels(version).set(len(summary.alerts))
    gauge("window_rows", "Rows in the monitored window").labels(version).set(summary.window.rows)
    gauge("last_run_timestamp_seconds", "When the last run finished").labels(version).set(now.timestamp())
    if summary.contract_violation_rate is not None:
        violations = gauge("contract_violation_rate", "Share of rows breaking the data contract")
        violations.labels(version).set(summary.contract_violation_rate)
    if summary.missing_rate is not None:
        gauge("missing_rate", "Mean share of missing model inputs").labels(version).set(summary.missing_rate)
    psi = gauge("psi", "Population stability index against the reference profile", ["feature"])
    p_value = gauge("p_value", "Smallest Holm-corrected p-value of the feature's tests", ["feature"])
    drifted = gauge("drifted", "1 when the feature (or `prediction`) drifted", ["feature"])
    for check in summary.checks:
        psi.labels(version, check.name).set(check.psi if check.psi is not None else NAN)
        p_value.labels(version, check.name).set(check.p_value if check.p_value is not None else NAN)
        drifted.labels(version, check.name).set(int(check.drifted))
    performance = summary.performance
    if performance is not None and performance.value is not None:
        live = gauge("live_metric", "The gate metric on rows with known outcomes", ["metric"])
        live.labels(version, performance.metric).set(performance.value)
    write_to_textfile(str(path), metrics)
