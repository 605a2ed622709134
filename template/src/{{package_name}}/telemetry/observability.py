"""Structured logs and prediction metrics, for the service and anything else that logs.

Logs: `configure_logging()` makes every log line one JSON object, `{"timestamp", "level",
"logger", "message", "request_id", …}` plus `exception` and any `extra=` fields. It gives the
JSON formatter to the root logger's handlers, adding one on stdout if there are none. In a
BentoML worker the root handler is BentoML's own, shared with its `bentoml` (access log
included), `uvicorn.error` and `circus` loggers: the worker's whole output becomes JSON
lines, with no handler added or removed. `request_id` is `request_id_var`, which the
service sets per request to `new_request_id(<X-Request-ID header>)`. `LOG_LEVEL` (default
INFO) sets the level of this package's loggers; other libraries keep BentoML's (WARNING).

A client error is not the server's: BentoML logs every rejected request at ERROR with a
traceback, and a pydantic traceback quotes the rejected value (`input_value='…'`), personal
or not. `ClientErrorRecords`, on the same handlers, turns each such record into one WARNING
line naming the fields and error types, without the traceback (no value in either).

Metrics, on BentoML's `/metrics` next to its `bentoml_service_*` ones, under the fixed prefix
`model_` so that dashboards and alerts work unchanged for every project from this template
(Prometheus' `job`/`instance` labels tell projects apart):

- `model_predictions_total{label, fallback, version}`: answers by predicted class (`label` is
  empty for regression), whether the fallback gave them ("true"/"false") and the version that
  gave them (a canary rollout's candidate, or the served one; "rule-based" for the default)
- `model_predicted_value{version}` (histogram): predicted values, regression only; buckets are
  1-2-5 steps over the target's range in the data contract, or `PREDICTED_VALUE_BUCKETS`
  (comma-separated upper bounds) when set
- `model_fallback_answers_total{reason, version}`: fallback answers by `FallbackReason`
- `model_prediction_errors_total{version}`: rows a model failed to predict (a failing canary
  candidate's rows are answered by the promoted model, and counted here under the candidate)
- `model_prediction_seconds{version}` (histogram): time of each prediction call, by version
- `model_rollout_aborts_total{version}`: canary rollouts this worker aborted on its own
- `model_stale_features_total{view}` (feature-store projects): rows answered while a feature
  view's newest online value was older than its ttl, by view

The metrics are created on first use, in the worker: `prometheus_client` picks its
multiprocess mode (which `/metrics` reads) when first imported, from the
`PROMETHEUS_MULTIPROC_DIR` BentoML sets for its workers. BentoML 1.4 deprecates its
`bentoml.metrics` wrapper in favour of `prometheus_client` itself.
"""

from __future__ import annotations

import enum
import json
import logging
import math
import os
import re
import sys
import uuid
from collections import Counter
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import ValidationError

from ..config import ConfigError
from ..contract import TARGET
from ..core.columns import Column
from ..core.requests import describe_errors
from .prediction_log import json_ready

if TYPE_CHECKING:
    import prometheus_client

LOG_LEVEL_ENV = "LOG_LEVEL"
METRIC_PREFIX = "model_"
PREDICTED_VALUE_BUCKETS_ENV = "PREDICTED_VALUE_BUCKETS"
# A prediction call takes milliseconds; the top buckets catch a candidate far over any budget.
PREDICTION_SECONDS_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# An incoming X-Request-ID is kept only if it is this tame: it ends up in every log line.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")

# The attributes every LogRecord has, and those BentoML's log filter adds for its text format;
# anything else on a record came from `extra=` and is logged as a field.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_BENTOML_FORMAT_ATTRIBUTES = frozenset({"levelname_bracketed", "component", "trace_msg", "request_id", "service_name"})


def new_request_id(incoming: str | None = None) -> str:
    """The id of a request: the caller's `X-Request-ID` when it is a sane token, else a new uuid4 hex."""
    if incoming is not None and REQUEST_ID_PATTERN.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp (UTC), level, logger, message, request id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id_var.get(),
        }
        for name, value in vars(record).items():
            if name not in _RECORD_ATTRIBUTES and name not in _BENTOML_FORMAT_ATTRIBUTES:
                entry.setdefault(name, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(json_ready(entry))  # strict JSON: NaN in an extra becomes null


def client_error_status(error: BaseException) -> int | None:
    """The 4xx status a server answers `error` with, or None when it is not the client's error.

    pydantic's errors are BentoML's 400; BentoML's and starlette's HTTP errors carry their status.
    A body that stopped coming is 499, nginx's "client closed request" (`BodySizeLimit` also
    stops a body over the limit that way, and answers 413).
    """
    from starlette.requests import ClientDisconnect  # here: only a server meets one, and not every process serves

    if isinstance(error, ValidationError):
        return 400
    if isinstance(error, ClientDisconnect):
        return 499
    status = getattr(error, "error_code", getattr(error, "status_code", None))
    status = getattr(status, "value", status)  # BentoML's is an HTTPStatus
    return status if isinstance(status, int) and 400 <= status < 500 else None


class ClientErrorRecords(logging.Filter):
    """A record of a client's error becomes one WARNING line: the fields and error types, no traceback, no value."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        status = client_error_status(error) if error is not None else None
        if status is None:
            return True
        if isinstance(error, ValidationError):
            summary = describe_errors(error.errors(include_input=False, include_context=False, include_url=False))
        else:
            summary = type(error).__name__
        where = record.getMessage().removeprefix("Exception on ")  # BentoML's "Exception on /predict [POST]"
        record.msg, record.args = f"client error {status} on {where}: {summary}", None
        record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        record.exc_info, record.exc_text = None, None
        return True


def configure_logging(level: int | str | None = None) -> None:
    """Make log output JSON lines (see the module docstring); calling it again changes nothing."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stdout))
    for handler in root.handlers:
        if not isinstance(handler.formatter, JsonFormatter):
            handler.setFormatter(JsonFormatter())
        if not any(isinstance(existing, ClientErrorRecords) for existing in handler.filters):
            handler.addFilter(ClientErrorRecords())
    level = level if level is not None else os.environ.get(LOG_LEVEL_ENV, "INFO").upper()
    try:
        logging.getLogger(__name__.partition(".")[0]).setLevel(level)
    except ValueError:
        raise ConfigError(f"{LOG_LEVEL_ENV}={level!r} is not a log level (DEBUG, INFO, WARNING, ERROR)") from None


class FallbackReason(enum.StrEnum):
    """Why an answer came from the fallback policy: a small fixed set, as metric labels must be."""

    MODEL_UNAVAILABLE = "model_unavailable"  # no model could be loaded: the rule-based default
    PREDICTION_ERROR = "prediction_error"  # the model raised: the rule-based default
    LAST_GOOD = "last_good"  # the promoted model is unusable: the previous version answered
    UNKNOWN_ENTITY = "unknown_entity"  # the online feature store does not know the row's entity
    FEATURES_UNAVAILABLE = "features_unavailable"  # the online feature store cannot be read
    UNSPECIFIED = "unspecified"  # a fallback answer recorded without a reason


def value_buckets(target: Column = TARGET) -> tuple[float, ...]:
    """Histogram upper bounds for predicted values: the target's minimum plus 1-2-5 steps up to its maximum.

    The steps span four decades below the target's range (from the contract; a million when it
    gives no maximum): fine near the minimum, where most spend-like targets sit, coarse above.
    """
    low = target.minimum if target.minimum is not None else 0.0
    span = target.maximum - low if target.maximum is not None and target.maximum > low else 1e6
    top = math.ceil(math.log10(span))
    steps = [step * 10.0**exponent for exponent in range(top - 4, top + 1) for step in (1, 2, 5)]
    return (*(round(low + step, 10) for step in steps if span / 1e4 <= step < span), float(low + span))


def _buckets_from_env() -> tuple[float, ...]:
    text = os.environ.get(PREDICTED_VALUE_BUCKETS_ENV, "").strip()
    if not text:
        return value_buckets()
    try:
        buckets = tuple(float(bound) for bound in text.split(","))
    except ValueError:
        raise ConfigError(f"{PREDICTED_VALUE_BUCKETS_ENV}={text!r}: expected comma-separated numbers") from None
    if list(buckets) != sorted(set(buckets)) or not all(map(math.isfinite, buckets)):
        raise ConfigError(f"{PREDICTED_VALUE_BUCKETS_ENV}={text!r}: bounds must be finite and increasing")
    return buckets


@dataclass(frozen=True)
class PredictionMetrics:
    predictions: prometheus_client.Counter
    predicted_values: prometheus_client.Histogram
    fallback_answers: prometheus_client.Counter
    errors: prometheus_client.Counter
    seconds: prometheus_client.Histogram


@cache
def prediction_metrics() -> PredictionMetrics:
    """This process's metrics, created on first use (see the module docstring for why)."""
    import prometheus_client  # here, not at the top: see the module docstring

    return PredictionMetrics(
        predictions=prometheus_client.Counter(
            f"{METRIC_PREFIX}predictions",
            "Answers by predicted class (empty for regression), whether the fallback gave them, and model version",
            ["label", "fallback", "version"],
        ),
        predicted_values=prometheus_client.Histogram(
            f"{METRIC_PREFIX}predicted_value",
            "Predicted values (regression), by model version",
            ["version"],
            buckets=_buckets_from_env(),
        ),
        fallback_answers=prometheus_client.Counter(
            f"{METRIC_PREFIX}fallback_answers",
            "Answers given by the fallback policy, by reason and version",
            ["reason", "version"],
        ),
        errors=prometheus_client.Counter(
            f"{METRIC_PREFIX}prediction_errors",
            "Rows a model version failed to predict",
            ["version"],
        ),
        seconds=prometheus_client.Histogram(
            f"{METRIC_PREFIX}prediction_seconds",
            "Time of each prediction call, by model version",
            ["version"],
            buckets=PREDICTION_SECONDS_BUCKETS,
        ),
    )


def record_predictions(
    labels_or_values: Iterable[Any],
    *,
    fallback: bool,
    classification: bool,
    version: str,
    fallback_reason: FallbackReason | None = None,
) -> None:
    """Count answers `version` gave: by class (classification) or into the value histogram (regression).

    Non-finite regression values are counted but not observed: they would poison the sum.
    A fallback answer without `fallback_reason` counts as `unspecified`.
    """
    metrics = prediction_metrics()
    answers = [value.item() if isinstance(value, np.generic) else value for value in labels_or_values]
    flag = "true" if fallback else "false"
    if classification:
        for label, count in Counter(str(answer) for answer in answers).items():
            metrics.predictions.labels(label=label, fallback=flag, version=version).inc(count)
    else:
        metrics.predictions.labels(label="", fallback=flag, version=version).inc(len(answers))
        histogram = metrics.predicted_values.labels(version=version)
        for value in answers:
            if math.isfinite(value):
                histogram.observe(value)
    if fallback:
        reason = fallback_reason or FallbackReason.UNSPECIFIED
        metrics.fallback_answers.labels(reason=str(reason), version=version).inc(len(answers))


def record_prediction_call(version: str, seconds: float, *, failed_rows: int = 0) -> None:
    """Time one prediction call of `version`, and count the rows it failed to predict."""
    metrics = prediction_metrics()
    metrics.seconds.labels(version=version).observe(seconds)
    if failed_rows:
        metrics.errors.labels(version=version).inc(failed_rows)


@cache
def rollout_aborts_counter() -> prometheus_client.Counter:
    """Created on the first automatic abort, as `stale_features_counter`."""
    import prometheus_client  # here, not at the top: see the module docstring

    return prometheus_client.Counter(
        f"{METRIC_PREFIX}rollout_aborts",
        "Canary rollouts this worker aborted on its own, by candidate version",
        ["version"],
    )


def record_rollout_abort(version: str) -> None:
    rollout_aborts_counter().labels(version=version).inc()


@cache
def stale_features_counter() -> prometheus_client.Counter:
    """Created on the first stale value, so a project without feature views has no such metric."""
    import prometheus_client  # here, not at the top: see the module docstring

    return prometheus_client.Counter(
        f"{METRIC_PREFIX}stale_features",
        "Rows answered while a feature view's newest online value was older than its ttl, by view",
        ["view"],
    )


def record_stale_features(views: Iterable[str]) -> None:
    """Count one row's stale feature views."""
    counter = stale_features_counter()
    for view in views:
        counter.labels(view=view).inc()
