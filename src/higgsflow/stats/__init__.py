"""Binned profile-likelihood inference for the ttH(cc) fit, with pyhf as the engine.

Templates (:mod:`hist`) → YAML analysis config → pyhf JSON workspace (and a Combine datacard) → fits, CLs
upper limits, significances, scans, impacts, yields, κ scans and CMS-style plots. Nothing here re-implements
HistFactory: pyhf builds and evaluates the likelihood, iminuit minimises it.


The names below import on first use, so that ``higgsflow --help`` stays light.
"""

from __future__ import annotations

from higgsflow._lazy import lazy_exports

_EXPORTS = {
    "AnalysisConfig": "higgsflow.stats.config",
    "FitResult": "higgsflow.stats.infer",
    "ImpactResult": "higgsflow.stats.infer",
    "LimitResult": "higgsflow.stats.infer",
    "Scan2DResult": "higgsflow.stats.infer",
    "ScanResult": "higgsflow.stats.infer",
    "SignificanceResult": "higgsflow.stats.infer",
    "StatModel": "higgsflow.stats.infer",
    "Template": "higgsflow.stats.templates",
    "YieldTable": "higgsflow.stats.infer",
    "build_workspace": "higgsflow.stats.workspace",
    "evaluate_selection": "higgsflow.stats.templates",
    "fill_template": "higgsflow.stats.templates",
    "fit": "higgsflow.stats.infer",
    "hypotest": "higgsflow.stats.infer",
    "impacts": "higgsflow.stats.infer",
    "load_config": "higgsflow.stats.config",
    "merge_bins": "higgsflow.stats.templates",
    "merged_edges": "higgsflow.stats.templates",
    "metadata_path": "higgsflow.stats.workspace",
    "plot_metadata": "higgsflow.stats.workspace",
    "scan": "higgsflow.stats.infer",
    "scan_2d": "higgsflow.stats.infer",
    "significance": "higgsflow.stats.infer",
    "templates_from_arrays": "higgsflow.stats.workspace",
    "templates_from_files": "higgsflow.stats.workspace",
    "upper_limit": "higgsflow.stats.infer",
    "write_datacard": "higgsflow.stats.workspace",
    "write_workspace": "higgsflow.stats.workspace",
    "yields": "higgsflow.stats.infer",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
