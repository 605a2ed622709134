"""The team's feature list (`features.FEATURES`) as the platform reads it, and `build_features` held to it.

`model_inputs` is the one way rows become model inputs: in the features stage, training and
evaluation (through the features files), the service and monitoring. It calls the team's
`build_features` and checks that it returned exactly the declared features, so a column
added in one place and not the other stops the run with an error naming it instead of being
dropped. The names, dtypes and categorical features every other module needs come from the
same list. Both are read at call time, not copied at import, so replacing `FEATURES` and
`build_features` (as `tests/test_added_feature.py` does) changes every path at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .. import contract, features
from .columns import PANDAS_DTYPES
from .errors import ProjectError
from .feature import Feature, FeatureKind

if TYPE_CHECKING:
    from .encoding import FeatureEncoder


class FeatureListError(ProjectError):
    """`build_features` and `FEATURES` disagree, or `FEATURES` is not a list the model can use."""


@dataclass(frozen=True)
class FeatureList:
    """`FEATURES`, checked, with what the platform looks up in it."""

    features: tuple[Feature, ...]
    names: tuple[str, ...]
    dtypes: dict[str, str]
    categorical: tuple[str, ...]
    # The pandas dtype objects, compared with a frame's dtypes on every call (cheaper than strings).
    pandas_dtypes: tuple[Any, ...]


_checked: list[FeatureList] = []  # the last list checked, reused while `features.FEATURES` is the same object


def feature_list() -> FeatureList:
    """The declared features: unique names, none of them the target."""
    declared = features.FEATURES
    if _checked and _checked[0].features is declared:
        return _checked[0]
    names = tuple(feature.name for feature in declared)
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise FeatureListError(f"features.py: FEATURES declares {_quoted(twice)} more than once")
    if contract.TARGET.name in names:
        raise FeatureListError(f"features.py: FEATURES declares the target {contract.TARGET.name!r} as a feature")
    checked = FeatureList(
        features=declared,
        names=names,
        dtypes={feature.name: feature.dtype for feature in declared},
        categorical=tuple(feature.name for feature in declared if feature.kind is FeatureKind.CATEGORICAL),
        pandas_dtypes=tuple(pd.api.types.pandas_dtype(feature.dtype) for feature in declared),
    )
    _checked[:] = [checked]
    return checked


def model_inputs(rows: pd.DataFrame) -> pd.DataFrame:
    """`build_features(rows)`, checked to be exactly `FEATURES`, in their order and with their kinds' dtypes."""
    declared = feature_list()
    built = features.build_features(rows)
    if tuple(built.columns) != declared.names:
        problem = _difference(built.columns, declared.names)
        if problem:
            raise FeatureListError(f"build_features does not return the features FEATURES declares: {problem}")
        built = built[list(declared.names)]
    if built.dtypes.tolist() != list(declared.pandas_dtypes):
        built = built.astype(declared.dtypes)
    return built


def _difference(found: Iterable[str], declared: tuple[str, ...]) -> str:
    """What separates `found` columns from the declared features, with what to do; empty when only the order."""
    found = list(found)
    undeclared = [name for name in found if name not in declared]
    missing = [name for name in declared if name not in found]
    twice = sorted({name for name in found if found.count(name) > 1})
    problems = []
    if undeclared:
        problems.append(
            f"{_quoted(undeclared)} not declared (add a Feature for each to FEATURES in features.py, "
            "or stop returning it)"
        )
    if missing:
        problems.append(f"{_quoted(missing)} missing (compute each in build_features, or remove it from FEATURES)")
    if twice:
        problems.append(f"{_quoted(twice)} returned more than once")
    return "; ".join(problems)


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(repr(name) for name in names)


def encoder() -> FeatureEncoder:
    """An unfitted encoder: categorical features one-hot (unseen categories all zeros), numbers passed through."""
    # Imported here: the features stage and the service's row handling need no scikit-learn.
    from .encoding import FeatureEncoder

    return FeatureEncoder(categorical=list(feature_list().categorical))


def features_table(rows: pd.DataFrame) -> pd.DataFrame:
    """What a features file holds: the model inputs of validated rows, then their target."""
    return model_inputs(rows).assign(**{contract.TARGET.name: rows[contract.TARGET.name]})


def write_features(rows: pd.DataFrame, path: Path) -> None:
    """Write the model inputs of validated rows, with their target, for the train and evaluate stages."""
    from .tables import write_table  # imported here: the service never writes files

    write_table(features_table(rows), path)


def read_features(path: Path) -> tuple[pd.DataFrame, pd.Series]:
    """Model inputs and target written by `write_features`, typed exactly as `model_inputs` types them."""
    from .tables import read_table

    declared, target = feature_list(), contract.TARGET
    frame = read_table(path)
    expected = (*declared.names, target.name)
    if sorted(frame.columns) != sorted(expected):
        raise FeatureListError(
            f"{path} holds the columns {_quoted(frame.columns)}, but FEATURES and the target are "
            f"{_quoted(expected)}: rerun the features stage (`uv run dvc repro`)"
        )
    inputs = frame[list(declared.names)]
    if inputs.dtypes.tolist() != list(declared.pandas_dtypes):  # FEATURES changed a kind since the file was written
        inputs = inputs.astype(declared.dtypes)
    return inputs, frame[target.name].astype(PANDAS_DTYPES[target.dtype])
