"""An A/B of benchmarks/README.md: a generated project's service batching with BentoML's batchable API.

    uv run --project <project> python benchmarks/serve.py --apps bentoml --service ab_bentoml_batchable:ModelService

One change from the project's service: the rows of concurrent requests are gathered by
BentoML's adaptive batching (`@bentoml.api(batchable=True)`, its `CorkDispatcher`) instead of
the service's `RowBatcher`. Endpoints, request models, middleware, request ids, the
prediction log and the metrics are the service's: `Answering.answer` still records each
request, and only its batcher is swapped for a call to a batchable `score` API, which runs
`Answering.score` once per batch.

BentoML batches only calls that reach a batchable API through its HTTP app, and that API takes
a single list, so `/predict`'s flat one-row body cannot be its input. Two ways to reach it:
- `ModelService`: as BentoML's docs do for inputs with several fields ("Handle multiple
  parameters": a wrapper service and `bentoml.depends`), `score` lives in a second service,
  which `bentoml serve` runs in a process of its own, called over a Unix socket with pickled
  bodies. The service's process keeps the model too (it starts `Answering`) but only records.
- `InProcess`: `score` on the service itself, called through the worker's own app.
"""

from __future__ import annotations

import gc
from typing import Any

import bentoml
from target import project_module

service = project_module("serving.service")
answering = project_module("serving.answering")
telemetry = project_module("telemetry.observability")

Row = dict[str, Any]
RowScore = answering.RowScore
SERVICE = service.ModelService  # the project's service, as `bentoml.service` made it


# BentoML's client to a dependency closes its connections every `max_requests` calls (100 by
# default) with the calls still in flight on them: at 16 connections 1 in 7 requests failed
# with "Server disconnected" (`SessionManager.get_session`, _bentoml_impl/client/proxy2.py;
# bentoml/BentoML#5540). As good as never, here.
NEVER_REFRESH = {"max_requests": 2**31 - 1, "max_age": 1e9}


@bentoml.service(traffic={"timeout": service.TRAFFIC["timeout"]}, workers=1, runner_connection=NEVER_REFRESH)
class Scorer:
    """The served model behind BentoML's batchable API: one worker, warmed up and frozen as the service's."""

    def __init__(self) -> None:
        service.replace_bentoml_timeout()  # as the service: without it BentoML's timers keep requests alive
        telemetry.configure_logging()
        self.answering = answering.Answering.start()
        gc.collect()
        gc.freeze()

    # At most a full batch request's rows per call, as RowBatcher. BentoML answers 503 to a
    # request it expects to exceed `max_latency_ms` in its queue: at the latency budget (100 ms)
    # 1 in 6 batch requests at 16 connections got one; 1 s, the value of BentoML's docs, gave none.
    @bentoml.api(batchable=True, batch_dim=0, max_batch_size=service.DEFINITION.max_batch_rows, max_latency_ms=1000)
    async def score(self, rows: list[Row]) -> list[RowScore]:  # type: ignore[valid-type]
        """Every row's score, in one `Answering.score` call; `async`, so it runs on the event loop as RowBatcher's."""
        return self.answering.score(rows)


class BentoBatcher:
    """`RowBatcher.submit` over HTTP to `Scorer.score`, where BentoML batches it with concurrent calls."""

    def __init__(self, scorer: Any) -> None:
        self.scorer = scorer

    async def submit(self, rows: list[Row]) -> list[RowScore]:  # type: ignore[valid-type]
        return await self.scorer.to_async.score(rows)


class BatchableModelService(SERVICE.inner):  # type: ignore[name-defined,misc]
    """The project's service with its batcher swapped for BentoML's batching."""

    scorer = bentoml.depends(Scorer)

    def __init__(self) -> None:
        super().__init__()
        self.answering.batcher = BentoBatcher(self.scorer)


class InProcessModelService(SERVICE.inner):  # type: ignore[name-defined,misc]
    """The same, with the batchable API on the service itself (one process, and one more route, /score).

    In a running worker, a service's own API called on `self` goes through its HTTP app in
    process (`__self_proxy__`, JSON bodies; _bentoml_impl/server/app.py), so BentoML batches it.
    """

    score = Scorer.inner.score

    def __init__(self) -> None:
        super().__init__()
        self.answering.batcher = BentoBatcher(self)  # `to_async`: set by BentoML once the worker starts


def as_service(inner: type) -> bentoml.Service:
    """`inner` as a BentoML service configured as the project's (its own client too: see NEVER_REFRESH)."""
    made = bentoml.service(name=SERVICE.name, **SERVICE.config, runner_connection=NEVER_REFRESH)(inner)
    for middleware, options in SERVICE.middlewares:
        made.add_asgi_middleware(middleware, **options)
    return made


ModelService = as_service(BatchableModelService)
InProcess = as_service(InProcessModelService)

__all__ = ["InProcess", "ModelService"]
