"""The HTTP service: rows in through the training contract and features, predictions out.

Request models are built from the data contract, so a request that passes them is a row
training would have accepted; the feature code and `predict` are the functions evaluation
used, so serving cannot drift from them. Endpoints: `/predict` (one flat row),
`/predict_batch` (`{"rows": [...]}`, bounded), `/metadata` (what is served), and BentoML's
`/livez`, `/readyz` and Prometheus `/metrics`. Start it with `<package> serve`, which checks
the model before BentoML starts (see `loading.preflight`); plain `bentoml serve`, which a
built Bento and its image run, makes the same check before any worker starts
(`ModelService.check_before_workers`), so a model that cannot be served stops either one.

Requests that arrive together are predicted in one call (`batching`), so one worker answers
many concurrent requests for the cost of a few (measured in the Shipshape repository's
benchmarks/README.md).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import bentoml
from bentoml.exceptions import BentoMLException, ServiceUnavailable
from pydantic import BaseModel
from threadpoolctl import ThreadpoolController

from ..config import ServiceSettings, load_project_config
from ..core.errors import ProjectError
from ..registry.store import Registry, served_registry_path
from ..telemetry.observability import (
    FallbackReason,
    configure_logging,
    new_request_id,
    record_predictions,
    request_id_var,
)
from ..telemetry.prediction_log import PredictionLog, PredictionRecord
from .api import BatchPrediction, Prediction, PredictionRequest, answers_from, batch_request
from .batching import RowBatcher
from .loading import answer_example, api_keys, example_rows, preflight, resolve, traffic
from .middleware import ApiKeyAuth, BodySizeLimit, ClientErrors, OpenApiDocument, replace_bentoml_timeout
from .shadow import load_shadow, record_comparison, score_in_shadow, shadow_entry

logger = logging.getLogger(__name__)


def definition_settings() -> ServiceSettings:
    """The `service` settings of `ml-project.yaml`, for what BentoML fixes when the class below is defined.

    BentoML takes the traffic and worker settings, the APIs' input specs and the ASGI
    middleware from the class definition, before any instance exists: so this module reads
    them here, once, when it is imported (by `bentoml serve`, each worker and `bentoml build`).
    Everything else is read when a worker creates the service (`ModelService.__init__`).
    """
    return load_project_config().service


DEFINITION = definition_settings()  # the module's only read of ml-project.yaml: see the function
TRAFFIC = traffic(DEFINITION)
# Where BentoML imports this module: the project root, or a Bento's `src` folder. Workers run
# there, and relative paths (ml-project.yaml, models/registry) mean the same for the check below.
SERVICE_ROOT = Path.cwd()


@dataclass(frozen=True)
class RowScore:
    """One row's answer, why it is a fallback (if it is), and the shadow candidate's answer (if any)."""

    answer: Prediction
    fallback_reason: FallbackReason | None
    shadow: Prediction | None


# Timeout, concurrency and workers follow `service.latency_budget_ms` and `peak_throughput_rps` (`loading.traffic`).
@bentoml.service(
    traffic={"timeout": TRAFFIC["timeout"], "max_concurrency": TRAFFIC["max_concurrency"]},
    workers=TRAFFIC["workers"],
)
class ModelService:
    """Serves the promoted version in the model registry (`models/registry`), or the fallback policy."""

    @bentoml.on_deployment
    def check_before_workers() -> None:
        """`loading.preflight` in the `bentoml serve` process, once, before it starts any worker.

        BentoML respawns a worker whose `__init__` fails, forever, and the port never answers;
        a failing deployment hook instead ends `bentoml serve` with exit 1 and the reason on
        stderr. `bentoml build` does not run it, so a Bento builds without a model.
        """
        try:
            # `bentoml serve <bento>` imports this module in the Bento's folder, then returns to its own.
            with contextlib.chdir(SERVICE_ROOT):
                summary = preflight(Registry(served_registry_path()), load_project_config().service)
        except ProjectError as error:
            raise BentoMLException(f"the service cannot start: {error}") from None
        print(summary, file=sys.stderr, flush=True)  # BentoML has not set up its log in this process yet

    def __init__(self) -> None:
        replace_bentoml_timeout()  # before this worker's first request: see the function
        configure_logging()
        config = load_project_config()
        self.settings = config.service
        self.registry_path = served_registry_path()
        registry = Registry(self.registry_path)
        self.served = resolve(registry, self.settings)
        if self.served.is_fallback:
            logger.warning("serving in fallback: %s", self.served.fallback_reason)
        self.shadow_setup = load_shadow(registry, self.served.version)
        if self.shadow_setup.problem:
            logger.warning("no shadow model: %s", self.shadow_setup.problem)
        self.prediction_log = PredictionLog.from_config(config)
        self.classification = config.problem_type.is_classification
        # Created after the model loaded its OpenMP runtime; limiting through one controller
        # avoids rescanning loaded libraries in every new thread.
        self.threadpools = ThreadpoolController()
        batch_wait = traffic(self.settings)["batch_wait"]
        self.batcher = RowBatcher(self.score, max_rows=self.settings.max_batch_rows, max_wait=batch_wait)
        self.warm_up()
        gc.collect()  # freezing keeps whatever is alive: drop start-up garbage first
        # Everything loaded so far lives as long as the worker: move it out of the collector's
        # reach. Without this, full collections walking BentoML's and the model's objects paused
        # the worker for 140-230 ms at a time (Shipshape's benchmarks/README.md has the A/B run).
        gc.freeze()

    def single_openmp_thread(self) -> None:
        """One OpenMP thread for the predictions of this thread, the one running the event loop.

        For a few rows a second thread only spins: one thread halved CPU per request in the
        benchmark (Shipshape's benchmarks/README.md). The limit is per thread; predictions run on the
        event loop's thread (see `batching`), the one that creates the service.
        """
        self.threadpools.limit(limits=1, user_api="openmp")

    def warm_up(self) -> None:
        """Predict the contract's example row once (with the shadow too), so no request pays for lazy imports."""
        if self.served.model is not None:
            self.single_openmp_thread()
            answer_example(self.served.model, self.served.metadata)
            if self.shadow_setup.shadow is not None:
                self.shadow_setup.shadow.answers(example_rows())

    @bentoml.on_shutdown
    def close_prediction_log(self) -> None:
        """Write out buffered records: a worker ends by re-raising SIGTERM, so exit handlers never run."""
        self.prediction_log.close()

    def __is_ready__(self) -> bool:
        """Ready once a model (or, under rule_based, the configured default) can answer."""
        return self.served.model is not None or self.settings.fallback == "rule_based"

    async def answer(self, rows: list[dict[str, Any]], ctx: bentoml.Context) -> list[Prediction]:
        """Predict (batched with concurrent requests), then log and count every answer under the request's id."""
        started = time.perf_counter()
        request_id = new_request_id(ctx.request.headers.get("x-request-id"))
        request_id_var.set(request_id)
        ctx.response.headers["X-Request-ID"] = request_id
        scored = await self.batcher.submit(rows)
        latency_ms = (time.perf_counter() - started) * 1000
        self.prediction_log.write(
            [
                PredictionRecord(
                    request_id=request_id if len(rows) == 1 else f"{request_id}-{index}",
                    model_version=row_score.answer.model_version,
                    features=row,
                    prediction=row_score.answer.prediction,
                    probabilities=row_score.answer.probabilities,
                    latency_ms=latency_ms,
                    fallback=row_score.answer.fallback,
                    shadow=shadow_entry(row_score.shadow) if row_score.shadow else None,
                )
                for index, (row, row_score) in enumerate(zip(rows, scored, strict=True))
            ]
        )
        reason = scored[0].fallback_reason
        record_predictions(
            [row_score.answer.prediction for row_score in scored],
            fallback=reason is not None,
            classification=self.classification,
            fallback_reason=reason,
        )
        return [row_score.answer for row_score in scored]

    def score(self, rows: list[dict[str, Any]]) -> list[RowScore]:
        """Every row's answer, with the shadow's beside it: one call for a whole batch, on the prediction thread."""
        answers, reason = self.predict_or_fall_back(rows)
        shadow_answers = self.shadow_answers(rows, answers) or [None] * len(rows)
        return [RowScore(answer, reason, shadow) for answer, shadow in zip(answers, shadow_answers, strict=True)]

    def shadow_answers(self, rows: list[dict[str, Any]], answers: list[Prediction]) -> list[Prediction] | None:
        """The shadow candidate's answers for the log, compared in the metrics; None without a shadow."""
        shadow = self.shadow_setup.shadow
        if shadow is None:
            return None
        shadow_answers = score_in_shadow(shadow, rows)
        record_comparison(answers, shadow_answers, classification=self.classification)
        return shadow_answers

    def predict_or_fall_back(self, rows: list[dict[str, Any]]) -> tuple[list[Prediction], FallbackReason | None]:
        """The model's answers, or the fallback policy's, with the reason for a fallback."""
        if self.served.model is None:
            return [self.rule_based_answer() for _ in rows], FallbackReason.MODEL_UNAVAILABLE
        try:
            answers = answers_from(self.served.model, self.served.metadata, rows, fallback=self.served.is_fallback)
        except Exception:  # a model that fails at prediction time: the fallback policy decides
            logger.exception("the model failed to predict")
            if self.settings.fallback == "rule_based":
                return [self.rule_based_answer() for _ in rows], FallbackReason.PREDICTION_ERROR
            raise ServiceUnavailable("the model failed to predict; see the service log") from None
        return answers, FallbackReason.LAST_GOOD if self.served.is_fallback else None

    def rule_based_answer(self) -> Prediction:
        value = self.settings.fallback_prediction
        assert value is not None  # noqa: S101 - serving.resolve refuses rule_based without it
        return Prediction(prediction=value, model_version="rule-based", fallback=True)

    @bentoml.api(route="/predict", input_spec=PredictionRequest)
    async def predict(self, ctx: bentoml.Context, **row: Any) -> Prediction:
        """Predict one row; fields follow the data contract exactly."""
        return (await self.answer([row], ctx))[0]

    @bentoml.api(route="/predict_batch", input_spec=batch_request(DEFINITION.max_batch_rows))
    async def predict_batch(self, rows: list[BaseModel], ctx: bentoml.Context) -> BatchPrediction:
        """Predict up to `service.max_batch_rows` rows in one request."""
        return BatchPrediction(predictions=await self.answer([row.model_dump() for row in rows], ctx))

    @bentoml.api(route="/metadata")
    def metadata(self) -> dict[str, Any]:
        """What this worker serves: model version, training time, data hash, metrics, fallback state."""
        served = self.served
        registry = Registry(self.registry_path)
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
            "shadow": self.shadow_setup.shadow.version if self.shadow_setup.shadow else None,
            "shadow_problem": self.shadow_setup.problem,
        }


ModelService.add_asgi_middleware(BodySizeLimit, max_bytes=DEFINITION.max_body_bytes)
if DEFINITION.api_key_auth:
    ModelService.add_asgi_middleware(ApiKeyAuth, load_keys=partial(api_keys, DEFINITION))
ModelService.add_asgi_middleware(ClientErrors)  # answers and /docs.json agree: see `middleware`
ModelService.add_asgi_middleware(OpenApiDocument, api_key_auth=DEFINITION.api_key_auth)
