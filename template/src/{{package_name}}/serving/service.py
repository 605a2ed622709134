"""The HTTP service: rows in through the training contract and features, predictions out.

Request models are built from the data contract, so a request that passes them is a row
training would have accepted; the feature code and `predict` are the functions evaluation
used, so serving cannot drift from them. Endpoints: `/predict` (one flat row),
`/predict_batch` (`{"rows": [...]}`, bounded), both taking `?explain=k` for each answer's k largest
feature contributions, `/metadata` (what is served), and BentoML's
`/livez`, `/readyz` and Prometheus `/metrics`. Start it with `<package> serve`, which checks
the model before BentoML starts (see `loading.preflight`); plain `bentoml serve`, which a
built Bento and its image run, makes the same check before any worker starts
(`ModelService.check_before_workers`), so a model that cannot be served stops either one.

What a request goes through once it passed the request model (batching with concurrent
requests, the model or the fallback policy, the shadow, the prediction log and the metrics)
is `answering.Answering`, which knows nothing of BentoML; this module is the HTTP layer.
"""

from __future__ import annotations

import contextlib
import gc
import sys
from functools import partial
from pathlib import Path
from typing import Any

import bentoml
from bentoml.exceptions import BadInput, BentoMLException
from pydantic import BaseModel

from ..config import ServiceSettings, load_project_config
from ..core.errors import ProjectError
from ..core.explain import explained_names
from ..registry.store import Registry, served_registry_path
from ..telemetry.observability import configure_logging, new_request_id, request_id_var
from .answering import Answering
from .api import Answer, BatchPrediction, PredictionRequest, batch_request
from .loading import api_keys, preflight, traffic
from .lookup import client_statuses
from .middleware import (
    EXPLAIN_PARAMETER,
    ApiKeyAuth,
    BodySizeLimit,
    ClientErrors,
    OpenApiDocument,
    replace_bentoml_timeout,
)


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


def requested_explanations(ctx: bentoml.Context) -> int | None:
    """The `?explain=k` query parameter: how many contributions each answer lists; None when absent.

    A 400 naming the accepted range for anything but a whole number from 1 to the explained columns'
    count, and a 400 naming any other query parameter: a misspelt `explain` is not silently ignored.
    """
    query = ctx.request.query_params
    if not query:
        return None
    unknown = sorted(set(query) - {EXPLAIN_PARAMETER})
    if unknown:
        raise BadInput(f"unknown query parameter {', '.join(unknown)}: the only one is {EXPLAIN_PARAMETER}")
    text = query[EXPLAIN_PARAMETER]
    most = len(explained_names())
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= most):
        raise BadInput(f"{EXPLAIN_PARAMETER} must be a whole number from 1 to {most} (the explained columns)")
    return int(text)


def tracing(settings: ServiceSettings) -> dict[str, Any]:
    """BentoML's tracing settings: none of ours when `service.trace_requests` is on, else no request traced.

    BentoML's OpenTelemetry middleware opens a span for every request, and one for every
    message it sends or receives, even when nothing exports them (its default). Excluding every
    URL skips them: at 16 connections a one-row request took a third less CPU (Shipshape's
    benchmarks/README.md). Requests keep their ids (`X-Request-ID`) either way.
    """
    if settings.trace_requests:
        return {}
    untraced = {"excluded_urls": [".*"]}  # BentoML matches these patterns against each request's URL
    return {"tracing": untraced}


# Timeout, concurrency and workers follow `service.latency_budget_ms` and `peak_throughput_rps` (`loading.traffic`).
@bentoml.service(
    traffic={"timeout": TRAFFIC["timeout"], "max_concurrency": TRAFFIC["max_concurrency"]},
    workers=TRAFFIC["workers"],
    **tracing(DEFINITION),
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
                config = load_project_config()
                summary = preflight(Registry(served_registry_path()), config.service, config.feature_store)
        except ProjectError as error:
            raise BentoMLException(f"the service cannot start: {error}") from None
        print(summary, file=sys.stderr, flush=True)  # BentoML has not set up its log in this process yet

    def __init__(self) -> None:
        replace_bentoml_timeout()  # before this worker's first request: see the function
        configure_logging()
        self.registry_path = served_registry_path()
        self.answering = Answering.start()
        gc.collect()  # freezing keeps whatever is alive: drop start-up garbage first
        # Everything loaded so far lives as long as the worker: move it out of the collector's
        # reach. Without this, full collections walking BentoML's and the model's objects paused
        # the worker for 140-230 ms at a time (Shipshape's benchmarks/README.md has the A/B run).
        gc.freeze()

    @bentoml.on_shutdown
    def close_prediction_log(self) -> None:
        """Write out buffered records: a worker ends by re-raising SIGTERM, so exit handlers never run."""
        self.answering.close()

    def __is_ready__(self) -> bool:
        """Ready once a model (or, under rule_based, the configured default) can answer."""
        return self.answering.ready

    async def answer(self, rows: list[dict[str, Any]], ctx: bentoml.Context) -> list[Answer]:  # type: ignore[valid-type]
        """The answers for one request's rows, under the request's id (taken from X-Request-ID or new)."""
        request_id = new_request_id(ctx.request.headers.get("x-request-id"))
        request_id_var.set(request_id)
        ctx.response.headers["X-Request-ID"] = request_id
        return await self.answering.answer(rows, request_id, explain=requested_explanations(ctx))

    @bentoml.api(route="/predict", input_spec=PredictionRequest)
    async def predict(self, ctx: bentoml.Context, **row: Any) -> Answer:  # type: ignore[valid-type]
        """Predict one row; fields follow the data contract exactly."""
        return (await self.answer([row], ctx))[0]

    @bentoml.api(route="/predict_batch", input_spec=batch_request(DEFINITION.max_batch_rows))
    async def predict_batch(self, rows: list[BaseModel], ctx: bentoml.Context) -> BatchPrediction:
        """Predict up to `service.max_batch_rows` rows in one request."""
        # A validated row's fields are its `__dict__` (`vars`): what `model_dump` copies, at a fifteenth of the cost.
        return BatchPrediction(predictions=await self.answer([vars(row) for row in rows], ctx))

    @bentoml.api(route="/metadata")
    def metadata(self) -> dict[str, Any]:
        """What this worker serves: model version, training time, data hash, metrics, fallback state, rollout."""
        served, shadow_setup = self.answering.served, self.answering.shadow_setup
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
            "shadow": shadow_setup.shadow.version if shadow_setup.shadow else None,
            "shadow_problem": shadow_setup.problem,
            # The registry's latest canary rollout (candidate, share, status, abort record), and this worker's share.
            "rollout": self.answering.canary.state() if self.answering.canary is not None else None,
        }


ModelService.add_asgi_middleware(BodySizeLimit, max_bytes=DEFINITION.max_body_bytes)
if DEFINITION.api_key_auth:
    ModelService.add_asgi_middleware(ApiKeyAuth, load_keys=partial(api_keys, DEFINITION))
ModelService.add_asgi_middleware(ClientErrors)  # answers and /docs.json agree: see `middleware`
ModelService.add_asgi_middleware(
    OpenApiDocument,
    api_key_auth=DEFINITION.api_key_auth,
    extra=client_statuses(),
    explained_columns=len(explained_names()),
)
