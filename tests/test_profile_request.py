"""`benchmarks/profile_request.py` puts each py-spy sample in the stage of its innermost named frame."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest

from benchmarks import target

MIDDLEWARE = "BodySizeLimit.__call__ (churn_pilot/serving/middleware.py:89)"
ENDPOINT = "ModelService.predict (churn_pilot/serving/service.py:140)"
MODEL = "predict (churn_pilot/core/predict.py:33)"
TREES = "TreePredictor.predict (sklearn/ensemble/_hist_gradient_boosting/predictor.py:45)"
SEND = "OpenTelemetryMiddleware._get_otel_send.<locals>.otel_send (opentelemetry/instrumentation/asgi/__init__.py:700)"
SOCKET = "UVTransport.write (uvloop/transport.py:1)"


@pytest.fixture
def profiler(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The script, imported as it runs: with its own folder on the path."""
    monkeypatch.syspath_prepend(str(target.BENCHMARKS_DIR))
    return importlib.import_module("profile_request")


def test_a_sample_belongs_to_its_innermost_stage_not_to_the_ones_that_called_it(profiler: ModuleType) -> None:
    assert profiler.stage_of([MIDDLEWARE, ENDPOINT, MODEL, TREES]) == "model (estimator and encoder)"
    assert profiler.stage_of([MIDDLEWARE, ENDPOINT]) == "batching and request handling"
    assert profiler.stage_of([MIDDLEWARE, SEND, SOCKET]) == "tracing (OpenTelemetry)"
    assert profiler.stage_of([SOCKET]) == profiler.SERVER


def test_samples_are_counted_per_stage_from_py_spy_raw_output(profiler: ModuleType, tmp_path: Path) -> None:
    raw = tmp_path / "stacks.txt"
    raw.write_text(
        f"{MIDDLEWARE};{ENDPOINT};{MODEL};{TREES} 7\n"
        f"{MIDDLEWARE};{ENDPOINT};{MODEL} 3\n"
        f'process 12:"python -m _bentoml_impl.worker";{SOCKET} 2\n'
    )
    assert profiler.stage_samples(raw) == {"model (estimator and encoder)": 10, profiler.SERVER: 2}
