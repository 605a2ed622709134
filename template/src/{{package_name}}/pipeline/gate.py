"""The promotion gate: the primary metric must meet the model owner's threshold and must not
fall behind the last promoted version of the same data contract by more than the tolerance;
and across the groups of every sensitive column, no metric of the fairness report
(`pipeline.fairness`) may fall below ml-project.yaml `fairness.min_ratio` of another group's.

Metrics of models trained on different contracts (other columns, another target) measure
different things: after a contract change no promoted version is comparable, the decision
says so, and the owner's threshold alone decides.

The decision is written to a file (the register stage and the readiness report read it) and
a failing gate stops `dvc repro` with a message naming the metric, its value, the threshold,
the promoted version's value and the owner.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..config import ProjectConfig
from ..core.errors import ProjectError
from ..core.metrics import METRICS
from ..registry.contracts import describe, differences, recorded_contract, version_contract
from ..registry.store import Registry
from .fairness import disparity_findings


class GateFailedError(ProjectError):
    """The model missed the promotion gate."""


@dataclass(frozen=True)
class Baseline:
    """The promoted version a candidate is compared with, and the worst value it may reach."""

    version: str
    value: float
    floor: float


@dataclass(frozen=True)
class GateDecision:
    metric: str
    value: float
    threshold: float
    higher_is_better: bool
    owner: str
    baseline: Baseline | None
    no_baseline: str | None = None  # why no promoted version is compared, when some exists
    # The fairness report's ratios below fairness.min_ratio, one sentence each, and the columns it
    # compared ("" for none); `fairness_compared` is None when no report was given (the versions
    # registered before there was one).
    fairness_failures: tuple[str, ...] = ()
    fairness_compared: str | None = None
    fairness_min_ratio: float | None = None

    @property
    def meets_threshold(self) -> bool:
        return self.value >= self.threshold if self.higher_is_better else self.value <= self.threshold

    @property
    def keeps_up_with_promoted(self) -> bool:
        if self.baseline is None:
            return True
        floor = self.baseline.floor
        return self.value >= floor if self.higher_is_better else self.value <= floor

    @property
    def passed(self) -> bool:
        return self.meets_threshold and self.keeps_up_with_promoted and not self.fairness_failures

    def explain(self) -> str:
        """One or two sentences a reviewer can act on."""
        relation = "at least" if self.higher_is_better else "at most"
        # The metric's own verdict: a fairness failure is stated after it, not blamed on the metric.
        verdict = "passes" if self.meets_threshold and self.keeps_up_with_promoted else "FAILS"
        sentence = (
            f"{self.metric} = {self.value} {verdict} the promotion gate ({relation} {self.threshold}, "
            f"set by model owner {self.owner} in ml-project.yaml)"
        )
        if self.baseline is not None:
            outcome = "keeps up with" if self.keeps_up_with_promoted else "REGRESSES from"
            sentence += (
                f"; it {outcome} promoted version {self.baseline.version} ({self.metric} = {self.baseline.value}, "
                f"tolerance allows {relation} {self.baseline.floor})"
            )
        elif self.no_baseline is not None:
            sentence += f"; {self.no_baseline}"
        return sentence + self.explain_fairness()

    def explain_fairness(self) -> str:
        """The fairness part of the explanation: every failing ratio, or what passed; empty without a report."""
        if self.fairness_compared is None:
            return ""
        rule = f"ml-project.yaml fairness.min_ratio {self.fairness_min_ratio}"
        if self.fairness_failures:
            return f"; fairness FAILS ({rule}): " + "; ".join(self.fairness_failures)
        if not self.fairness_compared:
            return "; fairness: no column is marked sensitive, so no groups were compared"
        below = f"no ratio significantly below {self.fairness_min_ratio}"
        return f"; fairness across {self.fairness_compared} passes ({below})"


def comparable_version(
    registry: Registry, candidate_version: str | None, candidate_contract: dict[str, Any]
) -> tuple[str | None, str | None]:
    """The last promoted version trained on the candidate's contract, or None and why none is compared.

    The promoted version when it shares the contract; after a contract change, the most recent
    earlier promotion that does; none when no promoted version was trained on it.
    """
    promoted = registry.promoted_version()
    if promoted is None or promoted == candidate_version:
        return None, None
    registered = set(registry.versions())
    for entry in reversed(registry.history()):
        version = entry["version"]
        if version == candidate_version or version not in registered:
            continue
        if not differences(version_contract(registry, version), candidate_contract):
            return version, None
    found = differences(version_contract(registry, promoted), candidate_contract)
    return None, (
        f"no promoted version is comparable: none was trained on the candidate's {describe(candidate_contract)} "
        f"(promoted {promoted} differs: {'; '.join(found)}), so the owner's threshold alone decides"
    )


def baseline(registry: Registry, version: str, metric: str, tolerance: float) -> Baseline:
    """A promoted version's score and the worst a candidate may do."""
    value = float(registry.metrics(version)[metric])
    higher_is_better = METRICS[metric].higher_is_better
    allowance = tolerance * abs(value)
    floor = value - allowance if higher_is_better else value + allowance
    return Baseline(version, value, round(floor, 6))


def decide(
    metrics: dict[str, float | None],
    config: ProjectConfig,
    registry: Registry,
    candidate_version: str | None = None,
    candidate_contract: dict[str, Any] | None = None,
    fairness: dict[str, Any] | None = None,
) -> GateDecision:
    """Compare the gate metric in `metrics` with the owner's threshold and the last comparable promoted version,
    and the fairness report's ratios with the owner's `fairness.min_ratio`.

    `candidate_contract` is the contract the candidate recorded (`contracts.recorded_contract`);
    without one, every promoted version counts as comparable, as before contracts were recorded.
    `fairness` is the candidate's reports/fairness.json; without one, fairness is not judged.
    """
    name = config.gate.metric
    if name not in METRICS:
        raise ProjectError(f"ml-project.yaml gate.metric {name!r} is not a known metric; choose from {sorted(METRICS)}")
    if name not in metrics:
        raise ProjectError(f"metrics file has no {name!r}: add it to evaluate.metrics in params.yaml")
    if metrics[name] is None:
        raise ProjectError(
            f"{name} is undefined on the test rows (e.g. only one class is present): "
            "the gate cannot judge this model; check the split and the data"
        )
    owner = config.owners.model_owner
    compared, no_baseline = comparable_version(registry, candidate_version, candidate_contract or {})
    return GateDecision(
        metric=name,
        value=float(metrics[name]),
        threshold=config.gate.threshold,
        higher_is_better=METRICS[name].higher_is_better,
        owner=f"{owner.name} <{owner.email}>",
        baseline=baseline(registry, compared, name, config.gate.regression_tolerance) if compared else None,
        no_baseline=no_baseline,
        **fairness_judgement(fairness, config),
    )


def fairness_judgement(fairness: dict[str, Any] | None, config: ProjectConfig) -> dict[str, Any]:
    """The decision's fairness fields: the report's ratios judged against the owner's current settings."""
    if fairness is None:
        return {}
    settings = config.fairness
    failures, _ = disparity_findings(fairness["attributes"], settings.min_ratio, settings.significance_level)
    return {
        "fairness_failures": tuple(failures),
        "fairness_compared": ", ".join(fairness["attributes"]),
        "fairness_min_ratio": settings.min_ratio,
    }


def gate_file(
    metrics_path: Path,
    decision_path: Path,
    config: ProjectConfig,
    registry: Registry,
    candidate: dict[str, Any],
    fairness_path: Path | None = None,
) -> GateDecision:
    """Decide from a metrics file, the fairness report and the candidate's metadata, record the decision,
    and raise if the gate fails."""
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    fairness = None
    if fairness_path is not None:
        if not fairness_path.is_file():
            raise ProjectError(f"{fairness_path} not found: run the fairness stage first (`uv run dvc repro`)")
        fairness = json.loads(fairness_path.read_text(encoding="utf-8"))
    decision = decide(metrics, config, registry, candidate["version"], recorded_contract(candidate), fairness)
    record = {**asdict(decision), "passed": decision.passed, "explanation": decision.explain()}
    decision_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    if not decision.passed:
        raise GateFailedError(f"gate failed: {decision.explain()}")
    return decision
