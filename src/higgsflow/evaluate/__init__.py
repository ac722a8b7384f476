"""Evaluation of taggers: metrics (accuracy, AUC, rejection at fixed efficiency) with their statistical
intervals, ROC and score plots, reports."""

from higgsflow.evaluate.metrics import (
    CL,
    FEW_JETS,
    JETCLASS_EFFICIENCIES,
    MetricRow,
    Rejection,
    TaggerMetrics,
    accuracy,
    auc_with_error,
    clopper_pearson,
    compute_metrics,
    rejection_at_efficiency,
    rejection_with_interval,
    roc_curve,
)

__all__ = [
    "CL",
    "FEW_JETS",
    "JETCLASS_EFFICIENCIES",
    "MetricRow",
    "Rejection",
    "TaggerMetrics",
    "accuracy",
    "auc_with_error",
    "clopper_pearson",
    "compute_metrics",
    "rejection_at_efficiency",
    "rejection_with_interval",
    "roc_curve",
]
