"""The Feast objects, built from the contract and `feature_views.py`: no column is named here.

One entity (the contract's identifier column), and per view a file source over its validated
history (`data/validated/history/<view>.parquet`), a feature view with the view's columns as
its schema, and one feature service, `model_inputs`, over every view: what training joins and
the service reads. `feature_repo/definitions.py` exposes the same objects to Feast's CLI.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64, String, UnixTimestamp

from .. import feature_views
from ..core.columns import Column
from .views import HistoryView, entity_column

FEATURE_SERVICE = "model_inputs"
# Where the history stage writes each view's validated table, relative to the feature repository.
VALIDATED_HISTORY = Path("..") / "data" / "validated" / "history"

FEAST_TYPES: dict[type, Any] = {int: Int64, float: Float64, str: String, datetime: UnixTimestamp}
ENTITY_VALUE_TYPES = {int: ValueType.INT64, str: ValueType.STRING}


def history_file(view: HistoryView, history_dir: Path = VALIDATED_HISTORY) -> Path:
    """The validated table of `view`: what its file source reads."""
    return history_dir / f"{view.name}.parquet"


def entity() -> Entity:
    column = entity_column()
    return Entity(
        name=column.name,
        join_keys=[column.name],
        value_type=ENTITY_VALUE_TYPES[column.dtype],
        description=column.description,
    )


def feature_view(view: HistoryView, keyed_by: Entity) -> FeatureView:
    source = FileSource(
        name=f"{view.name}_history",
        path=str(history_file(view)),
        timestamp_field=view.timestamp,
    )
    return FeatureView(
        name=view.name,
        entities=[keyed_by],
        ttl=view.ttl,
        schema=[_field(column) for column in view.columns],
        source=source,
        online=True,
        description=view.description,
    )


def _field(column: Column) -> Field:
    return Field(name=column.name, dtype=FEAST_TYPES[column.dtype], description=column.description)


def feature_objects() -> list[Any]:
    """Everything `apply` registers: the entity, each view (with its source) and the feature service."""
    keyed_by = entity()
    views = [feature_view(view, keyed_by) for view in feature_views.VIEWS]
    service = FeatureService(name=FEATURE_SERVICE, features=views, description="Every view the model reads")
    return [keyed_by, *views, service]
