"""ROC curves and score distributions as PNG (matplotlib, Agg backend)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from higgsflow.evaluate.metrics import _short, roc_curve

__all__ = ["plot_roc", "plot_scores"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_roc(
    scores: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    background: str,
    path: str | os.PathLike[str],
) -> Path:
    """Background rejection vs signal efficiency for every class against ``background`` (log scale)."""
    plt = _plt()
    short = [_short(c) for c in class_names]
    b = short.index(background)
    fig, ax = plt.subplots(figsize=(6, 5))
    for k, name in enumerate(short):
        sel = (labels == k) | (labels == b)
        if k == b or not (labels == k).any() or not (labels == b).any():
            continue
        disc = scores[sel, k] / np.clip(scores[sel, k] + scores[sel, b], 1e-12, None)
        tpr, fpr = roc_curve(disc, labels[sel] == k)
        ok = fpr > 0
        ax.plot(tpr[ok], 1 / fpr[ok], label=f"{name} vs {background}")
    ax.set_yscale("log")
    ax.set_xlabel("signal efficiency")
    ax.set_ylabel("background rejection 1/ε_B")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_scores(
    scores: np.ndarray, labels: np.ndarray, class_names: Sequence[str], path: str | os.PathLike[str]
) -> Path:
    """For each output score, its distribution in every true class (normalised)."""
    plt = _plt()
    short = [_short(c) for c in class_names]
    k_out = len(short)
    ncol = min(k_out, 4)
    nrow = (k_out + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.6 * nrow), squeeze=False)
    bins = np.linspace(0, 1, 41)
    for j in range(nrow * ncol):
        ax = axes[j // ncol][j % ncol]
        if j >= k_out:
            ax.axis("off")
            continue
        for k, name in enumerate(short):
            if (labels == k).any():
                ax.hist(scores[labels == k, j], bins=bins, histtype="step", density=True, label=name)
        ax.set_xlabel(f"score {short[j]}")
        ax.set_yscale("log")
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
