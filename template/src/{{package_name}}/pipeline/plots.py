"""The evaluate stage's plots: data files `dvc plots` renders and compares, and the same plots as PNG.

Classification writes a confusion matrix (`confusion.csv`: one row per test row, actual and
predicted label); binary classification adds the ROC curve (`roc.csv`: fpr, tpr, threshold)
and the precision-recall curve (`precision_recall.csv`: recall, precision, threshold), each
marking where the decision threshold operates. Regression writes `residuals.csv` (actual,
predicted, residual) for predicted-vs-actual and residual plots. Every model gets a bar chart
of permutation importance. Drawn with matplotlib's object API on the Agg canvas: no pyplot, no
display, no global figure state.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve

from ..core.metrics import REPORTED_DECIMALS
from ..core.predict import Predictions


def new_figure(width: float = 5, height: float = 4) -> tuple[Figure, Axes]:
    """A figure with one set of axes, drawn by the Agg canvas."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots()


def save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, dpi=100)
    return path


def write_data(data: pd.DataFrame, path: Path) -> Path:
    data.round(REPORTED_DECIMALS).to_csv(path, index=False, lineterminator="\n")
    return path


def roc_plot(
    directory: Path, is_positive: np.ndarray, positive_probability: np.ndarray, flagged: np.ndarray
) -> list[Path]:
    """The ROC curve, with the operating point of the decisions actually made."""
    fpr, tpr, thresholds = roc_curve(is_positive, positive_probability)
    data = pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": np.minimum(thresholds, 1.0)})
    figure, axes = new_figure()
    axes.plot(fpr, tpr, label="model")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    false_positive_rate, true_positive_rate = flagged[~is_positive].mean(), flagged[is_positive].mean()
    axes.scatter([false_positive_rate], [true_positive_rate], color="red", label="decision threshold")
    axes.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC curve")
    axes.legend(loc="lower right")
    return [write_data(data, directory / "roc.csv"), save(figure, directory / "roc.png")]


def precision_recall_plot(
    directory: Path, is_positive: np.ndarray, positive_probability: np.ndarray, flagged: np.ndarray
) -> list[Path]:
    """The precision-recall curve, with the operating point of the decisions actually made."""
    precision, recall, thresholds = precision_recall_curve(is_positive, positive_probability)
    # The curve's last point (recall 0, precision 1) has no threshold: it is a convention, not a decision.
    data = pd.DataFrame({"recall": recall[:-1], "precision": precision[:-1], "threshold": thresholds})
    figure, axes = new_figure()
    axes.plot(recall, precision, label="model")
    axes.axhline(is_positive.mean(), linestyle="--", color="grey", label="chance")
    if flagged.any():
        decided_recall, decided_precision = flagged[is_positive].mean(), is_positive[flagged].mean()
        axes.scatter([decided_recall], [decided_precision], color="red", label="decision threshold")
    axes.set(xlabel="Recall", ylabel="Precision", title="Precision-recall curve")
    axes.legend(loc="upper right")
    return [write_data(data, directory / "precision_recall.csv"), save(figure, directory / "precision_recall.png")]


def confusion_plot(directory: Path, target: np.ndarray, predictions: Predictions) -> list[Path]:
    """The confusion matrix: rows are actual classes, columns the predicted ones."""
    classes = list(predictions.classes if predictions.classes is not None else np.unique(target))
    data = pd.DataFrame({"actual": target, "predicted": predictions.values})
    counts = confusion_matrix(target, predictions.values, labels=classes)
    figure, axes = new_figure(4 + 0.4 * len(classes), 3.5 + 0.4 * len(classes))
    axes.imshow(counts, cmap="Blues")
    for (row, column), count in np.ndenumerate(counts):
        color = "white" if count > counts.max() / 2 else "black"
        axes.text(column, row, str(count), ha="center", va="center", color=color)
    ticks = range(len(classes))
    axes.set_xticks(ticks, [str(label) for label in classes])
    axes.set_yticks(ticks, [str(label) for label in classes])
    axes.set(xlabel="Predicted", ylabel="Actual", title="Confusion matrix")
    return [write_data(data, directory / "confusion.csv"), save(figure, directory / "confusion.png")]


def regression_plots(directory: Path, target: np.ndarray, predictions: Predictions) -> list[Path]:
    """Predicted against actual values, and residuals against predictions."""
    predicted = predictions.values
    data = pd.DataFrame({"actual": target, "predicted": predicted, "residual": target - predicted})
    figure, axes = new_figure()
    axes.scatter(target, predicted, s=8, alpha=0.6)
    low, high = float(min(target.min(), predicted.min())), float(max(target.max(), predicted.max()))
    axes.plot([low, high], [low, high], linestyle="--", color="grey", label="perfect")
    axes.set(xlabel="Actual", ylabel="Predicted", title="Predicted vs actual")
    axes.legend(loc="upper left")
    written = [write_data(data, directory / "residuals.csv"), save(figure, directory / "predicted_vs_actual.png")]
    figure, axes = new_figure()
    axes.scatter(predicted, target - predicted, s=8, alpha=0.6)
    axes.axhline(0, linestyle="--", color="grey")
    axes.set(xlabel="Predicted", ylabel="Residual (actual - predicted)", title="Residuals")
    return [*written, save(figure, directory / "residuals.png")]


def importance_plot(directory: Path, importance: Mapping[str, Any]) -> Path:
    """Permutation importance of each input, most important at the top."""
    ranked = importance["features"][::-1]
    figure, axes = new_figure(6, 1.5 + 0.3 * len(ranked))
    axes.barh(
        [entry["feature"] for entry in ranked],
        [entry["importance"] or 0.0 for entry in ranked],
        xerr=[entry["std"] or 0.0 for entry in ranked],
    )
    axes.axvline(0, color="grey", linewidth=0.8)
    axes.set(xlabel=f"Drop in {importance['metric']} when shuffled", title="Permutation importance")
    return save(figure, directory / "importance.png")


def write_plots(
    directory: Path, target: np.ndarray, predictions: Predictions, importance: Mapping[str, Any]
) -> list[Path]:
    """Write every plot for this kind of model into `directory`; return the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    if predictions.classes is None:
        written = regression_plots(directory, target, predictions)
    else:
        written = confusion_plot(directory, target, predictions)
    if predictions.classes is not None and len(predictions.classes) == 2 and predictions.probabilities is not None:
        is_positive = target == predictions.classes[1]
        flagged = predictions.values == predictions.classes[1]
        positive_probability = predictions.probabilities[:, 1]
        written += roc_plot(directory, is_positive, positive_probability, flagged)
        written += precision_recall_plot(directory, is_positive, positive_probability, flagged)
    return [*written, importance_plot(directory, importance)]
