"""CMS-style plots (matplotlib + mplhep) and yield tables (text and LaTeX) for the statistical results.

Every plot function returns the matplotlib ``Figure`` and writes it to ``path`` when given (refusing to
replace an existing file unless ``overwrite``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from higgsflow.errors import DataError
from higgsflow.stats.infer import FitResult, ImpactResult, LimitResult, Scan2DResult, ScanResult, YieldTable

__all__ = [
    "plot_correlation",
    "plot_impacts",
    "plot_limits",
    "plot_scan",
    "plot_scan_2d",
    "plot_stack",
    "yield_table_latex",
    "yield_table_text",
]

log = logging.getLogger(__name__)


def _setup():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import mplhep

    plt.style.use(mplhep.style.CMS)
    return plt, mplhep


def _label(mplhep, ax, text: str = "Simulation Preliminary", lumi: float | None = None) -> None:
    try:
        mplhep.cms.label(text, data=False, lumi=lumi, ax=ax, loc=0)
    except Exception:  # label layout is cosmetic: never fail a plot on it
        ax.set_title(f"CMS {text}", loc="left")


def _save(fig, path: str | Path | None, overwrite: bool):
    if path is not None:
        path = Path(path)
        if path.exists() and not overwrite:
            raise DataError("output exists (use overwrite)", file=path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, bbox_inches="tight")
        log.info("wrote %s", path)
    return fig


def plot_stack(
    table: YieldTable,
    region: str,
    *,
    edges: np.ndarray | None = None,
    path: str | Path | None = None,
    overwrite: bool = False,
    lumi: float | None = None,
    xlabel: str = "classifier score",
):
    """Stacked pre- or post-fit yields of one region with data, uncertainty band and data/prediction panel."""
    plt, mplhep = _setup()
    y = table.yields[region]
    n = y.shape[1]
    e = np.arange(n + 1, dtype=float) if edges is None else np.asarray(edges, float)
    fig, (ax, rax) = plt.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0.05})
    order = np.argsort(y.sum(axis=1))
    mplhep.histplot(
        [y[k] for k in order], e, stack=True, histtype="fill", label=[table.samples[k] for k in order], ax=ax
    )
    tot, unc = y.sum(axis=0), table.total_uncertainty[region]
    ax.stairs(tot + unc, e, baseline=tot - unc, fill=True, hatch="///", alpha=0.3, color="gray", label="Unc.")
    d = table.data[region]
    c = 0.5 * (e[1:] + e[:-1])
    ax.errorbar(c, d, yerr=np.sqrt(d), fmt="ko", label="Data")
    ax.set_ylabel("Events / bin")
    ax.set_yscale("log")
    ax.legend(ncol=2, fontsize="x-small", title=f"{region} ({table.label})")
    _label(mplhep, ax, lumi=lumi)
    with np.errstate(divide="ignore", invalid="ignore"):
        rax.stairs(1 + unc / tot, e, baseline=1 - unc / tot, fill=True, hatch="///", alpha=0.3, color="gray")
        rax.errorbar(c, d / tot, yerr=np.sqrt(d) / tot, fmt="ko")
    rax.axhline(1.0, color="k", lw=1)
    rax.set_ylim(0.5, 1.5)
    rax.set_ylabel("Data / pred.")
    rax.set_xlabel(xlabel)
    return _save(fig, path, overwrite)


def plot_limits(
    limits: Mapping[str, LimitResult],
    *,
    path: str | Path | None = None,
    overwrite: bool = False,
    xlabel: str = r"95% CL upper limit on $\mu$",
):
    """Observed and expected upper limits with ±1σ (green) and ±2σ (yellow) bands, one row per entry."""
    plt, mplhep = _setup()
    fig, ax = plt.subplots(figsize=(10, 1.5 + 1.2 * len(limits)))
    for i, lim in enumerate(limits.values()):
        e = lim.expected
        ax.fill_betweenx(
            [i - 0.4, i + 0.4],
            e[0],
            e[4],
            color="#F5BB54",
            label=r"Expected $\pm 2\sigma$" if i == 0 else None,
        )
        ax.fill_betweenx(
            [i - 0.4, i + 0.4],
            e[1],
            e[3],
            color="#607641",
            label=r"Expected $\pm 1\sigma$" if i == 0 else None,
        )
        ax.plot([e[2]] * 2, [i - 0.4, i + 0.4], "k--", label="Median expected" if i == 0 else None)
        ax.plot([lim.observed], [i], "ko", label="Observed" if i == 0 else None)
        ax.text(
            e[4] * 1.05,
            i,
            f"{lim.observed:.2f} ({e[2]:.2f})",
            va="center",
            fontsize="small",
        )
    ax.set_yticks(range(len(limits)), list(limits))
    ax.set_xlabel(xlabel)
    ax.set_xlim(0, max(lim.expected[4] for lim in limits.values()) * 1.4)
    ax.legend(fontsize="x-small", loc="lower right")
    _label(mplhep, ax)
    return _save(fig, path, overwrite)


def plot_scan(
    scan: ScanResult, *, path: str | Path | None = None, overwrite: bool = False, label: str | None = None
):
    """2ΔNLL of a 1D scan with the 68% (1) and 95% (3.84) lines."""
    plt, mplhep = _setup()
    fig, ax = plt.subplots()
    ax.plot(scan.values, scan.delta_twice_nll, "k-")
    for lev, txt in ((1.0, "68% CL"), (3.84, "95% CL")):
        ax.axhline(lev, color="gray", ls="--", lw=1)
        ax.text(scan.values[0], lev, txt, va="bottom", fontsize="x-small")
    lo, hi = scan.interval68
    ax.set_xlabel(label or scan.parameter)
    ax.set_ylabel(r"$-2\Delta\ln L$")
    ax.set_ylim(0, max(6.0, min(float(np.max(scan.delta_twice_nll)), 20.0)))
    ax.set_title(
        f"{scan.parameter} = {scan.bestfit:.2f} [{lo:.2f}, {hi:.2f}] (68%)", fontsize="small", loc="right"
    )
    _label(mplhep, ax)
    return _save(fig, path, overwrite)


def plot_scan_2d(scan: Scan2DResult, *, path: str | Path | None = None, overwrite: bool = False):
    """Contours of a 2D scan at 2ΔNLL = 2.30 (68%) and 5.99 (95%), with the best-fit point."""
    plt, mplhep = _setup()
    fig, ax = plt.subplots()
    cs = ax.contour(
        scan.x, scan.y, scan.delta_twice_nll, levels=[2.30, 5.99], colors="k", linestyles=["-", "--"]
    )
    ax.clabel(cs, fmt={2.30: "68%", 5.99: "95%"}, fontsize="x-small")
    ax.plot(*scan.bestfit, "k+", ms=12, label="best fit")
    ax.plot([1.0], [1.0], "r*", ms=12, label="SM")
    ax.set_xlabel(
        scan.parameters[0].replace("kappa_", r"$\kappa_") + ("$" if "kappa" in scan.parameters[0] else "")
    )
    ax.set_ylabel(
        scan.parameters[1].replace("kappa_", r"$\kappa_") + ("$" if "kappa" in scan.parameters[1] else "")
    )
    ax.legend(fontsize="small")
    _label(mplhep, ax)
    return _save(fig, path, overwrite)


def plot_impacts(
    result: ImpactResult, *, top: int = 20, path: str | Path | None = None, overwrite: bool = False
):
    """Pulls ((θ̂−θ0)/σ_pre with post-fit error bars) and post-/pre-fit impacts on the POI, ranked."""
    plt, mplhep = _setup()
    idx = result.ranking()[:top][::-1]
    n = len(idx)
    fig, (ax, ax2) = plt.subplots(1, 2, sharey=True, figsize=(12, 2 + 0.4 * n), gridspec_kw={"wspace": 0.05})
    yy = np.arange(n)
    w = np.where(result.prefit_width[idx] > 0, result.prefit_width[idx], 1.0)
    ax.errorbar(result.pulls[idx], yy, xerr=result.uncertainty[idx] / w, fmt="ko")
    ax.axvline(0, color="gray", lw=1)
    ax.fill_betweenx([-0.5, n - 0.5], -1, 1, color="gray", alpha=0.15)
    ax.set_yticks(yy, [result.labels[k] for k in idx], fontsize="x-small")
    ax.set_xlabel(r"$(\hat\theta-\theta_0)/\Delta\theta$")
    ax.set_xlim(-2.5, 2.5)
    ax2.barh(
        yy, np.nan_to_num(result.prefit_up[idx]), fill=False, edgecolor="C0", label=r"pre-fit $+1\sigma$"
    )
    ax2.barh(
        yy, np.nan_to_num(result.prefit_down[idx]), fill=False, edgecolor="C1", label=r"pre-fit $-1\sigma$"
    )
    ax2.barh(yy, result.postfit_up[idx], color="C0", alpha=0.7, label=r"post-fit $+1\sigma$")
    ax2.barh(yy, result.postfit_down[idx], color="C1", alpha=0.7, label=r"post-fit $-1\sigma$")
    ax2.set_xlabel(
        rf"$\Delta\hat\mu$ ({result.poi} = {result.poi_bestfit:.2f} $\pm$ {result.poi_uncertainty:.2f})"
    )
    ax2.legend(fontsize="xx-small", loc="lower right")
    _label(mplhep, ax)
    return _save(fig, path, overwrite)


def plot_correlation(
    result: FitResult,
    *,
    min_correlation: float = 0.0,
    path: str | Path | None = None,
    overwrite: bool = False,
):
    """The correlation matrix of the fitted parameters (rows with all |ρ| < ``min_correlation`` off-diagonal
    are dropped)."""
    plt, _ = _setup()
    c = result.correlation
    off = np.abs(c - np.eye(len(c)))
    keep = np.flatnonzero((off.max(axis=1) >= min_correlation) & (result.uncertainty > 0))
    fig, ax = plt.subplots(figsize=(2 + 0.35 * len(keep), 1.5 + 0.35 * len(keep)))
    im = ax.imshow(c[np.ix_(keep, keep)], vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(len(keep)), [result.labels[k] for k in keep], rotation=90, fontsize="xx-small")
    ax.set_yticks(range(len(keep)), [result.labels[k] for k in keep], fontsize="xx-small")
    fig.colorbar(im, ax=ax, label="correlation")
    return _save(fig, path, overwrite)


def yield_table_text(table: YieldTable) -> str:
    """A plain-text table of the yields per region and sample (bins summed) with uncertainties."""
    s = table.summary()
    names = [*table.samples, "total", "data"]
    head = f"{'sample':16s}" + "".join(f"{r:>22s}" for r in table.regions)
    lines = [f"# {table.label} yields", head, "-" * len(head)]
    for n in names:
        lines.append(f"{n:16s}" + "".join(f"{s[r][n][0]:>12.2f} ± {s[r][n][1]:<7.2f}" for r in table.regions))
    return "\n".join(lines) + "\n"


def yield_table_latex(table: YieldTable) -> str:
    """A LaTeX ``tabular`` of the yields per region and sample (bins summed) with uncertainties."""
    s = table.summary()
    esc = lambda x: x.replace("_", r"\_")  # noqa: E731
    cols = "l" + "r" * len(table.regions)
    lines = [
        rf"\begin{{tabular}}{{{cols}}}",
        r"\hline",
        "Sample & " + " & ".join(esc(r) for r in table.regions) + r" \\",
        r"\hline",
    ]
    for n in [*table.samples, "total", "data"]:
        if n == "total":
            lines.append(r"\hline")
        cells = [
            f"${s[r][n][0]:.1f}$" if n == "data" else f"${s[r][n][0]:.1f} \\pm {s[r][n][1]:.1f}$"
            for r in table.regions
        ]
        lines.append(f"{esc(n)} & " + " & ".join(cells) + r" \\")
    lines += [r"\hline", r"\end{tabular}"]
    return "\n".join(lines) + "\n"
