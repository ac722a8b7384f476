"""The b-tagging performance plot as BTV draws it: misidentification rate against tagging efficiency.

Left: BvsAll — the efficiency of the cut for b jets on the x axis, the fraction of c jets (dashed) and light jets
(solid) passing the same cut on a log y axis. Right: the charm discriminants — c-jet efficiency on x, the light-jet
rate of CvsL (solid) and the b-jet rate of CvsB (dashed). The legend gives each curve's AUC and its jet counts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from higgsflow.errors import DataError

__all__ = ["efficiency_curve", "plot_flavour_rocs"]


def efficiency_curve(
    disc: np.ndarray, sig: np.ndarray, bkg: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """(signal efficiency, background efficiency) of ``disc > t`` for every threshold t, and the AUC."""
    from sklearn.metrics import roc_auc_score, roc_curve

    keep = sig | bkg
    y = sig[keep]
    if y.all() or not y.any():
        raise DataError("a curve needs jets of both flavours", field="flavour")
    fpr, tpr, _ = roc_curve(y, disc[keep], drop_intermediate=False)
    return tpr, fpr, float(roc_auc_score(y, disc[keep]))


def plot_flavour_rocs(
    disc: Mapping[str, np.ndarray],
    flavour: np.ndarray,
    path: str | os.PathLike[str],
    *,
    com: float | None = None,
    title: str = "",
    overwrite: bool = False,
) -> Path:
    """Draw the BvsAll (and, where ``disc`` has them, CvsL and CvsB) performance curves of jets with hadron
    ``flavour`` 5 (b), 4 (c) and 0 (light) into ``path``; other flavour codes are left out."""
    from higgsflow.plotting import cms_label, save_figure, style

    flavour = np.asarray(flavour)
    b, c, light = flavour == 5, flavour == 4, flavour == 0
    plt, _ = style()
    panels = [("BvsAll", "b")]
    if "CvsL" in disc and "CvsB" in disc:
        panels.append(("CvsL", "c"))
    fig, axes = plt.subplots(1, len(panels), figsize=(10 * len(panels), 9), squeeze=False)
    for ax, (name, sig_name) in zip(axes[0], panels, strict=True):
        if name == "BvsAll":
            curves = [
                (np.asarray(disc["BvsAll"]), b, light, "BvsAll: light jets", "-", "light"),
                (np.asarray(disc["BvsAll"]), b, c, "BvsAll: c jets", "--", "c"),
            ]
        else:
            curves = [
                (np.asarray(disc["CvsL"]), c, light, "CvsL: light jets", "-", "light"),
                (np.asarray(disc["CvsB"]), c, b, "CvsB: b jets", "--", "b"),
            ]
        for d, sig, bkg, label, ls, bkg_name in curves:
            if not sig.any() or not bkg.any():
                continue
            eff, mis, auc = efficiency_curve(d, sig, bkg)
            floor = 0.5 / bkg.sum()  # below one jet: draw at half a jet, the axis says where the sample ends
            ax.step(
                eff,
                np.maximum(mis, floor),
                where="post",
                ls=ls,
                lw=2,
                label=f"{label} (AUC {auc:.3f}; {sig.sum()} {sig_name}, {bkg.sum()} {bkg_name})",
            )
        ax.set_yscale("log")
        ax.set_xlim(0, 1)
        ax.set_ylim(1e-3, 1.5)
        ax.set_xlabel(f"{sig_name}-jet efficiency")
        ax.set_ylabel("misidentification rate")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(
            loc="best", fontsize=15, title=title or None, title_fontsize=15
        )  # the curves vary by tagger
        cms_label(ax, com=com)
    return save_figure(fig, path, overwrite=overwrite)
