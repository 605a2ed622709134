"""The explain stage: which contract columns move the model's output, on average, on held-out rows.

The same contributions the service lists per answer (`core.explain`), averaged as mean absolute
values over a seeded random sample of at most `explain.rows` test rows (params.yaml). It writes:

    reports/explanations.json         the method, the output the contributions add up to, the row
                                      count, and the mean |contribution| per column, largest first
    reports/plots/explanations.png    the same as a bar chart

A reviewer reads it beside permutation importance (`reports/importance.json`): importance says
what the metric depends on, contributions how the output moves, in the output's own units.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import ExplainParams
from ..core.explain import explain
from ..core.featureset import read_features
from ..core.metrics import reported
from ..registry.artifacts import load_model
from .plots import new_figure, save

EXPLANATIONS_FILE = "explanations.json"
PLOT_FILE = "plots/explanations.png"


def explanation_sample(features: pd.DataFrame, params: ExplainParams) -> pd.DataFrame:
    """At most `params.rows` rows, drawn at random (seeded), in their original order."""
    if len(features) <= params.rows:
        return features
    rows = np.sort(np.random.default_rng(params.seed).choice(len(features), params.rows, replace=False))
    return features.iloc[rows]


def global_explanations(model: Any, features: pd.DataFrame, params: ExplainParams) -> dict[str, Any]:
    """What explanations.json holds: the mean |contribution| of each contract column over a sample of rows."""
    sample = explanation_sample(features, params)
    contributions = explain(model, sample)
    return {
        "method": contributions.method,
        "output": contributions.output,
        "rows": len(sample),
        "mean_abs_contribution": {name: reported(value) for name, value in contributions.mean_absolute().items()},
    }


def explanations_plot(path: Path, report: dict[str, Any]) -> Path:
    """Mean |contribution| per column, the largest at the top."""
    ranked = list(report["mean_abs_contribution"].items())[::-1]
    figure, axes = new_figure(6, 1.5 + 0.3 * len(ranked))
    axes.barh([name for name, _ in ranked], [value or 0.0 for _, value in ranked])
    axes.set(xlabel=f"Mean |contribution|\nto the {report['output']}", title=f"Explanations ({report['rows']} rows)")
    path.parent.mkdir(parents=True, exist_ok=True)
    return save(figure, path)


def explain_file(features_path: Path, model_path: Path, reports_dir: Path, params: ExplainParams) -> dict[str, Any]:
    """The explain stage: write explanations.json and its plot for the saved model on a features file."""
    model, _ = load_model(model_path)
    features, _ = read_features(features_path)
    report = global_explanations(model, features, params)
    path = reports_dir / EXPLANATIONS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    explanations_plot(reports_dir / PLOT_FILE, report)
    return report
