"""The metric catalog: each metric the pipeline can report, and which way is better.

Kept apart from `evaluate` so the gate and the readiness report can read it without
importing scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """A reported metric: the scikit-learn scorer behind it and its direction."""

    scorer: str
    higher_is_better: bool = True

    @property
    def sign(self) -> int:
        """Turns a scikit-learn score (always higher-is-better) into the reported value."""
        return 1 if self.higher_is_better else -1


METRICS: dict[str, Metric] = {
    "accuracy": Metric("accuracy"),
    "balanced_accuracy": Metric("balanced_accuracy"),
    "f1": Metric("f1"),
    "f1_macro": Metric("f1_macro"),
    "roc_auc": Metric("roc_auc"),
    "roc_auc_ovr": Metric("roc_auc_ovr"),
    "log_loss": Metric("neg_log_loss", higher_is_better=False),
    "rmse": Metric("neg_root_mean_squared_error", higher_is_better=False),
    "mae": Metric("neg_mean_absolute_error", higher_is_better=False),
    "r2": Metric("r2"),
}
