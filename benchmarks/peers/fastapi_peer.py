"""The serving benchmark's FastAPI peers: the project's `Answering` behind plain FastAPI apps.

One factory per app; `serve.py` starts each with uvicorn in the project's folder, with the
service's number of worker processes:

    uvicorn peers.fastapi_peer:batching_app --factory --app-dir <benchmarks folder>

| factory | endpoints | a request's rows are predicted |
|---|---|---|
| `sync_app`, `sync_bare_app` | sync `def`, run in uvicorn's thread pool | in a call of their own |
| `batching_app`, `batching_bare_app` | `async def`, on the event loop | with concurrent requests' (`RowBatcher`) |

`sync_app` and `batching_app` do the service's per-request work: a request id (returned as
`X-Request-ID`), the prediction-log records and the Prometheus counters (`Answering.record`),
and uvicorn's access log. The `_bare` apps predict only, for reference.
"""

# No `from __future__ import annotations`: FastAPI reads the request models from the endpoints'
# annotations, which name the project's models through local variables.
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from target import project_module

from peers.common import metrics_app, start_answering

Rows = list[dict[str, Any]]
Answer = Callable[[Rows, str], Any]  # rows and request id -> the rows' Predictions (or an awaitable of them)


def sync_answer(answering: Any, *, work: bool) -> Answer:
    """One prediction call for the request's rows; with `work`, logged and counted as the service does."""

    def answer(rows: Rows, request_id: str) -> list[Any]:
        started = time.perf_counter()
        scored = answering.score(rows)
        if not work:
            return [row_score.answer for row_score in scored]
        latency_ms = (time.perf_counter() - started) * 1000
        return answering.record(rows, scored, request_id=request_id, latency_ms=latency_ms)

    return answer


def batching_answer(answering: Any, *, work: bool) -> Answer:
    """The rows predicted with concurrent requests' (`RowBatcher`); with `work`, `Answering.answer` itself."""
    if work:
        return answering.answer

    async def answer(rows: Rows, request_id: str) -> list[Any]:
        return [row_score.answer for row_score in await answering.batcher.submit(rows)]

    return answer


def create_app(*, batching: bool, work: bool) -> FastAPI:
    """A FastAPI app serving the project's promoted model through `Answering`."""
    api = project_module("serving.api")
    new_request_id = project_module("telemetry.observability").new_request_id
    answering = start_answering()
    batch_model = api.batch_request(answering.settings.max_batch_rows)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        answering.close()

    app = FastAPI(title="peer", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    if work:
        app.mount("/metrics", metrics_app())

    def request_id(request: Request, response: Response) -> str:
        if not work:
            return ""
        response.headers["X-Request-ID"] = identifier = new_request_id(request.headers.get("x-request-id"))
        return identifier

    if batching:
        answer: Callable[[Rows, str], Awaitable[list[Any]]] = batching_answer(answering, work=work)

        @app.post("/predict")
        async def predict(row: api.PredictionRequest, request: Request, response: Response) -> api.Prediction:  # type: ignore[name-defined]
            return (await answer([row.model_dump()], request_id(request, response)))[0]

        @app.post("/predict_batch")
        async def predict_batch(batch: batch_model, request: Request, response: Response) -> api.BatchPrediction:  # type: ignore[valid-type,name-defined]
            rows = [row.model_dump() for row in batch.rows]
            return api.BatchPrediction(predictions=await answer(rows, request_id(request, response)))
    else:
        answer_now: Callable[[Rows, str], list[Any]] = sync_answer(answering, work=work)

        @app.post("/predict")
        def predict(row: api.PredictionRequest, request: Request, response: Response) -> api.Prediction:  # type: ignore[name-defined]
            return answer_now([row.model_dump()], request_id(request, response))[0]

        @app.post("/predict_batch")
        def predict_batch(batch: batch_model, request: Request, response: Response) -> api.BatchPrediction:  # type: ignore[valid-type,name-defined]
            rows = [row.model_dump() for row in batch.rows]
            return api.BatchPrediction(predictions=answer_now(rows, request_id(request, response)))

    @app.get("/readyz")
    def readyz() -> str:
        return "ok"

    return app


def sync_app() -> FastAPI:
    return create_app(batching=False, work=True)


def sync_bare_app() -> FastAPI:
    return create_app(batching=False, work=False)


def batching_app() -> FastAPI:
    return create_app(batching=True, work=True)


def batching_bare_app() -> FastAPI:
    return create_app(batching=True, work=False)
