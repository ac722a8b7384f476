"""Binned profile-likelihood inference for the ttH(cc) fit, with pyhf as the engine.

Templates (:mod:`hist`) → YAML analysis config → pyhf JSON workspace (and a Combine datacard) → fits, CLs
upper limits, significances, scans, impacts, yields, κ scans and CMS-style plots. Nothing here re-implements
HistFactory: pyhf builds and evaluates the likelihood, iminuit minimises it.
"""

from __future__ import annotations

from higgsflow.stats.config import AnalysisConfig, load_config
from higgsflow.stats.infer import (
    FitResult,
    ImpactResult,
    LimitResult,
    Scan2DResult,
    ScanResult,
    SignificanceResult,
    StatModel,
    YieldTable,
    fit,
    hypotest,
    impacts,
    scan,
    scan_2d,
    significance,
    upper_limit,
    yields,
)
from higgsflow.stats.templates import Template, evaluate_selection, fill_template, merge_bins, merged_edges
from higgsflow.stats.workspace import (
    build_workspace,
    metadata_path,
    plot_metadata,
    templates_from_arrays,
    templates_from_files,
    write_datacard,
    write_workspace,
)

__all__ = [
    "AnalysisConfig",
    "FitResult",
    "ImpactResult",
    "LimitResult",
    "Scan2DResult",
    "ScanResult",
    "SignificanceResult",
    "StatModel",
    "Template",
    "YieldTable",
    "build_workspace",
    "evaluate_selection",
    "fill_template",
    "fit",
    "hypotest",
    "impacts",
    "load_config",
    "merge_bins",
    "merged_edges",
    "metadata_path",
    "plot_metadata",
    "scan",
    "scan_2d",
    "significance",
    "templates_from_arrays",
    "templates_from_files",
    "upper_limit",
    "write_datacard",
    "write_workspace",
    "yields",
]
