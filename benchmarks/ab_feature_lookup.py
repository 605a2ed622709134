"""The B side of the feature-lookup A/B (benchmarks/feature_lookup.py): a feast project's service without the lookup.

    uv run --project <feast project> python benchmarks/feature_lookup.py

One change from the project's service: the online store is never opened (`open_lookup` answers
None, as in a project without feature views), and the request model takes every served column
(the contract's inputs and the views'), so a request carries the values the lookup would have
read. Everything else (validation, batching, features, prediction, stale-flag field, log,
metrics) is the service's own code. The view columns are three more fields to validate per
request on this side: the A/B's difference slightly understates the lookup's cost by that.
"""

from target import project_module

contract = project_module("core.contract")
requests = project_module("core.requests")
real_contract_columns = requests.contract_columns


def served_request_columns(*, with_target: bool = True) -> tuple:
    """What the request model and frames are built from: every served column instead of the request's."""
    return real_contract_columns(with_target=True) if with_target else contract.served_columns()


# Before the service's modules are imported: they build the request model when imported.
requests.contract_columns = served_request_columns
loading = project_module("serving.loading")
loading.open_lookup = lambda: None  # no store opened, Feast never imported: as a project without views
loading.COLUMNS = contract.served_columns()  # the warm-up's example row carries the views' examples too
service = project_module("serving.service")
ModelService = service.ModelService

__all__ = ["ModelService"]
