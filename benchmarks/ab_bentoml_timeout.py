"""The A/B of benchmarks/README.md: a generated project's service with BentoML's own request timeout put back.

    uv run --project <project> python benchmarks/serve.py --apps bentoml --service ab_bentoml_timeout:ModelService

One change from the project's service: BentoML's `TimeoutMiddleware` as BentoML ships it, whose
timers outlive the requests they time, instead of timing requests as the project's
`serving.middleware.RequestTimeout` does. Compare max and stalls at 16 connections with a run
of the project's service. `serve.py` puts this folder on the servers' `PYTHONPATH`;
`bentoml serve` imports this module in the project's folder.
"""

from target import project_module

service = project_module("serving.service")
# The service calls `replace_bentoml_timeout` (imported from its middleware module) as a worker
# starts; as a no-op here, BentoML's own middleware times every request.
service.replace_bentoml_timeout = lambda: None
ModelService = service.ModelService

__all__ = ["ModelService"]
