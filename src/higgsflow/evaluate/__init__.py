"""Evaluation of taggers: metrics (accuracy, AUC, rejection at fixed efficiency) with their statistical
intervals, ROC and score plots, reports; mass sculpting (Jensen–Shannon divergence of passing/failing background mass shapes)."""

from higgsflow.evaluate.decorrelation import (
    MSD_BINS,
    inverse_jsd_vs_rejection,
    jensen_shannon,
    jsd_at_efficiency,
    jsd_floor,
    plot_mass_sculpting,
)
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
    "MSD_BINS",
    "MetricRow",
    "Rejection",
    "TaggerMetrics",
    "accuracy",
    "auc_with_error",
    "clopper_pearson",
    "compute_metrics",
    "inverse_jsd_vs_rejection",
    "jensen_shannon",
    "jsd_at_efficiency",
    "jsd_floor",
    "plot_mass_sculpting",
    "rejection_at_efficiency",
    "rejection_with_interval",
    "roc_curve",
]
