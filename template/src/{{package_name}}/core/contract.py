"""The team's contract (`contract.py`) as the platform reads it: columns by role, with or without the target.

Read at call time, not copied at import, so every stage and the service see one contract.
A feature-store project also declares history tables in `feature_views.py`: their columns
are in no raw file and no request (`contract_columns`), but in the rows the model sees
(`served_columns`, `columns_with_role`). A project without that module has no such columns.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.util import find_spec
from types import ModuleType

from .. import contract
from .columns import Column, Role

FEATURE_VIEWS_MODULE = f"{__package__.rpartition('.')[0]}.feature_views"


def columns_with_role(*roles: Role) -> tuple[Column, ...]:
    """The input columns with any of `roles`, in contract order, then those feature views supply."""
    return tuple(column for column in served_columns() if column.role in roles)


def sensitive_columns() -> tuple[Column, ...]:
    """The protected attributes (`Column(..., sensitive=True)`) the fairness stage compares groups of."""
    return tuple(column for column in served_columns() if column.sensitive)


def contract_columns(*, with_target: bool = True) -> tuple[Column, ...]:
    """The columns a raw file or a request must have: the inputs, and the target for training data."""
    return (*contract.COLUMNS, contract.TARGET) if with_target else contract.COLUMNS


def served_columns() -> tuple[Column, ...]:
    """Every input column of the rows the model sees: the contract's, then the feature views'."""
    return (*contract.COLUMNS, *view_columns())


def view_columns() -> tuple[Column, ...]:
    """The columns the project's feature views supply (`feature_views.py`), in their order; none without it."""
    module = _feature_views_module()
    return () if module is None else tuple(column for view in module.VIEWS for column in view.columns)


@cache
def _feature_views_module() -> ModuleType | None:
    """`feature_views`, looked up once: the service's feature code asks for columns on every request."""
    return None if find_spec(FEATURE_VIEWS_MODULE) is None else importlib.import_module(FEATURE_VIEWS_MODULE)
