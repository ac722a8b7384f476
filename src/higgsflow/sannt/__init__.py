"""Systematic-aware neural-network training (SANNT) against the cross-entropy baseline (CENNT).

The network is trained to minimise the expected profiled uncertainty σ(μ) of a binned Poisson likelihood with
nuisance parameters built from histograms of its own output (Wunsch, Jörger, Wolf, Quast, arXiv:2003.07186;
CMS-MLG-23-005). The expected σ(μ) of a trained network is measured independently with pyhf.

Modules: :mod:`~higgsflow.sannt.likelihood` (templates, interpolation, Fisher information),
:mod:`~higgsflow.sannt.histogram` (exact histograms with a surrogate gradient), :mod:`~higgsflow.sannt.data`
(samples with systematic variations, the benchmark toy), :mod:`~higgsflow.sannt.train` (CENNT, SANNT),
:mod:`~higgsflow.sannt.pyhf_model` (workspace and Asimov fit), :mod:`~higgsflow.sannt.benchmark`,
:mod:`~higgsflow.sannt.analysis` (``higgsflow sannt train`` on a user's files and analysis YAML) and
:mod:`~higgsflow.sannt.model` (saved networks: :func:`load`, ``predict``).
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> defining module, imported on first use: ``higgsflow.sannt.cli`` (``higgsflow --help``)
# then does not pull in torch and pyhf
_LAZY = {
    "BENCHMARK": "data",
    "Sample": "data",
    "SystematicDataset": "data",
    "Variation": "data",
    "benchmark_samples": "data",
    "category_histogram": "histogram",
    "soft_histogram": "histogram",
    "Templates": "likelihood",
    "expected_yields": "likelihood",
    "fisher_information": "likelihood",
    "profiled_sigma": "likelihood",
    "pyhf_sigma": "pyhf_model",
    "workspace_from_templates": "pyhf_model",
    "SanntConfig": "train",
    "ScoreNetwork": "train",
    "TrainResult": "train",
    "network_templates": "train",
    "train_cennt": "train",
    "train_sannt": "train",
    "SanntModel": "model",
    "load": "model",
    "predict_files": "model",
    "SanntRun": "analysis",
    "load_analysis": "analysis",
    "train_analysis": "analysis",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"higgsflow.sannt.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'higgsflow.sannt' has no attribute {name!r}")


__all__ = [
    "BENCHMARK",
    "Sample",
    "SanntConfig",
    "SanntModel",
    "SanntRun",
    "ScoreNetwork",
    "SystematicDataset",
    "Templates",
    "TrainResult",
    "Variation",
    "benchmark_samples",
    "category_histogram",
    "expected_yields",
    "fisher_information",
    "load",
    "load_analysis",
    "network_templates",
    "predict_files",
    "profiled_sigma",
    "pyhf_sigma",
    "soft_histogram",
    "train_analysis",
    "train_cennt",
    "train_sannt",
    "workspace_from_templates",
]
