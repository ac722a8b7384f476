"""Evaluation of taggers: metrics (accuracy, AUC, rejection at fixed efficiency), ROC and score plots,
reports."""

from higgsflow.evaluate.metrics import (
    JETCLASS_EFFICIENCIES,
    TaggerMetrics,
    accuracy,
    compute_metrics,
    rejection_at_efficiency,
    roc_curve,
)

__all__ = [
    "JETCLASS_EFFICIENCIES",
    "TaggerMetrics",
    "accuracy",
    "compute_metrics",
    "rejection_at_efficiency",
    "roc_curve",
]
