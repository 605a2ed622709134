"""Operations on registered model versions: list them, promote one, roll back to the previous one.

Promoting and rolling back only move the registry's pointer (`promoted.json`), recording who,
when and why; the service serves whatever is promoted when it starts. A version must pass the
same gate the pipeline applies, and must have been trained on the project's current data
contract (`contracts`), so no command can put a model the owner would refuse, or one that
cannot read today's rows, in front of users.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

from ..config import ProjectConfig
from ..pipeline.gate import GateDecision, GateFailedError, decide
from .artifacts import read_metadata
from .contracts import ContractMismatchError, describe, mismatch, recorded_contract, version_contract
from .store import Registry, RegistryError

ACTOR_ENV = "GITHUB_ACTOR"  # who triggered a CI run; preferred over the local git identity


@dataclass(frozen=True)
class VersionSummary:
    """One registered version: its offline metrics and where it came from."""

    version: str
    promoted: bool
    metrics: dict[str, Any]
    trained_at: str | None
    contract: str
    data_md5: str | None
    git_commit: str | None
    git_dirty: bool | None


def summarize(registry: Registry) -> list[VersionSummary]:
    """Every registered version, oldest first, with metrics and lineage from its files."""
    promoted = registry.promoted_version()
    summaries = []
    for version in registry.versions():
        lineage = read_metadata(registry.model_path(version))
        git = lineage.get("git") or {}
        summaries.append(
            VersionSummary(
                version=version,
                promoted=version == promoted,
                metrics=registry.metrics(version),
                trained_at=lineage.get("trained_at"),
                contract=describe(recorded_contract(lineage)),
                data_md5=(lineage.get("data") or {}).get("dvc_md5"),
                git_commit=git.get("commit"),
                git_dirty=git.get("dirty"),
            )
        )
    return summaries


def versions_json(registry: Registry) -> str:
    """The versions, the promoted one, the promotion history and the latest canary rollout with its history."""
    from .rollout import current_rollout, rollout_history  # it builds on this module

    latest = current_rollout(registry)
    listing = {
        "promoted": registry.promoted_version(),
        "versions": [dataclasses.asdict(summary) for summary in summarize(registry)],
        "history": registry.history(),
        "rollout": latest.to_json() if latest is not None else None,
        "rollout_history": rollout_history(registry),
    }
    return json.dumps(listing, indent=2)


def versions_table(registry: Registry, gate_metric: str) -> str:
    """A table a person can scan: the promoted version is marked `*`, the gate metric is shown."""
    summaries = summarize(registry)
    if not summaries:
        return f"no versions in {registry.root}: run `uv run dvc repro` (or `uv run dvc pull`)"
    header = ("", "VERSION", gate_metric.upper(), "TRAINED AT", "CONTRACT", "DATA (DVC MD5)", "GIT COMMIT")
    rows = [header, *(table_row(summary, gate_metric) for summary in summaries)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = ("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)
    return "\n".join([*(line.rstrip() for line in lines), *rollout_lines(registry)])


def rollout_lines(registry: Registry) -> list[str]:
    """Below the table: the latest canary rollout and its last steps (who, when, why), if there was one."""
    from .rollout import current_rollout, rollout_history  # it builds on this module

    latest = current_rollout(registry)
    if latest is None:
        return []
    steps = [
        f"  {entry['at']}  {entry['action']:<7}  {entry['percent']:g}%  by {entry['by']}: {entry['reason']}"
        for entry in rollout_history(registry)[-5:]
    ]
    return ["", latest.describe(), *steps]


def table_row(summary: VersionSummary, gate_metric: str) -> tuple[str, ...]:
    commit = (summary.git_commit or "unknown")[:12] + (" (dirty)" if summary.git_dirty else "")
    return (
        "*" if summary.promoted else "",
        summary.version,
        str(summary.metrics.get(gate_metric, "-")),
        summary.trained_at or "unknown",
        summary.contract.removeprefix("contract "),
        (summary.data_md5 or "unknown")[:12],
        commit,
    )


def require_registered(registry: Registry, version: str) -> None:
    """Raise, listing the registered versions, when `version` is not one of them."""
    if version not in registry.versions():
        known = ", ".join(registry.versions()) or "none (run `uv run dvc repro`)"
        raise RegistryError(f"no version {version!r} in {registry.root}; registered versions: {known}")


def gate_decision(registry: Registry, version: str, config: ProjectConfig) -> GateDecision:
    """The pipeline's gate applied to a registered version's recorded metrics."""
    contract = version_contract(registry, version)
    return decide(registry.metrics(version), config, registry, version, contract, registry.fairness(version))


def require_current_contract(registry: Registry, version: str, action: str) -> None:
    """Raise, naming both contracts and what differs, when `version` was trained on another contract."""
    problem = mismatch(version, version_contract(registry, version))
    if problem is not None:
        raise ContractMismatchError(
            f"not {action} {version}: {problem}. A model reads the rows its contract describes: retrain "
            "(`uv run dvc repro`), or restore the contract it was trained on first"
        )


def promote(registry: Registry, version: str, config: ProjectConfig, reason: str, by: str) -> str:
    """Promote `version` if it was trained on the project's contract and passes the gate
    (threshold, and no regression from the last promoted version of that contract)."""
    require_registered(registry, version)
    if version == registry.promoted_version():
        return f"{version} is already the promoted version; nothing changed"
    require_current_contract(registry, version, "promoting")
    decision = gate_decision(registry, version, config)
    if not decision.passed:
        raise GateFailedError(f"not promoting {version}: {decision.explain()}")
    before = registry.promoted_version()
    registry.promote(version, reason=reason, by=by)
    return f"promoted {version} (was {before}): {decision.explain()}; restart the service to serve it"


def rollback(registry: Registry, config: ProjectConfig, reason: str, by: str) -> str:
    """Promote the previously promoted version again.

    Only the owner's threshold and the contract are checked: a rollback moves away from the
    promoted version on purpose, so the gate's comparison with it does not apply; but a version
    trained on another contract than the project's cannot answer its requests, so it is refused.
    """
    current = registry.require_promoted()
    previous = registry.previous_version()
    if previous is None:
        raise RegistryError(
            f"nothing to roll back to: no version promoted before {current} is still registered in {registry.root} "
            f"(registered: {', '.join(registry.versions())}); `promote VERSION` picks one by hand"
        )
    require_current_contract(registry, previous, "rolling back to")
    decision = dataclasses.replace(gate_decision(registry, previous, config), baseline=None, no_baseline=None)
    if not decision.meets_threshold:
        raise GateFailedError(f"not rolling back to {previous}: {decision.explain()}")
    registry.promote(previous, reason=reason, by=by)
    return f"rolled back from {current} to {previous}; restart the service to serve it"


def current_actor() -> str:
    """Who is moving the pointer: the CI actor, else the git identity, else the login name."""
    if actor := os.environ.get(ACTOR_ENV):
        return actor
    git = shutil.which("git")
    if git is not None:
        # Fixed arguments, git resolved from PATH above: nothing here comes from input.
        found = subprocess.run([git, "config", "user.email"], capture_output=True, text=True, check=False)  # noqa: S603
        if found.returncode == 0 and found.stdout.strip():
            return found.stdout.strip()
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        return "unknown"
