"""The promotion gate: the primary metric must meet the model owner's threshold and must not
fall behind the promoted version by more than the tolerance.

The decision is written to a file (the register stage and the readiness report read it) and
a failing gate stops `dvc repro` with a message naming the metric, its value, the threshold,
the promoted version's value and the owner.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..config import ProjectConfig
from ..core.errors import ProjectError
from ..core.metrics import METRICS
from ..registry.store import Registry


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
        return self.meets_threshold and self.keeps_up_with_promoted

    def explain(self) -> str:
        """One or two sentences a reviewer can act on."""
        relation = "at least" if self.higher_is_better else "at most"
        verdict = "passes" if self.passed else "FAILS"
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
        return sentence


def baseline(registry: Registry, candidate_version: str | None, metric: str, tolerance: float) -> Baseline | None:
    """The promoted version's score and the worst a candidate may do; None if there is nothing to compare."""
    promoted = registry.promoted_version()
    if promoted is None or promoted == candidate_version:
        return None
    value = float(registry.metrics(promoted)[metric])
    higher_is_better = METRICS[metric].higher_is_better
    allowance = tolerance * abs(value)
    floor = value - allowance if higher_is_better else value + allowance
    return Baseline(promoted, value, round(floor, 6))


def decide(
    metrics: dict[str, float | None], config: ProjectConfig, registry: Registry, candidate_version: str | None = None
) -> GateDecision:
    """Compare the gate metric in `metrics` with the owner's threshold and the promoted version."""
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
    return GateDecision(
        metric=name,
        value=float(metrics[name]),
        threshold=config.gate.threshold,
        higher_is_better=METRICS[name].higher_is_better,
        owner=f"{owner.name} <{owner.email}>",
        baseline=baseline(registry, candidate_version, name, config.gate.regression_tolerance),
    )


def gate_file(
    metrics_path: Path, decision_path: Path, config: ProjectConfig, registry: Registry, candidate_version: str | None
) -> GateDecision:
    """Decide from a metrics file, record the decision, and raise if the gate fails."""
    decision = decide(json.loads(metrics_path.read_text(encoding="utf-8")), config, registry, candidate_version)
    record = {**asdict(decision), "passed": decision.passed, "explanation": decision.explain()}
    decision_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    if not decision.passed:
        raise GateFailedError(f"gate failed: {decision.explain()}")
    return decision
