"""The promotion gate: the primary metric must meet the threshold the model owner set.

The decision is written to a file (the readiness report reads it) and a failing gate
stops `dvc repro` with a message naming the metric, its value, the threshold and the owner.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from .config import ProjectConfig
from .errors import ProjectError
from .metrics import METRICS


class GateFailedError(ProjectError):
    """The model missed the promotion gate."""


@dataclass(frozen=True)
class GateDecision:
    metric: str
    value: float
    threshold: float
    higher_is_better: bool
    owner: str
    passed: bool

    def explain(self) -> str:
        """One sentence a reviewer can act on."""
        relation = "at least" if self.higher_is_better else "at most"
        verdict = "passes" if self.passed else "FAILS"
        return (
            f"{self.metric} = {self.value} {verdict} the promotion gate ({relation} {self.threshold}, "
            f"set by model owner {self.owner} in ml-project.yaml)"
        )


def decide(metrics: dict[str, float], config: ProjectConfig) -> GateDecision:
    """Compare the gate metric in `metrics` with the owner's threshold."""
    name = config.gate.metric
    if name not in METRICS:
        raise ProjectError(f"ml-project.yaml gate.metric {name!r} is not a known metric; choose from {sorted(METRICS)}")
    if name not in metrics:
        raise ProjectError(f"metrics file has no {name!r}: add it to evaluate.metrics in params.yaml")
    higher_is_better = METRICS[name].higher_is_better
    value, threshold = float(metrics[name]), config.gate.threshold
    passed = value >= threshold if higher_is_better else value <= threshold
    owner = config.owners.model_owner
    return GateDecision(name, value, threshold, higher_is_better, f"{owner.name} <{owner.email}>", passed)


def gate_file(metrics_path: Path, decision_path: Path, config: ProjectConfig) -> GateDecision:
    """Decide from a metrics file, record the decision, and raise if the gate fails."""
    decision = decide(json.loads(metrics_path.read_text(encoding="utf-8")), config)
    decision_path.write_text(json.dumps(asdict(decision), indent=2) + "\n", encoding="utf-8")
    if not decision.passed:
        raise GateFailedError(f"gate failed: {decision.explain()}")
    return decision
