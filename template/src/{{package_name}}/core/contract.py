"""The team's contract (`contract.py`) as the platform reads it: columns by role, with or without the target.

Read at call time, not copied at import, so every stage and the service see one contract.
"""

from __future__ import annotations

from .. import contract
from .columns import Column, Role


def columns_with_role(*roles: Role) -> tuple[Column, ...]:
    """The input columns with any of `roles`, in contract order."""
    return tuple(column for column in contract.COLUMNS if column.role in roles)


def contract_columns(*, with_target: bool = True) -> tuple[Column, ...]:
    """The columns a file must have: the inputs, and the target for training data."""
    return (*contract.COLUMNS, contract.TARGET) if with_target else contract.COLUMNS
