"""The serving benchmark's LitServe peer: the project's `Answering` behind LitServe's own batching.

    python peers/litserve_peer.py --port 8000 --endpoint /predict [--bare] [--workers 1]
        [--max-batch-size 16] [--batch-timeout 0.001]

LitServe runs uvicorn API servers and inference workers as separate processes, joined by
queues. An API server parses the JSON body and queues it; an inference worker takes up to
`--max-batch-size` queued requests, waiting up to `--batch-timeout` seconds for them, decodes
each one (`PredictionRequest`, as the service validates), predicts the rows of all of them in one
`Answering.score` call, then, unless `--bare`, logs and counts each request's answers under a
request id of its own (`Answering.record`, returned as `X-Request-ID`; LitServe does not pass
request headers to the workers).

One endpoint per server: LitServe gives every endpoint its own inference workers, and the
benchmark gives every framework the same number of inference processes. `/health` answers
200 once a worker is ready; `/metrics` serves the Prometheus counters of every process.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import litserve as ls
from fastapi.responses import JSONResponse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the benchmarks folder: `target`, `peers`
from target import project_module

from peers.common import metrics_app, start_answering

Rows = list[dict[str, Any]]


class AnsweringAPI(ls.LitAPI):
    """One endpoint, `/predict` (one flat row) or `/predict_batch` (`{"rows": [...]}`), batched by LitServe."""

    def __init__(self, *, endpoint: str, work: bool, max_batch_size: int, batch_timeout: float) -> None:
        super().__init__(max_batch_size=max_batch_size, batch_timeout=batch_timeout, api_path=endpoint)
        self.rows_body = endpoint == "/predict_batch"
        self.work = work

    def setup(self, device: str) -> None:
        """Runs in each inference worker: the model loads there."""
        self.api = project_module("serving.api")
        self.new_request_id = project_module("telemetry.observability").new_request_id
        self.answering = start_answering()
        self.batch_model = self.api.batch_request(self.answering.settings.max_batch_rows)

    def decode_request(self, request):  # unannotated: LitServe would read an annotation as the body's type
        """The request's validated rows, from the JSON body the API server parsed."""
        if self.rows_body:
            return [row.model_dump() for row in self.batch_model.model_validate(request).rows]
        return [self.api.PredictionRequest.model_validate(request).model_dump()]

    def batch(self, inputs: list[Rows]) -> list[Rows]:
        return inputs

    def predict(self, requests: list[Rows]) -> list[tuple[list[Any], str]]:
        """Every request's answers and request id, from one prediction call for all their rows."""
        started = time.perf_counter()
        scored = self.answering.score([row for rows in requests for row in rows])
        answered, start = [], 0
        for rows in requests:
            mine, start = scored[start : start + len(rows)], start + len(rows)
            if not self.work:
                answered.append(([row_score.answer for row_score in mine], ""))
                continue
            request_id = self.new_request_id()
            latency_ms = (time.perf_counter() - started) * 1000
            answers = self.answering.record(rows, mine, request_id=request_id, latency_ms=latency_ms)
            answered.append((answers, request_id))
        return answered

    def unbatch(self, output: list[tuple[list[Any], str]]) -> list[tuple[list[Any], str]]:
        return output

    def encode_response(self, output: tuple[list[Any], str]):  # unannotated, as LitServe reads it
        """The service's JSON answer, with the request id header; the API server returns it as it is."""
        answers, request_id = output
        body = {"predictions": [a.model_dump() for a in answers]} if self.rows_body else answers[0].model_dump()
        return JSONResponse(body, headers={"X-Request-ID": request_id} if request_id else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--endpoint", choices=("/predict", "/predict_batch"), required=True)
    parser.add_argument("--bare", action="store_true", help="predict only: no request id, log or counters")
    parser.add_argument("--workers", type=int, default=1, help="inference worker processes")
    parser.add_argument("--max-batch-size", type=int, default=16, help="requests per prediction call, at most")
    parser.add_argument("--batch-timeout", type=float, default=0.001, help="seconds a batch waits to fill")
    args = parser.parse_args()
    settings = project_module("config").load_project_config().service
    api = AnsweringAPI(
        endpoint=args.endpoint, work=not args.bare, max_batch_size=args.max_batch_size, batch_timeout=args.batch_timeout
    )
    server = ls.LitServer(
        api,
        accelerator="cpu",
        devices=1,
        workers_per_device=args.workers,
        timeout=project_module("serving.loading").traffic(settings)["timeout"],  # the service's request timeout
        disable_openapi_url=True,
    )
    if not args.bare:
        server.app.mount("/metrics", metrics_app())
    server.run(
        host="127.0.0.1",
        port=args.port,
        log_level="info" if not args.bare else "warning",
        generate_client_file=False,
        access_log=not args.bare,
    )


if __name__ == "__main__":
    main()
