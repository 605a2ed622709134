"""The monitor summary: everything one run found, typed (`MonitorSummary`) and written as `summary.json`.

`summarise` decides the status and its exit code (0 all clear, 3 alert, 4 insufficient data)
from the window, the drift checks and the live metric. The HTML report, the Prometheus
metrics and the command's output are all drawn from this one object; `MonitorSummary.read`
loads a `summary.json` back for any later step (a scheduler, a retraining job).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from ..config import ProjectConfig
from ..core.metrics import reported
from .drift import Drift
from .performance import Performance
from .profile import Reference
from .window import Window

EXIT_ALL_CLEAR, EXIT_ALERT, EXIT_INSUFFICIENT_DATA = 0, 3, 4
Status = Literal["all_clear", "alert", "insufficient_data"]
STATUS_EXIT_CODES: dict[Status, int] = {
    "all_clear": EXIT_ALL_CLEAR,
    "alert": EXIT_ALERT,
    "insufficient_data": EXIT_INSUFFICIENT_DATA,
}


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True)


class ShareBin(_Part):
    """One bin or category: its share of the reference rows and of the window's."""

    label: str
    reference: float | None
    window: float | None


class DriftCheck(_Part):
    """One feature (or the predictions) compared with its reference (`drift.Drift`, as reported)."""

    name: str
    kind: str
    drifted: bool
    psi: float | None
    p_value: float | None
    tests: dict[str, float | None]
    corrected: dict[str, float | None]
    reference_missing_share: float | None
    window_missing_share: float | None
    bins: list[ShareBin]
    mean_shift: float | None = None  # numeric: window mean - reference mean, in reference SDs

    @property
    def alert(self) -> str:
        """One sentence for the alert list."""
        shift = f", mean {self.mean_shift:+.2f} SD" if self.mean_shift is not None else ""
        p_value = f"{self.p_value:.2g}" if self.p_value is not None else "n/a"
        return f"{self.name} drifted: PSI {_number(self.psi)}{shift}, p = {p_value}"

    @classmethod
    def of(cls, drift: Drift) -> DriftCheck:
        return cls(
            name=drift.name,
            kind=drift.kind,
            drifted=drift.drifted,
            psi=reported(drift.psi),
            p_value=reported(drift.p_value) if drift.p_value is not None else None,
            tests={test: reported(p) for test, p in drift.tests.items()},
            corrected={test: reported(p) for test, p in drift.corrected.items()},
            reference_missing_share=reported(drift.reference_missing_share),
            window_missing_share=reported(drift.window_missing_share),
            mean_shift=reported(drift.mean_shift) if drift.mean_shift is not None else None,
            bins=[
                ShareBin(label=label, reference=reported(ref), window=reported(live))
                for label, ref, live in zip(drift.labels, drift.reference_shares, drift.window_shares, strict=True)
            ],
        )


class WindowFacts(_Part):
    """Where the rows came from and how many answers were compared."""

    source: str
    rows: int
    start: str | None
    end: str | None
    min_window: int
    predictions_compared: int


class ReferenceFacts(_Part):
    """The promoted version the window was compared with."""

    model_version: str
    rows: int | None


class Thresholds(_Part):
    """The limits ml-project.yaml set for this run."""

    drift_threshold: float
    significance: float
    mean_shift_sd: float | None = None  # a numeric mean moved this many SDs is material (sqrt(drift_threshold))
    correction: str = "holm"
    max_violation_rate: float


class MonitorSummary(_Part):
    """One run: status and exit code, alerts, the window, every check and the live metric."""

    status: Status
    exit_code: int
    alerts: list[str]
    window: WindowFacts
    reference: ReferenceFacts
    thresholds: Thresholds
    contract_violation_rate: float | None
    missing_rate: float | None
    features: list[DriftCheck]
    prediction: DriftCheck | None
    performance: Performance | None

    @property
    def checks(self) -> list[DriftCheck]:
        """Every feature's check, then the predictions' when there is one."""
        return [*self.features, *([self.prediction] if self.prediction else [])]

    def to_json(self) -> dict[str, Any]:
        """The summary as `summary.json` holds it."""
        return self.model_dump(mode="json")

    def write(self, path: Path) -> None:
        """Write `summary.json` as strict JSON."""
        path.write_text(json.dumps(self.to_json(), indent=2, allow_nan=False) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> MonitorSummary:
        """Load a `summary.json` a run wrote."""
        return cls.model_validate_json(path.read_text(encoding="utf-8"))


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _rate(flags: np.ndarray) -> float:
    return float(flags.mean()) if len(flags) else 0.0


def summarise(
    window: Window,
    reference: Reference,
    drifts: Sequence[Drift],
    prediction: Drift | None,
    performance: Performance | None,
    config: ProjectConfig,
) -> MonitorSummary:
    """Everything the run found: status, exit code, window, checks, alerts."""
    settings = config.monitoring
    rows = len(window.rows)
    enough = rows >= settings.min_window
    violation_rate = _rate(window.violations)
    checks = [DriftCheck.of(drift) for drift in drifts]
    prediction_check = DriftCheck.of(prediction) if prediction else None
    alerts = [check.alert for check in [*checks, *([prediction_check] if prediction_check else [])] if check.drifted]
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
    status: Status = "alert" if alerts else "all_clear" if enough else "insufficient_data"
    missing_shares = [drift.window_missing_share for drift in drifts]
    return MonitorSummary(
        status=status,
        exit_code=STATUS_EXIT_CODES[status],
        alerts=alerts,
        window=WindowFacts(
            source=window.source,
            rows=rows,
            start=window.start.isoformat() if window.start else None,
            end=window.end.isoformat() if window.end else None,
            min_window=settings.min_window,
            predictions_compared=int(window.predictions.notna().sum()),
        ),
        reference=ReferenceFacts(model_version=reference.version, rows=reference.profile.rows),
        thresholds=Thresholds(
            drift_threshold=settings.drift_threshold,
            significance=settings.significance,
            mean_shift_sd=reported(math.sqrt(settings.drift_threshold)),
            max_violation_rate=settings.max_violation_rate,
        ),
        contract_violation_rate=reported(violation_rate),
        missing_rate=reported(float(np.mean(missing_shares))) if missing_shares else None,
        features=checks,
        prediction=prediction_check,
        performance=performance,
    )
