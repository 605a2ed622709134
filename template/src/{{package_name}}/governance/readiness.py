"""The readiness report: what still stops this project from being production-ready.

Each check reads the project as it is on disk (config, documents, pipeline results, lock,
DVC and CI files) and says PASS, WARN or FAIL with what to do. The project is ready when
nothing FAILs.
"""

from __future__ import annotations

import configparser
import contextlib
import importlib
import json
import re
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config import PROJECT_CONFIG_PATH, ConfigError, ProjectConfig, flatten, load_project_config
from ..core.columns import Role
from ..core.contract import columns_with_role, view_columns
from ..core.errors import ProjectError
from ..registry.artifacts import read_metadata
from ..registry.store import REGISTRY_PATH, Registry
from . import review

PLACEHOLDER_TEXT = "UNASSIGNED"
PLACEHOLDER_DOMAIN = "@example.invalid"
GOVERNANCE_DOCUMENTS = ("docs/OWNERSHIP.md", "docs/MODEL_CARD.md", "docs/RUNBOOK.md", ".github/CODEOWNERS")
CODEOWNERS_PATH = ".github/CODEOWNERS"
# Documents quote config values as `dotted.key = value`, so people see where a value lives.
QUOTED_VALUE = re.compile(r"`([a-z_]+(?:\.[a-z_]+)+) = ([^`]*)`")
CODE_SPAN = re.compile(r"`[^`]*`")
GATE_DECISION_PATH = Path("gate.json")
COMMAND = __package__.partition(".")[0]
CI_WORKFLOW_PATH = Path(".github/workflows/ci.yml")
# DVC's md5 of each sample dataset Shipshape ships, one per problem type (drawn by the template's
# tools/sample_data.py). Kept here, not read from the data, so it still holds once the sample is
# replaced: a model trained on one of these learnt a stand-in, not the team's data.
SAMPLE_DATA_MD5 = frozenset(
    {
        "b896609445642abb55136fd815c8f4ce",  # binary_classification
        "b683d4b48fbdd1119ae54cd8a48e61a4",  # multiclass_classification
        "8620a874cf291b83b00a1d099c70c2a2",  # regression
    }
)


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # PASS, WARN or FAIL
    detail: str
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    checks: list[Check]

    @property
    def ready(self) -> bool:
        return all(check.status != "FAIL" for check in self.checks)


def is_placeholder(value: Any) -> bool:
    return isinstance(value, str) and (value.strip() == PLACEHOLDER_TEXT or value.endswith(PLACEHOLDER_DOMAIN))


def check_placeholders(settings: dict[str, Any]) -> Check:
    placeholders = sorted(key for key, value in settings.items() if is_placeholder(value))
    if placeholders:
        return Check(
            "governance answered",
            "FAIL",
            f"{len(placeholders)} field(s) in ml-project.yaml still hold placeholders",
            placeholders,
        )
    return Check("governance answered", "PASS", "owners, KPI, rollback and data sources are filled in")


def agrees(quoted: str, value: Any) -> bool:
    """Whether a document's quoted text states `value` (numbers compare as numbers)."""
    if isinstance(value, bool) or value is None:
        return quoted.strip() == {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, int | float):
        try:
            return float(quoted) == float(value)
        except ValueError:
            return False
    return quoted.strip() == str(value)


def check_documents(root: Path, settings: dict[str, Any]) -> Check:
    problems = []
    for name in GOVERNANCE_DOCUMENTS:
        path = root / name
        if not path.is_file():
            problems.append(f"{name}: missing")
            continue
        for key, quoted in QUOTED_VALUE.findall(path.read_text(encoding="utf-8")):
            if key not in settings:
                problems.append(f"{name}: quotes `{key}`, which ml-project.yaml does not have")
            elif not agrees(quoted, settings[key]):
                problems.append(f"{name}: says {key} = {quoted}, ml-project.yaml says {settings[key]!r}")
    owner_email = settings.get("owners.model_owner.email", "")
    codeowners = root / CODEOWNERS_PATH
    if codeowners.is_file() and owner_email not in codeowners.read_text(encoding="utf-8").split():
        problems.append(f"{CODEOWNERS_PATH}: does not name the model owner {owner_email}")
    if problems:
        return Check("documents agree with config", "FAIL", "update the documents or ml-project.yaml", problems)
    return Check("documents agree with config", "PASS", "every quoted value matches ml-project.yaml")


def check_gate(root: Path) -> Check:
    path = root / GATE_DECISION_PATH
    if not path.is_file():
        return Check("promotion gate", "FAIL", "the gate has not run: `uv run dvc repro`")
    decision = json.loads(path.read_text(encoding="utf-8"))
    status = "PASS" if decision["passed"] else "FAIL"
    relation = ">=" if decision["higher_is_better"] else "<="
    detail = f"{decision['metric']} = {decision['value']} (needs {relation} {decision['threshold']})"
    return Check("promotion gate", status, detail)


def check_training_data(root: Path) -> Check:
    """The promoted model must not have been trained on the bundled sample (its lineage has the data's hash)."""
    registry = Registry(root / REGISTRY_PATH)  # where the pipeline's register stage promotes
    version = registry.promoted_version()
    if version is None:
        return Check("trained on your data", "FAIL", "no promoted model: `uv run dvc repro`")
    data = read_metadata(registry.model_path(version)).get("data", {})
    md5 = data.get("md5", data.get("dvc_md5"))  # the bytes read; models trained before the validate stage hashed
    if md5 in SAMPLE_DATA_MD5:  # them recorded only their pointer's md5
        return Check(
            "trained on your data",
            "FAIL",
            f"promoted model {version} was trained on the bundled sample {data.get('path')}, a stand-in: "
            "put your data where params.yaml `data.raw` says, `uv run dvc add` it, then `uv run dvc repro`",
        )
    if data.get("dvc_md5") is None:
        return Check(
            "trained on your data",
            "WARN",
            f"promoted model {version} was trained on {data.get('path')} (md5 {md5}), which DVC does not version, "
            "so nobody can restore the exact bytes: `uv run dvc add` it, then `uv run dvc repro`",
        )
    return Check("trained on your data", "PASS", f"promoted model {version} was trained on {data.get('path')}")


def check_personal_data(config: ProjectConfig) -> Check:
    """The contract's personal columns and the answer `data.contains_personal_data` must tell the same story.

    Either way round a disagreement fails: personal columns under a `false` answer mean retention
    and the governance documents were set up for data without personal values; a `true` answer with
    no personal column means redaction has nothing to redact, so the personal values sit in the logs
    in the clear.
    """
    personal = [column.name for column in columns_with_role(Role.PERSONAL)]
    answer = config.data.contains_personal_data
    if personal and not answer:
        return Check(
            "personal data declared",
            "FAIL",
            "contract.py marks personal columns, but ml-project.yaml says data.contains_personal_data: false: "
            "set it to true (and data.prediction_log_retention_days), or give those columns another role",
            [f"{name}: Role.PERSONAL" for name in personal],
        )
    if answer and not personal:
        return Check(
            "personal data declared",
            "FAIL",
            "ml-project.yaml says data.contains_personal_data: true, but contract.py marks no column "
            "Role.PERSONAL, so nothing is redacted: mark the personal columns, or set the answer to false",
        )
    if personal:
        return Check(
            "personal data declared", "PASS", f"personal columns {', '.join(personal)}, as ml-project.yaml says"
        )
    return Check("personal data declared", "PASS", "no personal columns, as ml-project.yaml says")


def check_lock(root: Path) -> Check:
    command = ["uv", "lock", "--check"]
    try:
        result = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=120)  # noqa: S603
    except FileNotFoundError:
        return Check("lock fresh", "FAIL", "uv is not installed, so the lock cannot be checked")
    if result.returncode != 0:
        detail = "uv.lock is out of date with pyproject.toml: run `uv lock`"
        return Check("lock fresh", "FAIL", detail, [result.stderr.strip()])
    return Check("lock fresh", "PASS", "uv.lock matches pyproject.toml")


def check_dvc_remote(root: Path) -> Check:
    parser = configparser.ConfigParser()
    parser.read(root / ".dvc" / "config")
    remote = parser.get("core", "remote", fallback=None)
    url = parser.get(f"'remote \"{remote}\"'", "url", fallback=None) if remote else None
    if not url:
        return Check("data remote", "FAIL", "no default DVC remote: `uv run dvc remote add -d <name> <url>`")
    if "://" not in url:
        return Check("data remote", "WARN", f"default remote {remote!r} is a local folder ({url}); share it for a team")
    return Check("data remote", "PASS", f"default remote {remote!r} at {url}")


def check_monitoring(config: ProjectConfig) -> Check:
    monitoring, retraining = config.monitoring, config.retraining
    problems = []
    if monitoring.drift_threshold > 1:
        problems.append(f"monitoring.drift_threshold {monitoring.drift_threshold} is above 1: no drift would alert")
    if retraining.trigger in ("schedule", "both") and not retraining.schedule:
        problems.append(f"retraining.trigger is {retraining.trigger!r} but retraining.schedule is empty")
    if problems:
        return Check("monitoring and retraining", "FAIL", "thresholds or schedule unusable", problems)
    detail = f"drift threshold {monitoring.drift_threshold} over windows of {monitoring.min_window}+ rows"
    return Check("monitoring and retraining", "PASS", f"{detail}; retraining on {retraining.trigger}")


def check_ci(root: Path) -> Check:
    if (root / CI_WORKFLOW_PATH).is_file():
        return Check("CI workflow", "PASS", f"{CI_WORKFLOW_PATH} runs lint, tests and the pipeline")
    return Check("CI workflow", "FAIL", f"{CI_WORKFLOW_PATH} is missing")


def check_online_store(root: Path, now: datetime | None = None) -> Check:
    """Feature-store projects: every view materialized into the online store, none longer ago than its ttl.

    Feast (seconds to import) is imported only here, and only when `feature_views.py` declares views.
    """
    online = importlib.import_module("..featurestore.online", __package__)
    store_module = importlib.import_module("..featurestore.store", __package__)
    name = "online features fresh"
    try:
        with contextlib.chdir(root):  # the store's paths are relative to the project, as the service reads them
            store = store_module.open_store(store_module.FEATURE_REPO)
            registry = online.registry_file(store)
            if registry is not None and not registry.is_file():
                return Check(
                    name, "FAIL", f"never materialized: no registry at {registry}: run `{COMMAND} materialize`"
                )
            problems = online.materialization_problems(store, now=now or datetime.now(UTC))
            location = online.store_location(store, store_module.FEATURE_REPO)
    except ProjectError as error:
        return Check(name, "FAIL", str(error))
    if problems:
        return Check(name, "FAIL", f"the online store {location} is not fresh enough to serve", problems)
    return Check(name, "PASS", f"every feature view materialized into {location} within its ttl")


def check_fairness(root: Path) -> Check:
    """The fairness report exists and its gate passed; without a sensitive column there is nothing to compare."""
    path = root / review.REPORTS_DIR / "fairness.json"
    if not path.is_file():
        return Check("fairness report", "FAIL", f"{path.relative_to(root)} is missing: run `uv run dvc repro`")
    fairness = json.loads(path.read_text(encoding="utf-8"))
    if not fairness["passed"]:
        detail = f"a group's metric is below {fairness['min_ratio']} of another's: see the failures"
        return Check("fairness report", "FAIL", detail, list(fairness["failures"]))
    if not fairness["attributes"]:
        detail = "no column is marked sensitive, so no groups were compared: mark protected attributes in contract.py"
        return Check("fairness report", "WARN", detail)
    compared = ", ".join(fairness["attributes"])
    if fairness.get("warnings"):  # below the ratio, but a gap the stage's test cannot tell from noise
        detail = f"ratios below {fairness['min_ratio']} across {compared}, not significant: for the reviewer to weigh"
        return Check("fairness report", "WARN", detail, list(fairness["warnings"]))
    return Check("fairness report", "PASS", f"every ratio across {compared} is at least {fairness['min_ratio']}")


def check_explanations(root: Path) -> Check:
    path = root / review.REPORTS_DIR / "explanations.json"
    if not path.is_file():
        return Check("global explanations", "FAIL", f"{path.relative_to(root)} is missing: run `uv run dvc repro`")
    contributions = json.loads(path.read_text(encoding="utf-8"))["mean_abs_contribution"]
    if not contributions:
        detail = f"{path.relative_to(root)} explains no input: run `uv run dvc repro`"
        return Check("global explanations", "FAIL", detail)
    top = ", ".join(list(contributions)[:3])
    return Check("global explanations", "PASS", f"{len(contributions)} inputs explained; the largest: {top}")


def check_model_card(root: Path) -> Check:
    """The model card states intended use and limits (the team writes them) and the promoted model has lineage."""
    path = root / review.MODEL_CARD_PATH
    card = path.read_text(encoding="utf-8") if path.is_file() else ""
    problems = []
    for title in review.TEAM_SECTIONS:
        text = review.card_section(card, title)
        if not text:
            problems.append(f"{review.MODEL_CARD_PATH}: add a `## {title}` section")
        elif review.PLACEHOLDER in CODE_SPAN.sub("", text):  # quoted config values are the placeholder check's
            problems.append(f"{review.MODEL_CARD_PATH}: `## {title}` still says {review.PLACEHOLDER}: write it")
    version = Registry(root / REGISTRY_PATH).promoted_version()
    if version is None:
        problems.append("no promoted model, so no evaluation data lineage: `uv run dvc repro`")
    else:
        data = read_metadata(Registry(root / REGISTRY_PATH).model_path(version)).get("data", {})
        if not data.get("md5"):
            problems.append(f"model {version} records no hash of the data it was trained on: `uv run dvc repro`")
    if problems:
        return Check("model card", "FAIL", "a reviewer needs intended use, limits and the data's lineage", problems)
    return Check("model card", "PASS", f"intended use and limits written; model {version} has its data's lineage")


def check_reviewer(config: ProjectConfig) -> Check:
    reviewer = config.review.reviewer.strip()
    if not reviewer or is_placeholder(reviewer):
        return Check("reviewer named", "FAIL", "name who reviews the model: review.reviewer in ml-project.yaml")
    return Check("reviewer named", "PASS", f"review.reviewer is {reviewer}")


def check_review_bundle(root: Path, config: ProjectConfig) -> Check:
    """The promoted version's review bundle is written, still describes the project, and was signed off."""
    version = Registry(root / REGISTRY_PATH).promoted_version()
    if version is None:
        return Check("review signed off", "FAIL", "no promoted model to review: `uv run dvc repro`")
    problems = review.bundle_problems(root, version)
    if problems:
        detail = f"the review bundle of version {version} is missing or stale"
        return Check("review signed off", "FAIL", detail, problems)
    approved = config.review.approved_version
    if approved != version:
        return Check(
            "review signed off",
            "FAIL",
            f"review.approved_version is {approved or 'empty'}, the promoted version is {version}: once the "
            f"reviewer has read {review.REVIEW_DIR / version / 'index.html'}, set review.approved_version: {version}",
        )
    return Check("review signed off", "PASS", f"{config.review.reviewer} signed off version {version}")


def review_checks(root: Path, config: ProjectConfig) -> list[Check]:
    """What a regulatory review needs, when ml-project.yaml says one is required; nothing otherwise."""
    if not config.data.regulatory_review_required:
        return []
    return [
        check_fairness(root),
        check_explanations(root),
        check_model_card(root),
        check_reviewer(config),
        check_review_bundle(root, config),
    ]


def assess(root: Path) -> Report:
    """Run every check against the project at `root`."""
    try:
        config = load_project_config(root / PROJECT_CONFIG_PATH)
    except ConfigError as error:
        return Report([Check("config valid", "FAIL", str(error))])
    settings = flatten(config.model_dump(mode="json"))
    feature_store = [check_online_store(root)] if view_columns() else []
    return Report(
        [
            check_placeholders(settings),
            check_documents(root, settings),
            check_gate(root),
            check_training_data(root),
            check_personal_data(config),
            check_lock(root),
            check_dvc_remote(root),
            check_monitoring(config),
            check_ci(root),
            *feature_store,
            *review_checks(root, config),
        ]
    )


def render_table(report: Report) -> str:
    """The report as a plain-text table, problems indented under their check."""
    width = max(len(check.name) for check in report.checks)
    indent = " " * (6 + width + 2)
    lines = []
    for check in report.checks:
        lines.append(f"{check.status.ljust(4)}  {check.name.ljust(width)}  {check.detail}")
        lines += [f"{indent}- {problem}" for problem in check.problems]
    return "\n".join(lines)


def render_json(report: Report) -> str:
    return json.dumps({"ready": report.ready, "checks": [asdict(check) for check in report.checks]}, indent=2)
