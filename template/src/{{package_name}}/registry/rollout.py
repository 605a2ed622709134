"""Canary rollouts: a registered candidate answers a share of live requests, then takes over or is aborted.

The state lives in the registry beside the promotion pointer, in `rollout.json`:

    {"current": {"candidate", "baseline", "percent", "status", "started_at", "thresholds", "aborted"} | null,
     "history": [{"action", "version", "percent", "at", "by", "reason"}, ...]}

`current` is the latest rollout: `active` (the service sends `percent` of requests to the
candidate), `aborted` (it sends none; `aborted` says when, by whom and why) or `promoted` (the
pointer moved to the candidate; a service still serving the baseline sends it every request
until it restarts). `history` records every start, advance, promote and abort with who, when
and why, as `promoted.json` records promotions and rollbacks.

Starting checks the candidate as `promote` does (the project's contract, the gate), so a
rollout never puts a model the owner would refuse in front of users. The abort thresholds
(`ml-project.yaml` `rollout`) are copied into the rollout when it starts: every worker and
replica judges the candidate by the same ones, and the record shows which applied.

Every change is a read-modify-write of the file under an exclusive lock on the registry
folder, written to a temporary file and renamed: workers aborting at the same moment, or a
person advancing while a worker aborts, never leave a half-written or lost state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from ..config import ProjectConfig
from ..core.errors import ProjectError
from ..pipeline.gate import GateFailedError
from .store import Registry
from .versions import gate_decision, require_current_contract, require_registered

ROLLOUT_FILE = "rollout.json"
FIRST_PERCENT_ENV = "ROLLOUT_FIRST_PERCENT"  # the first share when `rollout start` is given none
AUTO_ABORT_ACTOR = "auto-abort"

Status = Literal["active", "aborted", "promoted"]


class RolloutError(ProjectError):
    """A rollout command does not fit the current rollout state (none running, share not above the current one…)."""


@dataclass(frozen=True)
class Thresholds:
    """When the service aborts a rollout on its own; judged once the candidate answered `min_requests` rows."""

    min_requests: int
    max_error_rate: float  # share of the candidate's rows it failed to predict
    max_p99_latency_ms: float  # the candidate's prediction calls, 99th percentile
    max_prediction_psi: float  # its predictions against the promoted model's, over the same window

    @classmethod
    def from_config(cls, config: ProjectConfig) -> Thresholds:
        rollout = config.rollout
        return cls(
            min_requests=rollout.min_requests,
            max_error_rate=rollout.max_error_rate,
            max_p99_latency_ms=config.service.latency_budget_ms * rollout.latency_budget_share,
            max_prediction_psi=rollout.max_prediction_psi,
        )


@dataclass(frozen=True)
class Rollout:
    """The latest rollout in a registry."""

    candidate: str
    baseline: str  # the promoted version when it started: the one the candidate is compared with
    percent: float
    status: Status
    started_at: str
    thresholds: Thresholds
    aborted: dict[str, str] | None = None  # {"at", "by", "reason"}

    @property
    def routing_percent(self) -> float:
        """The share of requests a service serving `baseline` sends to the candidate now."""
        return {"active": self.percent, "promoted": 100.0, "aborted": 0.0}[self.status]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Rollout:
        return cls(**{**data, "thresholds": Thresholds(**data["thresholds"])})

    def describe(self) -> str:
        """One line for people: the candidate, its share and, once aborted, why."""
        if self.status == "aborted" and self.aborted is not None:
            return (
                f"rollout of {self.candidate} ABORTED at {self.percent:g}% on {self.aborted['at']} "
                f"by {self.aborted['by']}: {self.aborted['reason']}"
            )
        if self.status == "promoted":
            return f"rollout of {self.candidate} completed: promoted (was {self.baseline})"
        return f"rollout of {self.candidate}: {self.percent:g}% of requests (the rest: {self.baseline})"


def read_state(registry: Registry) -> dict[str, Any]:
    """The whole file: `current` (or None) and `history` (empty before the first rollout)."""
    path = registry.root / ROLLOUT_FILE
    if not path.is_file():
        return {"current": None, "history": []}
    return json.loads(path.read_text(encoding="utf-8"))


def current_rollout(registry: Registry) -> Rollout | None:
    """The latest rollout, whatever its status; None before the first one."""
    current = read_state(registry)["current"]
    return None if current is None else Rollout.from_json(current)


def rollout_history(registry: Registry) -> list[dict[str, Any]]:
    """Every start, advance, promote and abort, oldest first."""
    return read_state(registry)["history"]


@contextlib.contextmanager
def locked_state(registry: Registry) -> Iterator[dict[str, Any]]:
    """The state to change, under an exclusive lock on the registry folder; written back atomically on exit."""
    descriptor = os.open(registry.root, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        state = read_state(registry)
        yield state
        path = registry.root / ROLLOUT_FILE
        temporary = path.with_name(f".{ROLLOUT_FILE}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        temporary.replace(path)
    finally:
        os.close(descriptor)  # releases the lock


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def record(state: dict[str, Any], action: str, version: str, percent: float, reason: str, by: str) -> None:
    entry = {"action": action, "version": version, "percent": percent, "at": now(), "by": by, "reason": reason}
    state["history"].append(entry)


def require_percent(percent: float) -> float:
    if not 0 < percent <= 100:
        raise RolloutError(f"a rollout share is a percentage above 0 and at most 100, not {percent:g}")
    return float(percent)


def first_percent(config: ProjectConfig, environ: Mapping[str, str] = os.environ) -> float:
    """The first share: $ROLLOUT_FIRST_PERCENT when set, else `rollout.first_percent` in ml-project.yaml."""
    text = environ.get(FIRST_PERCENT_ENV, "").strip()
    if not text:
        return config.rollout.first_percent
    try:
        return require_percent(float(text))
    except ValueError:
        raise RolloutError(f"{FIRST_PERCENT_ENV}={text!r} is not a number") from None


def active(state: dict[str, Any], action: str) -> Rollout:
    """The running rollout; raises naming the latest one's status when none runs."""
    current = state["current"]
    if current is None or current["status"] != "active":
        latest = "no rollout yet" if current is None else Rollout.from_json(current).describe()
        raise RolloutError(f"cannot {action}: no rollout is running ({latest}); `rollout start VERSION` starts one")
    return Rollout.from_json(current)


def start(registry: Registry, version: str, percent: float, config: ProjectConfig, reason: str, by: str) -> str:
    """Send `percent` of requests to `version`, if it could be promoted (contract and gate, as `promote`)."""
    require_percent(percent)
    require_registered(registry, version)
    baseline = registry.require_promoted()
    if version == baseline:
        raise RolloutError(f"{version} is the promoted version already: nothing to roll out")
    require_current_contract(registry, version, "rolling out")
    decision = gate_decision(registry, version, config)
    if not decision.passed:
        raise GateFailedError(f"not rolling out {version}: {decision.explain()}")
    with locked_state(registry) as state:
        current = state["current"]
        if current is not None and current["status"] == "active":
            raise RolloutError(
                f"a rollout of {current['candidate']} is running: `rollout abort` or `rollout promote` it first"
            )
        # To the microsecond: it tells a rollout from the next one of the same candidate (see `abort`, `canary`).
        started_at = datetime.now(UTC).isoformat(timespec="microseconds")
        rollout = Rollout(version, baseline, percent, "active", started_at, Thresholds.from_config(config))
        state["current"] = rollout.to_json()
        record(state, "start", version, percent, reason, by)
    return f"started rolling out {version}: {percent:g}% of requests (the rest: {baseline}); {decision.explain()}"


def advance(registry: Registry, percent: float, reason: str, by: str) -> str:
    """Raise the running rollout's share."""
    require_percent(percent)
    with locked_state(registry) as state:
        rollout = active(state, "advance")
        if percent <= rollout.percent:
            raise RolloutError(
                f"the rollout of {rollout.candidate} is at {rollout.percent:g}%: advance to more than that "
                "(`rollout abort` sends it no requests)"
            )
        state["current"] = dataclasses.replace(rollout, percent=percent).to_json()
        record(state, "advance", rollout.candidate, percent, reason, by)
    return f"advanced the rollout of {rollout.candidate} from {rollout.percent:g}% to {percent:g}%"


def promote(registry: Registry, config: ProjectConfig, reason: str, by: str) -> str:
    """Move the promotion pointer to the candidate of a rollout at 100%, checking the gate again."""
    with locked_state(registry) as state:
        rollout = active(state, "promote")
        if rollout.percent < 100:
            raise RolloutError(
                f"the rollout of {rollout.candidate} is at {rollout.percent:g}%: `rollout advance --percent 100` "
                "first, and promote once it has served every request for a while"
            )
        require_current_contract(registry, rollout.candidate, "promoting")
        decision = gate_decision(registry, rollout.candidate, config)
        if not decision.passed:
            raise GateFailedError(f"not promoting {rollout.candidate}: {decision.explain()}")
        registry.promote(rollout.candidate, reason=f"rollout completed: {reason}", by=by)
        state["current"] = dataclasses.replace(rollout, status="promoted").to_json()
        record(state, "promote", rollout.candidate, 100.0, reason, by)
    return f"promoted {rollout.candidate} (was {rollout.baseline}); running services keep sending it every request"


def abort(
    registry: Registry, reason: str, by: str, *, candidate: str | None = None, started_at: str | None = None
) -> str:
    """Stop the running rollout: the service sends the candidate no more requests.

    `candidate` and `started_at` (the service's automatic abort passes them) abort only that
    rollout: a worker judging an old one never aborts a newer one.
    """
    with locked_state(registry) as state:
        rollout = active(state, "abort")
        if candidate is not None and (rollout.candidate, rollout.started_at) != (candidate, started_at):
            return f"not aborting: the running rollout ({rollout.describe()}) is not the one judged"
        aborted = {"at": now(), "by": by, "reason": reason}
        state["current"] = dataclasses.replace(rollout, status="aborted", aborted=aborted).to_json()
        record(state, "abort", rollout.candidate, rollout.percent, reason, by)
    return f"aborted the rollout of {rollout.candidate} at {rollout.percent:g}%: {reason}"
