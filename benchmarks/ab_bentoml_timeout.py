"""The A/B of benchmarks/README.md: a generated project's service with BentoML's own request timeout put back.

    uv run --project <project> python benchmarks/serve.py --apps bentoml --service ab_bentoml_timeout:ModelService

One change from the project's service: BentoML's `TimeoutMiddleware`, whose timers outlive the
requests they time, instead of the project's `serving.middleware.RequestTimeout`. Compare max
and stalls at 16 connections with a run of the project's service. `serve.py` puts this folder
on the servers' `PYTHONPATH`; `bentoml serve` imports this module in the project's folder.
"""

from bentoml._internal.server.http import traffic as bentoml_traffic
from target import project_module

service = project_module("serving.service")
bentoml_traffic.TimeoutMiddleware = service.BENTOML_TIMEOUT_MIDDLEWARE  # type: ignore[misc]
ModelService = service.ModelService

__all__ = ["ModelService"]
