"""The fairness stage: the candidate's outcomes compared across the groups of each sensitive column.

The contract marks protected attributes with `Column(..., sensitive=True)`; a model input or
not (a `Role.PERSONAL` column never reaches the model, so its audit measures what correlated
inputs carry of it). The stage reads the held-out rows as the split stage wrote them (every
column, so a sensitive column the model never sees is there), predicts them through
`model_inputs` and `predict` as evaluate does, and computes per group, with fairlearn's
`MetricFrame`:

    binary classification      selection rate, true positive rate, false positive rate
    multiclass classification  accuracy
    regression                 mean absolute error, mean prediction

A metric's disparity ratio is its smallest group value over its largest: 1 is parity, 0.8 the
four-fifths rule. It reads the same whichever side is favourable, so it needs no direction: for
an error metric the group with the largest value is the one the model serves worst. Multiclass
compares accuracy only: each class's one-vs-rest selection rate rests, for a rare class, on a
handful of rows per group (on the sample's 400 test rows, a band drawn independently of every
column put the rarest class's ratio at 0.11). A group with fewer rows behind a metric than
params.yaml `fairness.min_group_rows` is reported but left out of its ratio, with the reason.

It writes `reports/fairness.json` (a DVC metrics file: min_ratio, passed, failures, and per
sensitive column its groups' rows and each metric's values and ratio) and
`reports/plots/fairness.png`. It never fails on a disparity: the gate does
(`disparity_failures` against ml-project.yaml `fairness.min_ratio`), so the report is written
first, and `register` keeps it with the version for `promote` to judge again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..core.metrics import reported
from ..registry.store import FAIRNESS_FILE

if TYPE_CHECKING:
    from ..config import FairnessParams
    from ..core.predict import Predictions

PLOT_FILE = "fairness.png"
MISSING_GROUP = "__missing__"
NO_SENSITIVE_COLUMN = (
    "the contract marks no column sensitive (Column(..., sensitive=True) in contract.py): no groups to compare"
)


@dataclass(frozen=True)
class GroupMetric:
    """A metric compared across groups, and which of a group's rows its value rests on."""

    function: Callable[[np.ndarray, np.ndarray], float]  # (target, predicted) -> value, as MetricFrame calls it
    counted: str  # what the rows behind a value are, in a reason: "rows", "actual positives"...
    rows: Callable[[np.ndarray], np.ndarray]  # a mask over the target: the rows behind the value


def every_row(target: np.ndarray) -> np.ndarray:
    return np.ones(len(target), dtype=bool)


def group_metrics(predictions: Predictions) -> dict[str, GroupMetric]:
    """The metrics compared across groups for this model's problem type (see this module's docstring)."""
    from fairlearn.metrics import false_positive_rate, mean_prediction, selection_rate, true_positive_rate
    from sklearn.metrics import accuracy_score, mean_absolute_error

    if predictions.classes is None:
        return {
            "mean_absolute_error": GroupMetric(mean_absolute_error, "rows", every_row),
            "mean_prediction": GroupMetric(mean_prediction, "rows", every_row),
        }
    if len(predictions.classes) > 2:
        return {"accuracy": GroupMetric(accuracy_score, "rows", every_row)}
    positive = predictions.classes[1]
    return {
        "selection_rate": GroupMetric(lambda y, p: selection_rate(y, p, pos_label=positive), "rows", every_row),
        "true_positive_rate": GroupMetric(
            lambda y, p: true_positive_rate(y, p, pos_label=positive), "actual positives", lambda y: y == positive
        ),
        "false_positive_rate": GroupMetric(
            lambda y, p: false_positive_rate(y, p, pos_label=positive), "actual negatives", lambda y: y != positive
        ),
    }


def group_labels(values: pd.Series) -> pd.Series:
    """Each row's group as text; a missing value is a group of its own (`__missing__`)."""
    return values.astype("string").fillna(MISSING_GROUP).astype(str)


def disparity_ratio(values: Mapping[str, float]) -> float | None:
    """Smallest value / largest; None with fewer than two groups; 1.0 when every value is 0 (all equal)."""
    if len(values) < 2:
        return None
    largest = max(values.values())
    return 1.0 if largest == 0 else reported(min(values.values()) / largest)


def attribute_report(
    groups: pd.Series,
    target: np.ndarray,
    predicted: np.ndarray,
    metrics: Mapping[str, GroupMetric],
    min_group_rows: int,
) -> dict[str, Any]:
    """One sensitive column's entry: its groups' row counts, and per metric the groups' values and ratio.

    A group with fewer than `min_group_rows` rows behind a metric is reported with its value and
    listed under `not_gated` with the reason, and left out of the ratio. A value with no row behind
    it (a true positive rate where the group has no actual positive) is None.
    """
    from fairlearn.metrics import MetricFrame

    frame = MetricFrame(
        metrics={name: metric.function for name, metric in metrics.items()},
        y_true=target,
        y_pred=predicted,
        sensitive_features=groups.to_numpy(),
    ).by_group
    names = sorted(groups.unique())
    entry: dict[str, Any] = {"rows": {name: int(count) for name, count in groups.value_counts().loc[names].items()}}
    entry["metrics"] = {}
    for metric_name, metric in metrics.items():
        behind = pd.Series(metric.rows(target)).groupby(groups.to_numpy()).sum()
        values = {name: float(frame.loc[name, metric_name]) for name in names if behind[name]}
        by_group = {name: reported(values[name]) if name in values else None for name in names}
        small = {
            name: f"{int(behind[name])} {metric.counted}, fewer than fairness.min_group_rows {min_group_rows}"
            for name in names
            if behind[name] < min_group_rows
        }
        gated = {name: value for name, value in values.items() if name not in small}
        result: dict[str, Any] = {"by_group": by_group, "ratio": disparity_ratio(gated)}
        if small:
            result["not_gated"] = small
        entry["metrics"][metric_name] = result
    return entry


def disparity_failures(attributes: Mapping[str, Any], min_ratio: float) -> list[str]:
    """One sentence per ratio below `min_ratio`: the column, the metric, both groups and their values."""
    failures = []
    for attribute, entry in attributes.items():
        for metric_name, result in entry["metrics"].items():
            ratio = result["ratio"]
            if ratio is None or ratio >= min_ratio:
                continue
            skipped = result.get("not_gated", {})
            gated = {
                name: value for name, value in result["by_group"].items() if name not in skipped and value is not None
            }
            lowest, highest = min(gated, key=gated.__getitem__), max(gated, key=gated.__getitem__)
            failures.append(
                f"{attribute}: {metric_name} ratio {ratio:.3f} is below {min_ratio}: "
                f"{lowest} {gated[lowest]:.3f} against {highest} {gated[highest]:.3f}"
            )
    return failures


def fairness_report(attributes: Mapping[str, Any], min_ratio: float) -> dict[str, Any]:
    """What reports/fairness.json holds: the threshold, the verdict, its failures and every attribute's entry."""
    failures = disparity_failures(attributes, min_ratio)
    report: dict[str, Any] = {
        "min_ratio": min_ratio,
        "passed": not failures,
        "failures": failures,
        "attributes": dict(attributes),
    }
    return report if attributes else {**report, "note": NO_SENSITIVE_COLUMN}


def fairness_of_rows(
    rows: pd.DataFrame, predictions: Predictions, min_ratio: float, min_group_rows: int
) -> dict[str, Any]:
    """The report for held-out rows (every contract column and the target) and the model's predictions of them."""
    from .. import contract
    from ..core.contract import sensitive_columns

    target = rows[contract.TARGET.name].to_numpy()
    metrics = group_metrics(predictions)
    attributes = {
        column.name: attribute_report(
            group_labels(rows[column.name]), target, predictions.values, metrics, min_group_rows
        )
        for column in sensitive_columns()
    }
    return fairness_report(attributes, min_ratio)


def fairness_files(
    rows_path: Path, model_path: Path, reports_dir: Path, params: FairnessParams, min_ratio: float
) -> dict[str, Any]:
    """The stage: predict the held-out rows of `rows_path`, write the report and its plot; return the report."""
    # Imported here: the gate reads `disparity_failures` from this module and needs none of these.
    from ..core.featureset import model_inputs
    from ..core.predict import predict
    from ..core.tables import read_table
    from ..registry.artifacts import load_model

    rows = read_table(rows_path)
    model, metadata = load_model(model_path)
    report = fairness_of_rows(rows, predict(model, metadata, model_inputs(rows)), min_ratio, params.min_group_rows)
    path = reports_dir / FAIRNESS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    fairness_plot(report, reports_dir / "plots" / PLOT_FILE)
    return report


def fairness_plot(report: Mapping[str, Any], path: Path) -> Path:
    """Bars of each metric's group values, a panel per attribute and metric, and the line every group must reach.

    The dashed line is `min_ratio` times the largest gated value: a gated bar below it is a failure.
    Groups that are not gated are grey.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .plots import save

    panels = [
        (attribute, name, result)
        for attribute, entry in report["attributes"].items()
        for name, result in entry["metrics"].items()
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    figure = Figure(figsize=(4 * max(len(panels), 1), 3.5), layout="constrained")
    FigureCanvasAgg(figure)
    if not panels:
        axes = figure.subplots()
        axes.axis("off")
        axes.text(0.5, 0.5, "No column is marked sensitive in the contract", ha="center", va="center")
        return save(figure, path)
    for axes, (attribute, name, result) in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels, strict=True):
        skipped = result.get("not_gated", {})
        groups = list(result["by_group"])
        values = [result["by_group"][group] or 0.0 for group in groups]
        axes.bar(groups, values, color=["lightgrey" if group in skipped else "tab:blue" for group in groups])
        gated = [value for group, value in zip(groups, values, strict=True) if group not in skipped]
        if gated:
            floor = report["min_ratio"] * max(gated)
            axes.axhline(floor, color="red", linestyle="--", label=f"{report['min_ratio']} x largest")
            axes.legend(loc="lower right", fontsize="small")
        ratio = "n/a" if result["ratio"] is None else f"{result['ratio']:.2f}"
        axes.set(title=f"{name} (ratio {ratio})", xlabel=attribute)
        axes.tick_params(axis="x", labelrotation=30)
    return save(figure, path)
