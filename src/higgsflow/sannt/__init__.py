"""Systematic-aware neural-network training (SANNT) against the cross-entropy baseline (CENNT).

The network is trained to minimise the expected profiled uncertainty σ(μ) of a binned Poisson likelihood with
nuisance parameters built from histograms of its own output (Wunsch, Jörger, Wolf, Quast, arXiv:2003.07186;
CMS-MLG-23-005). The expected σ(μ) of a trained network is measured independently with pyhf.

Modules: :mod:`~higgsflow.sannt.likelihood` (templates, interpolation, Fisher information),
:mod:`~higgsflow.sannt.histogram` (exact histograms with a surrogate gradient), :mod:`~higgsflow.sannt.data`
(samples with systematic variations, the benchmark toy), :mod:`~higgsflow.sannt.train` (CENNT, SANNT),
:mod:`~higgsflow.sannt.pyhf_model` (workspace and Asimov fit), :mod:`~higgsflow.sannt.benchmark`.
"""

from __future__ import annotations

from higgsflow.sannt.data import BENCHMARK, Sample, SystematicDataset, Variation, benchmark_samples
from higgsflow.sannt.histogram import category_histogram, soft_histogram
from higgsflow.sannt.likelihood import Templates, expected_yields, fisher_information, profiled_sigma
from higgsflow.sannt.pyhf_model import pyhf_sigma, workspace_from_templates
from higgsflow.sannt.train import (
    SanntConfig,
    ScoreNetwork,
    TrainResult,
    network_templates,
    train_cennt,
    train_sannt,
)

__all__ = [
    "BENCHMARK",
    "Sample",
    "SanntConfig",
    "ScoreNetwork",
    "SystematicDataset",
    "Templates",
    "TrainResult",
    "Variation",
    "benchmark_samples",
    "category_histogram",
    "expected_yields",
    "fisher_information",
    "network_templates",
    "profiled_sigma",
    "pyhf_sigma",
    "soft_histogram",
    "train_cennt",
    "train_sannt",
    "workspace_from_templates",
]
