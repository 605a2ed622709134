"""The vocabulary of `feature_views.py`: a history table the feature store serves, checked against the contract.

No Feast here: the contract, validation and the feature code read views without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..core.columns import Column, Role
from ..core.contract import contract_columns


@dataclass(frozen=True)
class HistoryView:
    """One feature view: a table of `columns` per entity (the contract's identifier) and `timestamp`.

    Its file is `data/history/<name>.csv` (or `.parquet`). A row of it is valid for `ttl`
    after its timestamp: older, the join leaves the row's values missing, and the service
    flags them stale.
    """

    name: str
    description: str
    timestamp: str
    ttl: timedelta
    columns: tuple[Column, ...]

    def __post_init__(self) -> None:
        where = f"feature_views.py: view {self.name!r}"
        if not self.columns:
            raise ValueError(f"{where} declares no columns")
        if self.ttl <= timedelta(0):
            raise ValueError(f"{where}: ttl must be positive, got {self.ttl}")
        taken = {column.name for column in contract_columns()}
        for column in self.columns:
            if column.name in taken or column.name == self.timestamp:
                raise ValueError(f"{where}: column {column.name!r} is already a contract column or the timestamp")
            if not column.nullable:
                raise ValueError(f"{where}: column {column.name!r} must be nullable (a row may have no history)")
            if column.role not in (Role.NUMERIC, Role.CATEGORICAL, Role.SEGMENT) or column.dtype is datetime:
                raise ValueError(f"{where}: column {column.name!r} must be a number or a category")


def entity_column() -> Column:
    """The contract's identifier column: what every view is keyed by, and what a request names."""
    return _only(Role.IDENTIFIER, "the entity every feature view is keyed by")


def event_timestamp_column() -> Column:
    """The contract's timestamp column: each training row's (and request's) point in time."""
    return _only(Role.TIMESTAMP, "each row's point in time for the feature views")


def _only(role: Role, purpose: str) -> Column:
    matching = [column for column in contract_columns(with_target=False) if column.role is role]
    if len(matching) != 1:
        names = [column.name for column in matching]
        raise ValueError(f"contract.py: a feature store needs exactly one {role} column, {purpose}; found {names}")
    return matching[0]
