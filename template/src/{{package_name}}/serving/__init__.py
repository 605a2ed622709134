"""The BentoML service: request handling, batching, middleware, the served model and its shadow."""
