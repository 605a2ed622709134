"""The serving benchmark's baseline: a generated project's prediction path in a bare FastAPI app.

The same request model, feature code, prediction function and model file as the project's
BentoML service, behind plain sync FastAPI endpoints on uvicorn with its defaults: what the
service would cost without BentoML. `serve.py` starts it in the project's folder, with the
service's number of workers:

    uvicorn baseline_app:create_app --factory --app-dir <this folder>
"""

# No `from __future__ import annotations`: FastAPI reads the request models from the endpoints'
# annotations, which name the project's models through a local variable.
from typing import Any

from fastapi import FastAPI
from target import project_module


def create_app() -> FastAPI:
    """The baseline app serving the project's promoted model (read from `models/registry`)."""
    api = project_module("serving.api")
    registry = project_module("registry.store").Registry()
    model, metadata = project_module("registry.artifacts").load_model(registry.model_path(registry.require_promoted()))
    batch_model = api.batch_request(project_module("config").load_project_config().service.max_batch_rows)
    app = FastAPI(title="baseline", docs_url=None, redoc_url=None, openapi_url=None)

    def answers(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The model's answer for each validated row, exactly as the service shapes it."""
        return [answer.model_dump() for answer in api.answers_from(model, metadata, rows)]

    @app.post("/predict")
    def predict_row(row: api.PredictionRequest) -> dict[str, Any]:  # type: ignore[name-defined]
        return answers([row.model_dump()])[0]

    @app.post("/predict_batch")
    def predict_batch(batch: batch_model) -> dict[str, Any]:  # type: ignore[valid-type]
        return {"predictions": answers([row.model_dump() for row in batch.rows])}

    @app.get("/readyz")
    def readyz() -> str:
        return "ok"

    return app
