"""Mass sculpting of a tagger: how much a cut on its score changes the background's jet-mass distribution.

The measure CMS uses for GloParT is the Jensen–Shannon divergence between the QCD soft-drop-mass (m_SD)
distributions of the jets that pass and that fail a cut on the discriminant (e.g. Xbb-vs-QCD) placed at a fixed QCD
efficiency (1%, 0.5%), reported as 1/JSD against the background rejection 1/ε_QCD: a decorrelated tagger has a
large 1/JSD at high rejection.

JSD(P, Q) = ½ KL(P ‖ M) + ½ KL(Q ‖ M), M = (P + Q)/2, on normalised binned distributions, with the **natural
logarithm**: identical distributions give 0, distributions on disjoint bins ln 2 ≈ 0.693 (1 in bits).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from higgsflow.errors import DataError

__all__ = [
    "MSD_BINS",
    "inverse_jsd_vs_rejection",
    "jensen_shannon",
    "jsd_at_efficiency",
    "jsd_floor",
    "plot_mass_sculpting",
]

#: default m_SD binning (GeV): 20–260 GeV in 10 GeV bins, the decorrelation range of GloParT
MSD_BINS = np.arange(20.0, 261.0, 10.0)


def jensen_shannon(p: Sequence[float], q: Sequence[float]) -> float:
    """Jensen–Shannon divergence (natural log, in [0, ln 2]) of two binned distributions with the same binning
    (counts or weights; each is normalised to unit sum)."""
    p = np.asarray(p, dtype=np.float64).ravel()
    q = np.asarray(q, dtype=np.float64).ravel()
    if p.shape != q.shape:
        raise DataError(f"histograms of different lengths {p.size} and {q.size}", field="bins")
    for name, h in (("first", p), ("second", q)):
        if not np.all(np.isfinite(h)) or np.any(h < 0):
            raise DataError(f"the {name} histogram has negative or non-finite bins", field="bins")
        if h.sum() <= 0:
            raise DataError(f"the {name} histogram is empty", field="bins", expected="at least one entry")
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log(a[nz] / m[nz])))

    return max(0.5 * kl(p) + 0.5 * kl(q), 0.0)


def _threshold(score: np.ndarray, weights: np.ndarray, efficiency: float) -> float:
    order = np.argsort(-score, kind="stable")
    cum = np.cumsum(weights[order]) / weights.sum()
    k = int(np.searchsorted(cum, efficiency, side="left"))
    return float(score[order][min(k, score.size - 1)])


def jsd_at_efficiency(
    score: Sequence[float],
    msd: Sequence[float],
    efficiency: float,
    *,
    bins: Sequence[float] = MSD_BINS,
    weights: Sequence[float] | None = None,
) -> dict[str, float]:
    """Cut the QCD jets' ``score`` at the threshold that keeps ``efficiency`` of them (weighted); JSD between the
    passing and failing m_SD histograms (``bins``, GeV). Returns threshold, the efficiency reached, rejection
    (1/ε), jsd, inverse_jsd and the number of passing jets."""
    score = np.asarray(score, dtype=np.float64)
    msd = np.asarray(msd, dtype=np.float64)
    w = np.ones_like(score) if weights is None else np.asarray(weights, dtype=np.float64)
    if score.shape != msd.shape or score.shape != w.shape:
        raise DataError("score, m_SD and weights differ in length", field="msd")
    if not 0 < efficiency < 1:
        raise DataError(f"efficiency {efficiency} outside (0, 1)", field="efficiency")
    thr = _threshold(score, w, efficiency)
    passing = score >= thr
    hp, _ = np.histogram(msd[passing], bins=bins, weights=w[passing])
    hf, _ = np.histogram(msd[~passing], bins=bins, weights=w[~passing])
    eff = float(w[passing].sum() / w.sum())
    jsd = jensen_shannon(hp, hf) if hp.sum() > 0 and hf.sum() > 0 else float("nan")
    return {
        "target_efficiency": float(efficiency),
        "threshold": thr,
        "efficiency": eff,
        "rejection": 1.0 / eff if eff > 0 else float("inf"),
        "jsd": jsd,
        # no passing (or no failing) jets: JSD and 1/JSD undefined (nan), not a perfect decorrelation (inf)
        "inverse_jsd": float("nan") if np.isnan(jsd) else (1.0 / jsd if jsd > 0 else float("inf")),
        "n_pass": int(passing.sum()),
    }


def jsd_floor(
    msd: Sequence[float],
    efficiency: float,
    *,
    draws: int = 50,
    seed: int = 0,
    bins: Sequence[float] = MSD_BINS,
    weights: Sequence[float] | None = None,
) -> dict[str, float]:
    """The JSD that statistics alone give at ``efficiency``: the mean (and spread) over ``draws`` random scores,
    which do not depend on the mass, of :func:`jsd_at_efficiency` on these jets. A tagger's measured JSD cannot be
    told from zero below it, so 1/JSD is measurable up to about ``1 / floor``; for n passing jets in K bins it is
    close to (K − 1) / (8 n)."""
    msd = np.asarray(msd, dtype=np.float64)
    if draws < 1:
        raise DataError(f"draws {draws} < 1", field="draws")
    rng = np.random.default_rng(seed)
    values = np.array(
        [
            jsd_at_efficiency(rng.random(msd.size), msd, efficiency, bins=bins, weights=weights)["jsd"]
            for _ in range(draws)
        ]
    )
    mean = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    return {
        "target_efficiency": float(efficiency),
        "jsd": mean,
        "jsd_std": float(np.nanstd(values)) if np.isfinite(values).any() else float("nan"),
        "inverse_jsd": 1.0 / mean if mean > 0 else float("nan"),
        "draws": int(draws),
    }


def inverse_jsd_vs_rejection(
    score: Sequence[float],
    msd: Sequence[float],
    efficiencies: Sequence[float] = (0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005),
    *,
    bins: Sequence[float] = MSD_BINS,
    weights: Sequence[float] | None = None,
) -> list[dict[str, float]]:
    """:func:`jsd_at_efficiency` at each QCD efficiency: the points of the 1/JSD vs background-rejection curve."""
    return [jsd_at_efficiency(score, msd, e, bins=bins, weights=weights) for e in efficiencies]


def plot_mass_sculpting(
    score: Sequence[float],
    msd: Sequence[float],
    path: str | os.PathLike[str],
    *,
    efficiencies: Sequence[float] = (0.5, 0.1, 0.01),
    bins: Sequence[float] = MSD_BINS,
    weights: Sequence[float] | None = None,
    discriminant: str = "Xbb vs QCD",
    label: str = "Private Work",
    com: float | None = 13.6,
    overwrite: bool = False,
):
    """Normalised QCD m_SD shape, inclusive and for the jets passing cuts on ``score`` at the given QCD
    efficiencies, with the JSD (passing vs failing) of each in the legend. Returns the saved path."""
    from higgsflow.outputs import check_output
    from higgsflow.plotting import cms_label, save_figure, style

    check_output(path, overwrite=overwrite)
    score = np.asarray(score, dtype=np.float64)
    msd = np.asarray(msd, dtype=np.float64)
    w = np.ones_like(score) if weights is None else np.asarray(weights, dtype=np.float64)
    plt, mplhep = style()
    fig, ax = plt.subplots(figsize=(9, 7))
    h, edges = np.histogram(msd, bins=bins, weights=w)
    mplhep.histplot(h / h.sum(), edges, ax=ax, color="black", lw=2, label="QCD, inclusive")
    for e in efficiencies:
        r = jsd_at_efficiency(score, msd, e, bins=bins, weights=w)
        sel = score >= r["threshold"]
        hp, _ = np.histogram(msd[sel], bins=bins, weights=w[sel])
        if hp.sum() <= 0:
            continue
        mplhep.histplot(
            hp / hp.sum(),
            edges,
            ax=ax,
            lw=2,
            label=f"$\\varepsilon_{{QCD}}$ = {100 * r['efficiency']:.3g}%: JSD = {r['jsd']:.3g} (1/JSD = {r['inverse_jsd']:.3g})",
        )
    ax.set_xlabel("Soft-drop mass $m_{SD}$ [GeV]")
    ax.set_ylabel(
        "Fraction of QCD jets / 10 GeV" if np.allclose(np.diff(edges), 10) else "Fraction of QCD jets"
    )
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(0, ax.get_ylim()[1] * 1.45)
    ax.legend(title=f"cut on {discriminant}", fontsize=14, title_fontsize=14, loc="upper right")
    cms_label(ax, label=label, com=com)
    return save_figure(fig, path, overwrite=overwrite)
