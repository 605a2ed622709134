"""The HTTP service: rows in through the training contract and features, predictions out.

Request models are built from the data contract, so a request that passes them is a row
training would have accepted; `build_features` and `predict` are the functions evaluation
used, so serving cannot drift from them. Endpoints: `/predict` (one flat row),
`/predict_batch` (`{"rows": [...]}`, bounded), `/metadata` (what is served), and BentoML's
`/livez`, `/readyz` and Prometheus `/metrics`. Start it with `<package> serve`, which checks
the model before BentoML starts (see `serving.preflight`).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from functools import partial
from typing import Any

import bentoml
import numpy as np
from bentoml.exceptions import ServiceUnavailable
from pydantic import BaseModel, ConfigDict, Field, create_model
from threadpoolctl import ThreadpoolController

from .config import load_project_config
from .features import build_features
from .middleware import ApiKeyAuth, BodySizeLimit
from .observability import FallbackReason, configure_logging, new_request_id, record_predictions, request_id_var
from .predict import predict
from .prediction_log import PredictionLog, PredictionRecord
from .registry import Registry, served_registry_path
from .schema import COLUMNS, frame_from_records, request_model
from .serving import ServedModel, api_keys, resolve, traffic

REGISTRY_PATH = served_registry_path()
CONFIG = load_project_config()
SETTINGS = CONFIG.service
TRAFFIC = traffic(SETTINGS)

logger = logging.getLogger(__name__)

PredictionRequest = request_model()
BatchRequest = create_model(
    "BatchRequest",
    __config__=ConfigDict(extra="forbid", strict=True),
    rows=(
        list[PredictionRequest],  # type: ignore[valid-type]
        Field(min_length=1, max_length=SETTINGS.max_batch_rows, description="Rows to predict, each as in /predict"),
    ),
)


def plain(value: Any) -> Any:
    """A NumPy scalar as the Python value JSON can carry; Python values pass through."""
    return value.item() if isinstance(value, np.generic) else value


class Prediction(BaseModel):
    """The answer for one row."""

    prediction: int | float | str = Field(description="Predicted class label or value")
    probabilities: dict[str, float] | None = Field(None, description="Probability per class (classification)")
    model_version: str = Field(description="Version of the model that answered ('rule-based' in fallback)")
    fallback: bool = Field(False, description="True when the answer is the configured fallback, not the model's")


class BatchPrediction(BaseModel):
    predictions: list[Prediction]


def answers_from(served: ServedModel, rows: list[dict[str, Any]]) -> list[Prediction]:
    """The served model's predictions for validated rows."""
    predictions = predict(served.model, served.metadata, build_features(frame_from_records(rows)))
    fallback = served.is_fallback
    answers = []
    for index, value in enumerate(predictions.values):
        probabilities = None
        if predictions.probabilities is not None and predictions.classes is not None:
            scores = zip(predictions.classes, predictions.probabilities[index], strict=True)
            probabilities = {str(plain(label)): float(p) for label, p in scores}
        answer = Prediction(
            prediction=plain(value), probabilities=probabilities, model_version=served.version, fallback=fallback
        )
        answers.append(answer)
    return answers


@bentoml.service(
    traffic={"timeout": TRAFFIC["timeout"], "max_concurrency": TRAFFIC["max_concurrency"]},
    workers=TRAFFIC["workers"],
)
class ModelService:
    """Serves the promoted version in the model registry (`models/registry`), or the fallback policy."""

    def __init__(self) -> None:
        configure_logging()
        self.served = resolve(Registry(REGISTRY_PATH), SETTINGS)
        if self.served.is_fallback:
            logger.warning("serving in fallback: %s", self.served.fallback_reason)
        self.prediction_log = PredictionLog.from_config(CONFIG)
        self.classification = CONFIG.problem_type.is_classification
        # Created after the model loaded its OpenMP runtime; limiting through one controller
        # avoids rescanning loaded libraries in every new thread.
        self.threadpools = ThreadpoolController()
        self.openmp_limited = threading.local()
        self.warm_up()
        gc.collect()  # freezing keeps whatever is alive: drop start-up garbage first
        # Everything loaded so far lives as long as the worker: move it out of the collector's
        # reach. Without this, full collections walking BentoML's and the model's objects paused
        # the worker for 140-230 ms at a time (benchmarks/README.md has the A/B run).
        gc.freeze()

    def single_openmp_thread(self) -> None:
        """One OpenMP thread for this thread's predictions.

        For a few rows a second thread only spins: one thread halved CPU per request in the
        benchmark (benchmarks/README.md). The limit is per thread, and BentoML runs sync
        endpoints in worker threads, so each thread sets it before its first prediction.
        """
        if not getattr(self.openmp_limited, "done", False):
            self.threadpools.limit(limits=1, user_api="openmp")
            self.openmp_limited.done = True

    def warm_up(self) -> None:
        """Predict the contract's example row once, so the first real request does not pay for lazy imports."""
        if self.served.model is not None:
            self.single_openmp_thread()
            example = PredictionRequest.model_validate({column.name: column.example for column in COLUMNS})
            answers_from(self.served, [example.model_dump()])

    @bentoml.on_shutdown
    def close_prediction_log(self) -> None:
        """Write out buffered records: a worker ends by re-raising SIGTERM, so exit handlers never run."""
        self.prediction_log.close()

    def __is_ready__(self) -> bool:
        """Ready once a model (or, under rule_based, the configured default) can answer."""
        return self.served.model is not None or SETTINGS.fallback == "rule_based"

    def answer(self, rows: list[dict[str, Any]], ctx: bentoml.Context) -> list[Prediction]:
        """Predict, then log and count every answer under the request's id."""
        started = time.perf_counter()
        request_id = new_request_id(ctx.request.headers.get("x-request-id"))
        request_id_var.set(request_id)
        ctx.response.headers["X-Request-ID"] = request_id
        answers, reason = self.predict_or_fall_back(rows)
        latency_ms = (time.perf_counter() - started) * 1000
        self.prediction_log.write(
            [
                PredictionRecord(
                    request_id=request_id if len(rows) == 1 else f"{request_id}-{index}",
                    model_version=answer.model_version,
                    features=row,
                    prediction=answer.prediction,
                    probabilities=answer.probabilities,
                    latency_ms=latency_ms,
                    fallback=answer.fallback,
                )
                for index, (row, answer) in enumerate(zip(rows, answers, strict=True))
            ]
        )
        record_predictions(
            [answer.prediction for answer in answers],
            fallback=reason is not None,
            classification=self.classification,
            fallback_reason=reason,
        )
        return answers

    def predict_or_fall_back(self, rows: list[dict[str, Any]]) -> tuple[list[Prediction], FallbackReason | None]:
        """The model's answers, or the fallback policy's, with the reason for a fallback."""
        self.single_openmp_thread()
        if self.served.model is None:
            return [self.rule_based_answer() for _ in rows], FallbackReason.MODEL_UNAVAILABLE
        try:
            answers = answers_from(self.served, rows)
        except Exception:  # a model that fails at prediction time: the fallback policy decides
            logger.exception("the model failed to predict")
            if SETTINGS.fallback == "rule_based":
                return [self.rule_based_answer() for _ in rows], FallbackReason.PREDICTION_ERROR
            raise ServiceUnavailable("the model failed to predict; see the service log") from None
        return answers, FallbackReason.LAST_GOOD if self.served.is_fallback else None

    def rule_based_answer(self) -> Prediction:
        value = SETTINGS.fallback_prediction
        assert value is not None  # noqa: S101 - serving.resolve refuses rule_based without it
        return Prediction(prediction=value, model_version="rule-based", fallback=True)

    @bentoml.api(route="/predict", input_spec=PredictionRequest)
    def predict(self, ctx: bentoml.Context, **row: Any) -> Prediction:
        """Predict one row; fields follow the data contract exactly."""
        return self.answer([row], ctx)[0]

    @bentoml.api(route="/predict_batch", input_spec=BatchRequest)
    def predict_batch(self, rows: list[BaseModel], ctx: bentoml.Context) -> BatchPrediction:
        """Predict up to `service.max_batch_rows` rows in one request."""
        return BatchPrediction(predictions=self.answer([row.model_dump() for row in rows], ctx))

    @bentoml.api(route="/metadata")
    def metadata(self) -> dict[str, Any]:
        """What this worker serves: model version, training time, data hash, metrics, fallback state."""
        served = self.served
        registry = Registry(REGISTRY_PATH)
        version = served.metadata.get("version")
        metrics = registry.metrics(version) if version in registry.versions() else None
        return {
            "model_version": served.version,
            "trained_at": served.metadata.get("trained_at"),
            "problem_type": served.metadata.get("problem_type"),
            "data": served.metadata.get("data"),
            "decision_threshold": served.metadata.get("decision_threshold"),
            "metrics": metrics,
            "fallback": served.fallback_reason,
        }


ModelService.add_asgi_middleware(BodySizeLimit, max_bytes=SETTINGS.max_body_bytes)
if SETTINGS.api_key_auth:
    ModelService.add_asgi_middleware(ApiKeyAuth, load_keys=partial(api_keys, SETTINGS))
