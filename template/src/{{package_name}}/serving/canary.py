"""The canary inside a worker: which rows the rollout's candidate answers, and when to abort it.

`registry.rollout` keeps the rollout's state in the registry; each worker of each replica
re-reads it at most every `REREAD_SECONDS` (a `stat` of the file, parsed only when it
changed), so `rollout advance`, `promote` and `abort` reach every worker within about that
time, without a restart. A new candidate is loaded and checked (as the promoted model is) on a
thread of its own, off the request path; until it is ready, or if it cannot be loaded (logged),
no request goes to it.

The split is per row, sticky by the row's key: the contract's identifier column when it has
one (one customer, one model, on every replica), else the request's id. A key's place in
[0, 100) is a hash of the candidate's version and the key, so advancing keeps everyone already
on the candidate there, and each rollout picks its own customers.

The candidate is judged on this worker's traffic since it started routing to it: once it
answered `min_requests` rows, the worker aborts the rollout in the registry (by
`auto-abort`, naming the trigger and both values) when its error rate, its prediction calls'
p99 time, or the PSI of its predictions against the promoted model's over the same window
passes the rollout's thresholds. Other workers stop at their next re-read.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.columns import Role
from ..core.contract import columns_with_role
from ..core.errors import ProjectError
from ..monitoring.drift import psi
from ..registry.rollout import AUTO_ABORT_ACTOR, ROLLOUT_FILE, Rollout, Thresholds, abort, current_rollout
from ..registry.store import Registry
from ..telemetry.observability import record_rollout_abort, value_buckets
from .api import Prediction
from .loading import ServedModel, load_usable

REREAD_SECONDS = 5.0
LATENCY_WINDOW = 1000  # the candidate's last prediction calls its p99 is taken over
JUDGE_EVERY_ROWS = 20  # judging costs a PSI and a percentile: not on every request

logger = logging.getLogger(__name__)

Row = dict[str, Any]


def share_of(candidate: str, key: str) -> float:
    """Where `key` falls in [0, 100) for this candidate's rollout: stable across workers, replicas and restarts."""
    digest = hashlib.blake2b(f"{candidate}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 * 100


def key_column() -> str | None:
    """The contract's identifier column (the entity), the split's key; None when it has none."""
    identifiers = columns_with_role(Role.IDENTIFIER)
    return identifiers[0].name if identifiers else None


@dataclass
class Window:
    """What the candidate and the promoted model did on this worker since it began routing the rollout."""

    candidate_rows: int = 0
    candidate_errors: int = 0
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    candidate_predictions: Counter[Any] = field(default_factory=Counter)
    baseline_predictions: Counter[Any] = field(default_factory=Counter)
    judged_at_rows: int = 0


def prediction_bins(answers: Sequence[Prediction], *, classification: bool) -> list[Any]:
    """What the PSI compares: class labels, or the bucket index of each predicted value."""
    if classification:
        return [str(answer.prediction) for answer in answers]
    values = np.asarray([float(answer.prediction) for answer in answers])
    return np.searchsorted(np.asarray(value_buckets()), values).tolist()


def prediction_psi(baseline: Counter[Any], candidate: Counter[Any]) -> float:
    """PSI of the candidate's prediction counts against the promoted model's, over the bins either used."""
    bins = sorted(set(baseline) | set(candidate), key=str)
    return psi(np.array([baseline[b] for b in bins]), np.array([candidate[b] for b in bins]))


def trigger(window: Window, thresholds: Thresholds) -> str | None:
    """Why the candidate must stop (the trigger with its value and limit), or None; None below `min_requests`."""
    rows = window.candidate_rows
    if rows < thresholds.min_requests:
        return None
    error_rate = window.candidate_errors / rows
    if error_rate > thresholds.max_error_rate:
        failed = f"{window.candidate_errors} of {rows} rows"
        return f"error rate {error_rate:.4f} above {thresholds.max_error_rate:g} ({failed})"
    if window.latencies_ms:
        p99 = float(np.percentile(np.asarray(window.latencies_ms), 99))
        if p99 > thresholds.max_p99_latency_ms:
            return f"p99 prediction latency {p99:.2f} ms above {thresholds.max_p99_latency_ms:g} ms"
    if window.baseline_predictions and window.candidate_predictions:
        drift = prediction_psi(window.baseline_predictions, window.candidate_predictions)
        if drift > thresholds.max_prediction_psi:
            return f"prediction PSI {drift:.3f} against the promoted model above {thresholds.max_prediction_psi:g}"
    return None


class Canary:
    """One worker's view of the registry's rollout: the candidate, the split and the judgement."""

    def __init__(
        self,
        registry: Registry,
        served_version: str,
        *,
        classification: bool,
        load: Callable[[Registry, str], ServedModel] = load_usable,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.served_version = served_version
        self.classification = classification
        self.load = load
        self.clock = clock
        self.key = key_column()
        self.rollout: Rollout | None = None  # the one routed to (or loading); None: no rollout for this worker
        self.candidate: ServedModel | None = None  # set by the loading thread once the candidate is ready
        self.window = Window()
        self.checked_at = -REREAD_SECONDS
        self.file_stamp: tuple[int, int] | None = None
        self.request_keys: dict[int, str] = {}  # id(row) -> its request's id, when the contract has no identifier

    @property
    def percent(self) -> float:
        """The share of rows the candidate answers now (0 while it loads or when no rollout applies)."""
        if self.rollout is None or self.candidate is None:
            return 0.0
        return self.rollout.routing_percent

    def refresh(self) -> None:
        """Re-read the rollout if `REREAD_SECONDS` passed and the file changed; cheap otherwise."""
        now = self.clock()
        if now - self.checked_at < REREAD_SECONDS:
            return
        self.checked_at = now
        try:
            stat = (self.registry.root / ROLLOUT_FILE).stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp == self.file_stamp:
            return
        self.file_stamp = stamp
        try:
            latest = current_rollout(self.registry) if stamp is not None else None
        except (OSError, ValueError, KeyError, TypeError):  # half-copied by hand, or damaged: keep what we had
            logger.exception("the rollout state in %s could not be read; routing unchanged", self.registry.root)
            return
        self.follow(latest)

    def follow(self, latest: Rollout | None) -> None:
        """Route per `latest`: load its candidate when new, stop at once when it ended or is not for this worker."""
        if latest is None or latest.baseline != self.served_version or latest.routing_percent <= 0:
            if self.rollout is not None:
                logger.warning("canary stopped: %s", latest.describe() if latest else "the rollout state is gone")
            self.rollout, self.candidate = None, None
            return
        current = self.rollout
        if current is not None and (current.candidate, current.started_at) == (latest.candidate, latest.started_at):
            if latest.routing_percent != current.routing_percent:
                logger.info("canary share now %g%%: %s", latest.routing_percent, latest.describe())
            self.rollout = latest
            return
        self.rollout, self.candidate, self.window = latest, None, Window()
        threading.Thread(target=self.load_candidate, args=(latest,), name="canary-load", daemon=True).start()

    def load_candidate(self, rollout: Rollout) -> None:
        """Load and check the candidate (off the request path); routing to it starts once it is ready."""
        try:
            model = self.load(self.registry, rollout.candidate)
        except ProjectError as error:
            logger.error("canary %s not routed to: it cannot be served: %s", rollout.candidate, error)
            return
        except Exception:  # anything else a broken candidate raises: never the worker's end
            logger.exception("canary %s not routed to: loading it failed", rollout.candidate)
            return
        if self.rollout is rollout:  # not replaced or stopped while it loaded
            self.candidate = model
            logger.info("canary %s ready: %s", rollout.candidate, rollout.describe())

    @contextlib.contextmanager
    def keyed_by_request(self, rows: Sequence[Row], request_id: str) -> Iterator[None]:
        """While `rows` wait to be predicted, their key is `request_id` (for a contract without an identifier)."""
        for row in rows:
            self.request_keys[id(row)] = request_id
        try:
            yield
        finally:
            for row in rows:
                self.request_keys.pop(id(row), None)

    def row_key(self, row: Row) -> str:
        if self.key is not None and row.get(self.key) is not None:
            return str(row[self.key])
        return self.request_keys.get(id(row), "")

    def routed(self, rows: Sequence[Row]) -> list[bool]:
        """For each row: does the candidate answer it? Sticky by the row's key (`row_key`)."""
        percent, rollout = self.percent, self.rollout
        if percent <= 0 or rollout is None:
            return [False] * len(rows)
        if percent >= 100:
            return [True] * len(rows)
        return [share_of(rollout.candidate, self.row_key(row)) < percent for row in rows]

    def state(self) -> dict[str, Any] | None:
        """What `/metadata` shows: the registry's latest rollout (None before the first) and this worker's share."""
        latest = current_rollout(self.registry)
        if latest is None:
            return None
        return {
            "candidate": latest.candidate,
            "baseline": latest.baseline,
            "percent": latest.percent,
            "status": latest.status,
            "aborted": latest.aborted,
            "routing_percent": self.percent,  # this worker, now: 0 while the candidate loads, or after an abort
        }

    def observe(
        self,
        candidate_answers: Sequence[Prediction] | None,
        candidate_rows: int,
        seconds: float,
        baseline_answers: Sequence[Prediction],
    ) -> None:
        """Count one prediction call's outcome: the candidate's answers (None: it failed) and the promoted model's."""
        window = self.window
        if baseline_answers:
            window.baseline_predictions.update(prediction_bins(baseline_answers, classification=self.classification))
        if not candidate_rows:
            return
        window.candidate_rows += candidate_rows
        window.latencies_ms.append(seconds * 1000)
        if candidate_answers is None:
            window.candidate_errors += candidate_rows
        else:
            window.candidate_predictions.update(prediction_bins(candidate_answers, classification=self.classification))
        if window.candidate_rows - window.judged_at_rows >= JUDGE_EVERY_ROWS:
            window.judged_at_rows = window.candidate_rows
            self.judge()

    def judge(self) -> None:
        """Abort the rollout in the registry and stop routing at once when a trigger fires."""
        rollout = self.rollout
        if rollout is None or rollout.status != "active":
            return
        why = trigger(self.window, rollout.thresholds)
        if why is None:
            return
        self.rollout, self.candidate = None, None  # this worker stops now, whatever the registry says
        reason = f"candidate {rollout.candidate}: {why}"
        logger.warning("canary aborted automatically: %s", reason, extra={"rollout_candidate": rollout.candidate})
        record_rollout_abort(rollout.candidate)
        try:
            outcome = abort(
                self.registry, reason, AUTO_ABORT_ACTOR, candidate=rollout.candidate, started_at=rollout.started_at
            )
        except ProjectError as error:  # another worker aborted it first, or someone promoted it meanwhile
            outcome = str(error)
        except OSError:
            logger.exception("the automatic abort could not be written to %s", self.registry.root)
            return
        logger.warning("rollout: %s", outcome)
