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

A ratio below ml-project.yaml `fairness.min_ratio` fails when the gap between its smallest and
largest group is statistically significant (Welch's t-test on the rows' parts of the metric,
Bonferroni-adjusted for the pairs of groups, p at or below `fairness.significance_level`); otherwise
it is a warning. On the sample's 400 test rows,
sampling noise alone spreads a four-group ratio from about 0.5 to 1 across draws of an attribute
with no real disparity: without the test the gate would fail at random.

It writes `reports/fairness.json` (a DVC metrics file: min_ratio, significance_level, passed,
failures, warnings, and per sensitive column its groups' rows and each metric's values, ratio and
p_value) and `reports/plots/fairness.png`. It never fails on a disparity: the gate does
(`disparity_findings` against ml-project.yaml `fairness`), so the report is written first, and
`register` keeps it with the version for `promote` to judge again.
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
    from ..config import Fairness, FairnessParams
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
    # (target, predicted) -> each row's part: the value is its mean over the rows behind, which the
    # significance test compares between two groups.
    per_row: Callable[[np.ndarray, np.ndarray], np.ndarray]


def every_row(target: np.ndarray) -> np.ndarray:
    return np.ones(len(target), dtype=bool)


def group_metrics(predictions: Predictions) -> dict[str, GroupMetric]:
    """The metrics compared across groups for this model's problem type (see this module's docstring)."""
    from fairlearn.metrics import false_positive_rate, mean_prediction, selection_rate, true_positive_rate
    from sklearn.metrics import accuracy_score, mean_absolute_error

    if predictions.classes is None:
        return {
            "mean_absolute_error": GroupMetric(
                mean_absolute_error, "rows", every_row, lambda y, p: np.abs(p.astype(float) - y.astype(float))
            ),
            "mean_prediction": GroupMetric(mean_prediction, "rows", every_row, lambda y, p: p.astype(float)),
        }
    if len(predictions.classes) > 2:
        return {"accuracy": GroupMetric(accuracy_score, "rows", every_row, lambda y, p: (p == y).astype(float))}
    positive = predictions.classes[1]

    def selected(target: np.ndarray, predicted: np.ndarray) -> np.ndarray:
        return (predicted == positive).astype(float)

    return {
        "selection_rate": GroupMetric(
            lambda y, p: selection_rate(y, p, pos_label=positive), "rows", every_row, selected
        ),
        "true_positive_rate": GroupMetric(
            lambda y, p: true_positive_rate(y, p, pos_label=positive),
            "actual positives",
            lambda y: y == positive,
            selected,
        ),
        "false_positive_rate": GroupMetric(
            lambda y, p: false_positive_rate(y, p, pos_label=positive),
            "actual negatives",
            lambda y: y != positive,
            selected,
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


def gap_p_value(low: np.ndarray, high: np.ndarray) -> float | None:
    """Welch's t-test: how likely two groups' per-row values this far apart are, if their means were equal.

    For a rate (each row 0 or 1) it is the usual two-proportion test. None when either group has
    fewer than two rows (no variance to judge by): the ratio alone decides.
    """
    from scipy.stats import t as student_t

    if len(low) < 2 or len(high) < 2:
        return None
    low_share, high_share = low.var(ddof=1) / len(low), high.var(ddof=1) / len(high)
    spread = low_share + high_share
    gap = abs(float(high.mean() - low.mean()))
    if spread == 0:  # every row alike within each group: any gap is certain
        return 1.0 if gap == 0 else 0.0
    freedom = spread**2 / (low_share**2 / (len(low) - 1) + high_share**2 / (len(high) - 1))
    return float(2 * student_t.sf(gap / np.sqrt(spread), freedom))


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
    it (a true positive rate where the group has no actual positive) is None. `p_value` is the
    significance test of the gap between the smallest and the largest gated group (`gap_p_value`),
    multiplied by the number of pairs of gated groups (Bonferroni: that pair was picked as the
    most extreme).
    """
    from fairlearn.metrics import MetricFrame

    frame = MetricFrame(
        metrics={name: metric.function for name, metric in metrics.items()},
        y_true=target,
        y_pred=predicted,
        sensitive_features=groups.to_numpy(),
    ).by_group
    names = sorted(groups.unique())
    counts = groups.value_counts()
    metrics_entry: dict[str, Any] = {}
    entry: dict[str, Any] = {"rows": {name: int(counts[name]) for name in names}, "metrics": metrics_entry}
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
        if result["ratio"] is not None:
            parts, behind_rows = metric.per_row(target, predicted), metric.rows(target)
            low, high = min(gated, key=gated.__getitem__), max(gated, key=gated.__getitem__)
            low_rows, high_rows = (behind_rows & (groups == name).to_numpy() for name in (low, high))
            p_value = gap_p_value(parts[low_rows], parts[high_rows])
            # The extreme pair is the likeliest of all pairs to differ by chance: Bonferroni over every pair.
            pairs = len(gated) * (len(gated) - 1) // 2
            result["p_value"] = None if p_value is None else reported(min(1.0, p_value * pairs))
        if small:
            result["not_gated"] = small
        metrics_entry[metric_name] = result
    return entry


def disparity_findings(
    attributes: Mapping[str, Any], min_ratio: float, significance_level: float
) -> tuple[list[str], list[str]]:
    """Every ratio below `min_ratio`, one sentence each naming the column, the metric, both groups and their
    values: a failure when the gap is significant (p at or below `significance_level`, or no test), else a warning.

    On a few hundred rows, sampling noise alone moves a four-group ratio by about 0.1: a gap the test
    cannot tell from noise is reported, not failed. On thousands of rows the test rarely excuses one.
    """
    failures, warnings = [], []
    for attribute, entry in attributes.items():
        for metric_name, result in entry["metrics"].items():
            ratio = result["ratio"]
            if ratio is None or ratio >= min_ratio:
                continue
            skipped = result.get("not_gated", {})
            values = result["by_group"].items()
            gated = {name: value for name, value in values if name not in skipped and value is not None}
            lowest, highest = min(gated, key=gated.__getitem__), max(gated, key=gated.__getitem__)
            p_value = result.get("p_value")
            sentence = (
                f"{attribute}: {metric_name} ratio {ratio:.3f} is below {min_ratio}: "
                f"{lowest} {gated[lowest]:.3f} against {highest} {gated[highest]:.3f}"
            )
            if p_value is None or p_value <= significance_level:
                failures.append(sentence if p_value is None else f"{sentence} (p = {p_value:.3g})")
            else:
                warnings.append(f"{sentence}, but the gap is not significant (p = {p_value:.3g})")
    return failures, warnings


def fairness_report(attributes: Mapping[str, Any], min_ratio: float, significance_level: float) -> dict[str, Any]:
    """What reports/fairness.json holds: the threshold, the verdict, its failures (and warnings) and every
    attribute's entry."""
    failures, warnings = disparity_findings(attributes, min_ratio, significance_level)
    report: dict[str, Any] = {
        "min_ratio": min_ratio,
        "significance_level": significance_level,
        "passed": not failures,
        "failures": failures,
        "warnings": warnings,
        "attributes": dict(attributes),
    }
    return report if attributes else {**report, "note": NO_SENSITIVE_COLUMN}


def fairness_of_rows(
    rows: pd.DataFrame, predictions: Predictions, settings: Fairness, min_group_rows: int
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
    return fairness_report(attributes, settings.min_ratio, settings.significance_level)


def fairness_files(
    rows_path: Path, model_path: Path, reports_dir: Path, params: FairnessParams, settings: Fairness
) -> dict[str, Any]:
    """The stage: predict the held-out rows of `rows_path`, write the report and its plot; return the report."""
    # Imported here: the gate reads `disparity_findings` from this module and needs none of these.
    from ..core.featureset import model_inputs
    from ..core.predict import predict
    from ..core.tables import read_table
    from ..registry.artifacts import load_model

    rows = read_table(rows_path)
    model, metadata = load_model(model_path)
    report = fairness_of_rows(rows, predict(model, metadata, model_inputs(rows)), settings, params.min_group_rows)
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
        values = {group: value or 0.0 for group, value in result["by_group"].items()}
        gated = {group: value for group, value in values.items() if group not in skipped}
        axes.bar(list(values), list(values.values()), color="lightgrey", label="not gated (too few rows)")
        axes.bar(list(gated), list(gated.values()), color="tab:blue", label="gated")
        if gated:
            floor = report["min_ratio"] * max(gated.values())
            axes.axhline(floor, color="red", linestyle="--", label=f"{report['min_ratio']} x largest")
        axes.legend(loc="lower right", fontsize="small")
        ratio = "n/a" if result["ratio"] is None else f"{result['ratio']:.2f}"
        axes.set(title=f"{name} (ratio {ratio})", xlabel=attribute)
        axes.tick_params(axis="x", labelrotation=30)
    return save(figure, path)
