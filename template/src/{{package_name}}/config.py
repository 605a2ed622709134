"""Typed access to the two files that steer the project.

`ml-project.yaml` holds what the project is (problem type, and later the owner's gates and
budgets); `params.yaml` holds the pipeline's tunable parameters, tracked by DVC. Both are
read from the working directory: the project root in development, the Bento in serving.

Both files belong to the team and `copier update` never rewrites them, so a file written by an
earlier release must still load: every key added after the first release has a default here
(see `tests/test_config.py`, which loads both files as that release wrote them).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .core.errors import ProjectError

PROJECT_CONFIG_PATH = Path("ml-project.yaml")
PARAMS_PATH = Path("params.yaml")


class ConfigError(ProjectError):
    """A configuration file is missing or holds an invalid value."""


class ProblemType(enum.StrEnum):
    BINARY_CLASSIFICATION = "binary_classification"
    MULTICLASS_CLASSIFICATION = "multiclass_classification"
    REGRESSION = "regression"

    @property
    def is_classification(self) -> bool:
        return self is not ProblemType.REGRESSION


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Person(_Strict):
    name: str = Field(min_length=1)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Owners(_Strict):
    model_owner: Person
    business_owner: str = Field(min_length=1)
    on_call: str = Field(min_length=1)


class Kpi(_Strict):
    name: str = Field(min_length=1)
    measurement: str = Field(min_length=1)
    target: str = Field(min_length=1)
    baseline: str = Field(min_length=1)
    pilot_exit_criteria: str = Field(min_length=1)


class Gate(_Strict):
    metric: str = Field(min_length=1)
    threshold: float = Field(allow_inf_nan=False)
    # How much worse than the promoted version a candidate may be, as a fraction of its score.
    regression_tolerance: float = Field(default=0.02, ge=0, le=1)


class Decision(_Strict):
    false_negative_cost: float = Field(gt=0)


class ServiceSettings(_Strict):
    latency_budget_ms: int = Field(gt=0)
    peak_throughput_rps: int = Field(gt=0)
    fallback: Literal["error", "rule_based", "last_good"]
    # What `rule_based` fallback answers: a class label or a value of the target.
    fallback_prediction: int | float | str | None = None
    api_key_auth: bool = False
    max_batch_rows: int = Field(default=256, ge=1, le=100_000)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # BentoML's OpenTelemetry spans for each request. Off, no request opens one: BentoML opens
    # them even when nothing exports them, at a third of a small request's CPU. Turn on once
    # BentoML's configuration names an exporter (`tracing` in its config file).
    trace_requests: bool = False


class Monitoring(_Strict):
    drift_threshold: float = Field(gt=0)
    min_window: int = Field(ge=30)
    # Family-wise false-alarm bound: the chance that a check of same-distribution data flags
    # any feature at all (p-values are Holm-corrected across every test of one run).
    significance: float = Field(default=0.01, gt=0, lt=0.5)
    # How far back `monitor` reads the prediction log: long enough to collect `min_window` rows.
    window_hours: int = Field(default=168, gt=0)
    # Share of rows breaking the data contract above which `monitor` alerts.
    max_violation_rate: float = Field(default=0.01, ge=0, le=1)
    # `evidently`: `monitor` also writes Evidently's drift report (needs the `evidently` uv group).
    report: Literal["builtin", "evidently"] = "builtin"


class Retraining(_Strict):
    trigger: Literal["schedule", "drift", "both"]
    schedule: str | None


class Rollback(_Strict):
    approver: str = Field(min_length=1)
    target_minutes: int = Field(gt=0)


class RolloutSettings(_Strict):
    """Canary rollouts (`<package> rollout`): the first share, and when the service aborts one on its own."""

    first_percent: float = Field(default=5.0, gt=0, le=100)  # $ROLLOUT_FIRST_PERCENT overrides it
    # No trigger is judged before the candidate answered this many rows: a few requests prove nothing.
    min_requests: int = Field(default=200, ge=10)
    max_error_rate: float = Field(default=0.01, ge=0, lt=1)
    # The candidate's p99 prediction time may use this share of service.latency_budget_ms.
    latency_budget_share: float = Field(default=1.0, gt=0)
    # PSI of the candidate's predictions against the promoted model's over the same requests window.
    max_prediction_psi: float = Field(default=0.2, gt=0)


class DataGovernance(_Strict):
    sources: str = Field(min_length=1)
    contains_personal_data: bool
    # Written by releases up to 0.1.0 and accepted for them; no longer read: personal columns are always redacted.
    redact_personal_data_in_logs: bool | None = None
    prediction_log_retention_days: int | None = Field(gt=0)
    regulatory_review_required: bool


class Review(_Strict):
    """Regulatory review (`data.regulatory_review_required`): who reviews, and what they signed off."""

    # Name and role of the person who reads the review bundle and answers for the sign-off.
    reviewer: str = ""
    # The model version the reviewer signed off after reading its bundle: a retrained model is a
    # new version, so it needs a new sign-off before `readiness` passes again.
    approved_version: str | None = None


class Fairness(_Strict):
    """The fairness gate: how far apart the model's outcomes across a sensitive column's groups may be."""

    # Smallest group value / largest, per metric (`pipeline.fairness`); 0.8 is the four-fifths rule.
    min_ratio: float = Field(default=0.8, gt=0, le=1)
    # A ratio below min_ratio fails when its groups' gap is significant at this level; else a warning.
    significance_level: float = Field(default=0.05, gt=0, le=1)


class FeatureStoreSettings(_Strict):
    """Feature-store projects: how the service answers a row whose entity the online store does not know."""

    # reject: a 422 naming the entity field; fallback: `service.fallback_prediction`, flagged.
    unknown_entity: Literal["reject", "fallback"] = "reject"


class ProjectConfig(_Strict):
    """Everything `ml-project.yaml` holds: identity, owners, gates, budgets and policies."""

    problem_type: ProblemType
    owners: Owners
    kpi: Kpi
    gate: Gate
    decision: Decision | None = None
    service: ServiceSettings
    monitoring: Monitoring
    retraining: Retraining
    rollback: Rollback
    rollout: RolloutSettings = RolloutSettings()
    data: DataGovernance
    review: Review = Review()
    feature_store: FeatureStoreSettings = FeatureStoreSettings()
    fairness: Fairness = Fairness()


# Where the raw data lived before params.yaml named it (releases before 0.2.0): what an older
# params.yaml without `data` means.
FIRST_RAW_DATA_PATH = "data/raw/customers.csv"


class DataParams(_Strict):
    # The raw data file every stage starts from; dvc.yaml reads it as ${data.raw}.
    raw: str = Field(default=FIRST_RAW_DATA_PATH, min_length=1)


class SplitParams(_Strict):
    strategy: Literal["random", "time"] = "random"
    test_size: float = Field(gt=0, lt=1)
    stratify: bool
    seed: int


class TrainParams(_Strict):
    seed: int
    # Binary models with a decision cost: the share of training rows held out of the fit to choose
    # the decision threshold on.
    threshold_holdout: float = Field(default=0.2, gt=0, lt=1)
    # Keyword arguments of the estimator; it validates them itself when training starts.
    estimator: dict[str, Any] = Field(default_factory=dict)


class EvaluateParams(_Strict):
    metrics: list[str] = Field(min_length=1)
    permutation_repeats: int = Field(default=5, ge=1)
    # Permutation importance shuffles a random sample of at most this many test rows: its cost
    # grows with rows x features x repeats, and the ranking settles long before a million rows.
    importance_rows: int = Field(default=10_000, ge=100)
    seed: int = 42


class ExplainParams(_Strict):
    # The explain stage's mean |contribution| per column is taken over a seeded random sample of at
    # most this many test rows: SHAP's cost grows with rows, and the ranking settles within hundreds.
    rows: int = Field(default=500, ge=1)
    seed: int = 42


class FairnessParams(_Strict):
    # A group with fewer rows than this behind a metric (all its rows; its actual positives for the
    # true positive rate, its actual negatives for the false positive rate) is reported, not gated:
    # on so few rows sampling noise alone moves a ratio past the threshold.
    min_group_rows: int = Field(default=50, ge=1)


class TrackingParams(_Strict):
    backend: Literal["none", "mlflow"] = "none"
    uri: str = "mlruns"
    experiment: str = Field(default="default", min_length=1)


class ComputeParams(_Strict):
    """Where the stages and batch scoring run: in their own process (`local`), or on a Dask cluster (`dask`)."""

    engine: Literal["local", "dask"] = "local"
    # The local cluster a stage starts when DASK_SCHEDULER_ADDRESS names no running one. How many
    # workers train, and how rows are partitioned, change what lightgbm.dask learns.
    workers: int = Field(default=2, ge=1)
    threads_per_worker: int = Field(default=1, ge=1)
    memory_limit: str = "2GiB"  # per worker; Dask spills to disk beyond ~60% of it
    processes: bool = False  # worker threads in the stage's process: on one machine, half the time of processes
    # A partition is about this much of the raw file, and there is at least one per worker.
    blocksize: str = "64MiB"
    connect_timeout_seconds: int = Field(default=10, gt=0)


class FeatureStoreParams(_Strict):
    """Feature-store projects: the training join's tolerance for rows the views have no history for."""

    # The join re-attaches such rows with missing view values; more than this share fails the stage.
    max_missing_share: float = Field(default=0.1, ge=0, le=1)


class Params(_Strict):
    data: DataParams = DataParams()
    split: SplitParams
    train: TrainParams
    evaluate: EvaluateParams
    explain: ExplainParams = ExplainParams()
    fairness: FairnessParams = FairnessParams()
    tracking: TrackingParams = TrackingParams()
    compute: ComputeParams = ComputeParams()
    feature_store: FeatureStoreParams = FeatureStoreParams()


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Every leaf of a nested mapping under its dotted key: `a: {b: 1}` gives `a.b` = 1."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    leaves: dict[str, Any] = {}
    for key, value in tree.items():
        leaves.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return leaves


def _load_yaml(path: Path) -> Any:
    if not path.is_file():
        raise ConfigError(f"{path} not found: run from the project root (where {path.name} lives)")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None


@contextmanager
def _reported(path: Path) -> Iterator[None]:
    """Turn validation errors into one `ConfigError` naming the file and each field."""
    try:
        yield
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or '<file>'}: {issue['msg']}" for issue in error.errors()
        )
        raise ConfigError(f"{path}: {problems}") from None


def load_project_config(path: Path = PROJECT_CONFIG_PATH) -> ProjectConfig:
    """Read `ml-project.yaml`, failing with the file and field at fault."""
    with _reported(path):
        return ProjectConfig.model_validate(_load_yaml(path))


def load_params(path: Path = PARAMS_PATH) -> Params:
    """Read `params.yaml`, failing with the file and field at fault."""
    with _reported(path):
        return Params.model_validate(_load_yaml(path))
