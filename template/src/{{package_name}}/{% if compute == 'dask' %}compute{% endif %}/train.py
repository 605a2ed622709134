"""The train stage on Dask: the encoder's categories gathered from every partition, LightGBM trained with
`lightgbm.dask` on the cluster, and saved as the model the service already serves.

The saved model is the local stage's kind: a scikit-learn `Pipeline` of the project's
`FeatureEncoder` and a LightGBM estimator (`to_local()` of the distributed one), so serving, batch
scoring and the skew tests read it as any other. A binary model that decides with a cost has
`train.threshold_holdout` of each partition's rows held out of the fit (each class in proportion,
as the local stage does); their positive-class probabilities are computed on the cluster and only
they come back to choose the threshold.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
from distributed import Client
from lightgbm.dask import DaskLGBMClassifier, DaskLGBMRegressor
from sklearn.pipeline import Pipeline

from ..config import ComputeParams, ConfigError, ProblemType, ProjectConfig, TrainParams
from ..contract import TARGET
from ..core.encoding import FeatureEncoder
from ..core.featureset import encoder, feature_list
from ..estimator import SETTINGS_ERRORS, make_estimator
from ..pipeline.train import choose_threshold, held_out_positions, lineage
from ..registry.artifacts import MODEL_FILE, save_model
from .features import features_meta
from .tables import read_stage_table


def fitted_encoder(features: dd.DataFrame, client: Client) -> FeatureEncoder:
    """The encoder fitted on every partition's categories: each categorical column's distinct values
    (a missing value included) are gathered, and the encoder fits a table that holds exactly them."""
    declared = feature_list()
    distinct = client.gather(
        client.compute([features[name].drop_duplicates(split_out=1) for name in declared.categorical])
    )
    values = dict(zip(declared.categorical, (list(column) for column in distinct), strict=True))
    length = max((len(seen) for seen in values.values()), default=1)
    table = {
        name: values[name] + values[name][:1] * (length - len(values[name])) if name in values else [0.0] * length
        for name in declared.names
    }
    return encoder().fit(pd.DataFrame(table).astype(declared.dtypes))


def fit_and_held_out(rows: pd.DataFrame, params: TrainParams, number: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A partition's rows to fit on and those held out to choose the threshold, with a seed of its own."""
    fitted, held_out = held_out_positions(rows[TARGET.name], params.threshold_holdout, params.seed + number)
    return rows.iloc[fitted], rows.iloc[held_out]


def encoded_inputs(rows: pd.DataFrame, fitted: FeatureEncoder) -> np.ndarray:
    return fitted.transform(rows[list(feature_list().names)])


def distributed_estimator(problem_type: ProblemType, params: TrainParams, client: Client) -> Any:
    """The team's estimator (`estimator.make_estimator`), with its settings, as its `lightgbm.dask` twin."""
    try:
        local = make_estimator(
            classification=problem_type.is_classification, settings=params.estimator, seed=params.seed
        )
    except TypeError as error:
        raise ConfigError(f"params.yaml train.estimator: {error}") from None
    twin = DaskLGBMClassifier if problem_type.is_classification else DaskLGBMRegressor
    return twin(client=client, **local.get_params())


def fit_on_cluster(
    rows: dd.DataFrame, problem_type: ProblemType, params: TrainParams, client: Client
) -> tuple[Pipeline, int]:
    """Fit encoder and estimator on every partition of `rows`; the local model and the rows it was fitted on."""
    # Held in the workers' memory: read once for the categories and the encoding, and the inputs and
    # the target come from the same partitions (a column read alone can be partitioned otherwise).
    rows = client.persist(rows)
    fitted = fitted_encoder(rows, client)
    inputs = rows.map_partitions(encoded_inputs, fitted, meta=np.empty((0, 0), dtype="float64"))
    inputs, target = client.persist([inputs, rows[TARGET.name].to_dask_array()])
    inputs.compute_chunk_sizes()
    target.compute_chunk_sizes()
    estimator = distributed_estimator(problem_type, params, client)
    try:
        with warnings.catch_warnings():
            # lightgbm.dask warns about its own default `n_jobs`: each worker trains on its own threads.
            warnings.filterwarnings("ignore", "Parameter n_jobs will be ignored", UserWarning)
            estimator.fit(inputs, target)
    except SETTINGS_ERRORS as error:  # estimators check their settings when fitting starts
        raise ConfigError(f"params.yaml train.estimator: {error}") from None
    return Pipeline([("encode", fitted), ("estimate", estimator.to_local())]), int(target.shape[0])


def positives_and_probabilities(model: Pipeline, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Whether each row is of the positive class, and the model's probability that it is."""
    probability = model.predict_proba(rows[list(feature_list().names)])[:, 1]
    return (rows[TARGET.name] == model.classes_[1]).to_numpy(), probability


def train_file(
    features_path: Path,
    data_record: Path,
    model_dir: Path,
    config: ProjectConfig,
    params: TrainParams,
    client: Client,
    settings: ComputeParams,
) -> dict[str, Any]:
    """Train on a features file on the cluster, choose the decision threshold, save the model; return its metadata."""
    rows = read_stage_table(features_path, settings)
    metadata = lineage(features_path, data_record, config.problem_type, params)
    metadata["compute"] = {"engine": "dask", "workers": len(client.scheduler_info()["workers"])}
    if config.problem_type is ProblemType.BINARY_CLASSIFICATION and config.decision is not None:
        pairs = [dask.delayed(fit_and_held_out, nout=2)(part, params, n) for n, part in enumerate(rows.to_delayed())]
        held_out = [part for _, part in pairs]
        fit_rows = dd.from_delayed([part for part, _ in pairs], meta=features_meta())
        model, metadata["training_rows"] = fit_on_cluster(fit_rows, config.problem_type, params, client)
        scored = client.gather(
            client.compute([dask.delayed(positives_and_probabilities)(model, part) for part in held_out])
        )
        is_positive = np.concatenate([positive for positive, _ in scored])
        probability = np.concatenate([probability for _, probability in scored])
        fn_cost = config.decision.false_negative_cost
        metadata |= {
            "decision_threshold": choose_threshold(is_positive, probability, fn_cost),
            "false_negative_cost": fn_cost,
            "threshold_rows": len(is_positive),
        }
    else:
        model, metadata["training_rows"] = fit_on_cluster(rows, config.problem_type, params, client)
    if config.problem_type.is_classification:
        metadata["classes"] = [str(label) for label in model.classes_]
    return save_model(model, model_dir / MODEL_FILE, metadata)
