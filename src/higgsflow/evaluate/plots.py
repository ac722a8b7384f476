"""ROC curves and score distributions of a tagger as PNG, in mplhep's CMS style (:mod:`higgsflow.plotting`).

Both carry the header "CMS Simulation Private Work (√s)", with √s read from the jets' file where it is stored
(:func:`sqrt_s_of`); the ROC legend gives each curve's AUC, and the part of a curve that rests on fewer than
:data:`~higgsflow.evaluate.metrics.FEW_JETS` background jets is drawn dashed.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from higgsflow.evaluate.metrics import FEW_JETS, _short, auc_with_error, roc_curve
from higgsflow.physics.constants import SQRT_S_RUN3
from higgsflow.plotting import DEFAULT_LABEL, cms_label, colours, save_figure, style

__all__ = ["plot_roc", "plot_scores", "sqrt_s_of"]

log = logging.getLogger(__name__)

_ECM = re.compile(r"Beams:eCM\s*=\s*([0-9.eE+]+)")


def sqrt_s_of(files: Sequence[str | os.PathLike[str]] | str | os.PathLike[str]) -> float | None:
    """√s in TeV of the collisions behind ``files``: ``sqrt_s_tev`` or Pythia's ``Beams:eCM`` (GeV) in the
    metadata higgsflow stores (the jet generator writes it), else None: a file that does not say (a real JetClass
    file, made at 13 TeV, for one) gets no √s in the plot header rather than a wrong one."""
    from higgsflow.data.io import read_metadata

    if isinstance(files, (str, os.PathLike)):
        files = [files]
    for f in files:
        try:
            meta = read_metadata(f)
        except Exception:  # a file without readable metadata says nothing about √s
            continue
        if meta.get("sqrt_s_tev") is not None:
            return float(meta["sqrt_s_tev"])
        for proc in (meta.get("processes") or {}).values():
            for setting in proc.get("pythia", []) if isinstance(proc, dict) else []:
                m = _ECM.search(str(setting))
                if m:
                    return float(m.group(1)) / 1000.0
    return None


def _pairs(scores: np.ndarray, labels: np.ndarray, short: list[str], b: int):
    """For each signal class present: (name, discriminant against the background, is-signal)."""
    for k, name in enumerate(short):
        if k == b or not (labels == k).any() or not (labels == b).any():
            continue
        sel = (labels == k) | (labels == b)
        disc = scores[sel, k] / np.clip(scores[sel, k] + scores[sel, b], 1e-12, None)
        yield name, disc, labels[sel] == k


def plot_roc(
    scores: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    background: str,
    path: str | os.PathLike[str],
    *,
    com: float | None = SQRT_S_RUN3,
    label: str = DEFAULT_LABEL,
    overwrite: bool = True,
) -> Path:
    """Background rejection 1/ε_B (log scale) against signal efficiency ε_S for every class against
    ``background``, with the discriminant p_X / (p_X + p_background); the legend gives each curve's AUC.

    A curve is dashed where fewer than ``FEW_JETS`` background jets pass the cut (a rough estimate). ``com``
    is √s in TeV for the header; ``overwrite`` (default True: the caller checks its outputs) lets an existing
    file be replaced.
    """
    plt, _ = style()
    short = [_short(c) for c in class_names]
    b = short.index(_short(background))
    labels = np.asarray(labels)
    fig, ax = plt.subplots(figsize=(10, 9))
    palette = colours(len(short))
    top = 1.0
    n_b = int((labels == b).sum())
    drew_rough = False
    for name, disc, is_sig in _pairs(np.asarray(scores, dtype=np.float64), labels, short, b):
        tpr, fpr = roc_curve(disc, is_sig)
        auc, _ = auc_with_error(disc, is_sig)
        ok = fpr > 0
        x, y = tpr[ok], 1.0 / fpr[ok]
        colour = palette[short.index(name)]  # the class's colour in every figure
        (line,) = ax.plot(x, y, lw=2, color=colour, label=f"{name} vs {background} (AUC = {auc:.3f})")
        rough = fpr[ok] * n_b < FEW_JETS  # the high-rejection end of the curve
        if rough.all():
            line.set_linestyle("--")
        elif rough.any():
            first = int(np.argmax(~rough))
            line.set_data(x[first:], y[first:])
            ax.plot(x[: first + 1], y[: first + 1], lw=2, ls="--", color=line.get_color())
        drew_rough |= bool(rough.any())
        if len(y):
            top = max(top, float(y.max()))
    if drew_rough:
        ax.plot([], [], color="grey", ls="--", lw=2, label=f"fewer than {FEW_JETS} {background} jets pass")
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_xlabel(r"Signal efficiency $\varepsilon_S$")
    ax.set_ylabel(rf"{background} rejection $1/\varepsilon_B$")
    legend = {"fontsize": 18, "title": f"{len(labels)} test jets", "title_fontsize": 18}
    if len(ax.get_legend_handles_labels()[0]) <= 5:
        ax.set_ylim(1, top * 30)  # room for the legend above the curves
        ax.legend(loc="upper right", **legend)
    else:  # many classes: the legend beside the frame, where it hides no curve
        ax.set_ylim(1, top * 2)
        fig.set_size_inches(16, 9)
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0, **legend)
    cms_label(ax, label=label, com=com)
    return save_figure(fig, path, overwrite=overwrite)


def plot_scores(
    scores: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    path: str | os.PathLike[str],
    *,
    com: float | None = SQRT_S_RUN3,
    label: str = DEFAULT_LABEL,
    overwrite: bool = True,
) -> Path:
    """For each output score, its distribution in every true class (fraction of the class's jets per bin, log
    scale); one panel per score, the legend in a panel of its own."""
    plt, _ = style()
    from matplotlib.ticker import NullFormatter

    short = [_short(c) for c in class_names]
    labels = np.asarray(labels)
    k_out = len(short)
    # one panel per score and one for the legend, in as few rows as fit 4 columns without an empty row
    panels = k_out + 1
    ncol = panels if panels <= 4 else 3 if panels % 3 == 0 else 4
    nrow = (panels + ncol - 1) // ncol
    bins = np.linspace(0, 1, 26)
    n_max = max(int((labels == k).sum()) for k in range(k_out)) if len(labels) else 1
    y_low = 10.0 ** np.floor(np.log10(0.5 / max(n_max, 1)))
    palette = colours(k_out)
    with plt.rc_context({"font.size": 18}):
        fig, axes = plt.subplots(nrow, ncol, figsize=(6.5 * ncol, 5.5 * nrow), squeeze=False)
        handles = []
        for j in range(nrow * ncol):
            ax = axes[j // ncol][j % ncol]
            if j >= k_out:
                ax.axis("off")
                continue
            for k, name in enumerate(short):
                if (labels == k).any():
                    _, _, patches = ax.hist(
                        scores[labels == k, j],
                        bins=bins,
                        weights=np.full(int((labels == k).sum()), 1.0 / (labels == k).sum()),
                        histtype="step",
                        lw=2,
                        color=palette[k],
                        label=f"true {name} ({int((labels == k).sum())} jets)",
                    )
                    if j == 0:
                        handles.append(patches[0])
            ax.set_yscale("log")
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_ylim(y_low, 2.0)  # from below one jet in a bin to 1, so at least two decades are labelled
            ax.set_xlim(0, 1)
            ax.set_xlabel(f"Score {short[j]}")
            ax.set_ylabel(f"Fraction of jets / {bins[1] - bins[0]:.2f}")
        legend_ax = axes[-1][-1]
        if k_out < nrow * ncol:
            legend_ax.legend(handles=handles, loc="center", frameon=False, title="jets of class")
        else:  # pragma: no cover - no free panel
            axes[0][0].legend(handles=handles, fontsize=12)
        cms_label(axes[0][0], label=label, com=None)
        if com is not None:
            axes[0][min(ncol, k_out) - 1].set_title(f"({com:g} TeV)", loc="right", fontsize=18)
        fig.tight_layout()
    return save_figure(fig, path, overwrite=overwrite)
