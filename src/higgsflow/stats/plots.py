"""CMS-style plots (matplotlib + mplhep, through :mod:`higgsflow.plotting`) and yield tables (text and LaTeX).

Every plot function returns the matplotlib ``Figure`` and writes it to ``path`` when given (refusing to
replace an existing file unless ``overwrite``). The header is :func:`higgsflow.plotting.cms_label`'s
"CMS Simulation Private Work" with √s (``com``, TeV) and the integrated luminosity (``lumi``, fb⁻¹) on the right
when they are known (``None``: not shown, rather than a wrong value). The numbers that matter (best fit,
intervals, limits) are in the legend, inside the axes, never on top of the header.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from higgsflow.errors import DataError
from higgsflow.plotting import cms_label, save_figure, style
from higgsflow.stats.infer import FitResult, ImpactResult, LimitResult, Scan2DResult, ScanResult, YieldTable

__all__ = [
    "parameter_label",
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

#: colours of the expected ±1σ and ±2σ bands (the CMS "Brazil" convention)
BAND_1SIGMA = "#607641"
BAND_2SIGMA = "#F5BB54"


#: CMS's 10-colour palette (M. Petroff, arXiv:2107.02270), for stacks of more than six samples
_CMS10 = ["#3f90da", "#ffa90e", "#bd1f01", "#94a4a2", "#832db6", "#a96b59", "#e76300", "#b9ac70", "#717581",
          "#92dadd"]  # fmt: skip


def parameter_label(name: str) -> str:
    """A readable axis label for a parameter name: ``kappa_c`` → κ_c; other names are kept as they are."""
    if name.startswith("kappa_"):
        return rf"$\kappa_{{{name[6:]}}}$"
    return name


def _num(x: float) -> str:
    """A limit for a legend: two decimals from 0.1 on, three significant digits below."""
    return f"{x:.2f}" if abs(x) >= 0.1 else f"{x:.3g}"


def _finish(fig, path: str | Path | None, overwrite: bool):
    if path is not None:
        save_figure(fig, path, overwrite=overwrite)  # closes the figure; it can still be inspected
    return fig


def plot_stack(
    table: YieldTable,
    region: str,
    *,
    edges: Sequence[float] | np.ndarray | None = None,
    xlabel: str | None = None,
    signal: Sequence[str] | None = None,
    path: str | Path | None = None,
    overwrite: bool = False,
    com: float | None = None,
    lumi: float | None = None,
):
    """Stacked pre- or post-fit yields of one region with data, uncertainty band and data/prediction panel.

    ``edges`` are the bin edges of the region's observable (``n + 1`` values; from the analysis config, see
    ``higgsflow stats build``) and ``xlabel`` its name with units. Without edges the x axis is the bin number.
    The ``signal`` samples are stacked on top of the backgrounds (largest background at the bottom).
    """
    plt, mplhep = style()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    y = table.yields[region]
    n = y.shape[1]
    if edges is None:
        e = np.arange(n + 1, dtype=float)
        xlabel = xlabel or f"bin number in {region}"
    else:
        e = np.asarray(edges, dtype=float)
        if e.shape != (n + 1,) or np.any(np.diff(e) <= 0):
            raise DataError(
                f"{e.size} bin edges for {n} bins",
                field=f"{region} edges",
                expected=f"{n + 1} increasing values",
            )
        xlabel = xlabel or "observable"
    fig, (ax, rax) = plt.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0.06})
    # backgrounds from the largest (at the bottom) to the smallest, then the signal samples on top
    signal = set(signal or ())
    by_size = [int(k) for k in np.argsort(-y.sum(axis=1), kind="stable")]
    order = [k for k in by_size if table.samples[k] not in signal] + [
        k for k in by_size if table.samples[k] in signal
    ]
    # CMS's 6-colour palette (the style's cycle) repeats beyond six samples: then its 10-colour one (Petroff 10)
    palette = plt.rcParams["axes.prop_cycle"].by_key().get("color", [])
    if len(table.samples) > len(palette):
        palette = _CMS10
    colours = [palette[k % len(palette)] for k in range(len(table.samples))]
    mplhep.histplot(
        [y[k] for k in order],
        e,
        stack=True,
        histtype="fill",
        color=[colours[k] for k in order],
        label=[table.samples[k] for k in order],
        ax=ax,
    )
    tot, unc = y.sum(axis=0), table.total_uncertainty[region]
    ax.stairs(
        tot + unc, e, baseline=tot - unc, fill=True, hatch="///", facecolor="none", edgecolor="gray", lw=0
    )
    d = table.data[region]
    c = 0.5 * (e[1:] + e[:-1])
    ax.errorbar(c, d, yerr=np.sqrt(d), fmt="ko", label="Data")
    ax.set_ylabel("Events / bin")
    ax.set_yscale("log")
    positive = np.concatenate([tot[tot > 0], d[d > 0]])
    if positive.size:
        ax.set_ylim(max(positive.min() * 0.3, 1e-3), positive.max() * 100)  # room for the legend above
    # the legend lists the stack from the top down, then the uncertainty and the data; each entry has its colour
    handles = [Patch(facecolor=colours[k], label=table.samples[k]) for k in order[::-1]]
    handles.append(
        Patch(facecolor="none", edgecolor="gray", hatch="///", label=f"Total unc. ({table.label})")
    )
    handles.append(Line2D([], [], color="k", marker="o", ls="none", label="Data"))
    labels = [h.get_label() for h in handles]
    ax.legend(handles, labels, ncol=2, fontsize="small", title=region, loc="upper right")
    cms_label(ax, com=com, lumi=lumi)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(tot > 0, unc / tot, 0.0)
        rax.stairs(
            1 + rel, e, baseline=1 - rel, fill=True, hatch="///", facecolor="none", edgecolor="gray", lw=0
        )
        ok = tot > 0
        rax.errorbar(c[ok], d[ok] / tot[ok], yerr=np.sqrt(d[ok]) / tot[ok], fmt="ko")
    rax.axhline(1.0, color="k", lw=1)
    rax.set_ylim(0.5, 1.5)
    rax.set_xlim(e[0], e[-1])
    rax.set_ylabel("Data / pred.")
    rax.set_xlabel(xlabel)
    return _finish(fig, path, overwrite)


def plot_limits(
    limits: Mapping[str, LimitResult],
    *,
    path: str | Path | None = None,
    overwrite: bool = False,
    xlabel: str | None = None,
    com: float | None = None,
    lumi: float | None = None,
):
    """Observed and expected upper limits with ±1σ (green) and ±2σ (yellow) bands, one row per entry.

    With one entry the legend gives the observed limit, the median expected limit and both bands; with several,
    each row is annotated "observed (expected)". A logarithmic axis is used when the values span more than a
    factor 30 (e.g. an observed limit far above the expected one).
    """
    plt, _ = style()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    items = list(limits.items())
    if not items:
        raise DataError("no limits to plot", field="limits")
    n = len(items)
    cl = items[0][1].cl
    fig, ax = plt.subplots(figsize=(12, 3.4 + 0.9 * n))
    for i, (_, lim) in enumerate(items):
        e = lim.expected
        ax.fill_betweenx([i - 0.35, i + 0.35], e[0], e[4], color=BAND_2SIGMA, lw=0)
        ax.fill_betweenx([i - 0.35, i + 0.35], e[1], e[3], color=BAND_1SIGMA, lw=0)
        ax.plot([e[2]] * 2, [i - 0.35, i + 0.35], "k--", lw=2)
        ax.plot([lim.observed], [i], "ko", ms=9)
    values = np.array([[lim.observed, *lim.expected] for _, lim in items], dtype=float)
    hi, lo = float(np.nanmax(values)), float(np.nanmin(values[values > 0])) if np.any(values > 0) else 1.0
    if hi / max(lo, 1e-300) > 30:
        ax.set_xscale("log")
        ax.set_xlim(lo / 2, hi * 3)
    else:
        ax.set_xlim(0, hi * (1.3 if n == 1 else 1.5))  # with several rows, room for their values on the right
    if n == 1:
        lim = items[0][1]
        e = lim.expected
        labels = [
            f"Observed: {_num(lim.observed)}",
            f"Median expected: {_num(e[2])}",
            f"68% expected: [{_num(e[1])}, {_num(e[3])}]",
            f"95% expected: [{_num(e[0])}, {_num(e[4])}]",
        ]
    else:
        labels = ["Observed", "Median expected", r"68% expected", r"95% expected"]
        for i, (_, lim) in enumerate(items):
            ax.annotate(
                f"{_num(lim.observed)} ({_num(lim.expected[2])})",
                (1.0, i),
                xycoords=("axes fraction", "data"),
                xytext=(-14, 0),
                textcoords="offset points",
                ha="right",
                va="center",
                fontsize="small",
            )
        ax.annotate(
            "obs. (exp.)",
            (1.0, n - 0.5),
            xycoords=("axes fraction", "data"),
            xytext=(-14, 0),
            textcoords="offset points",
            ha="right",
            va="center",
            fontsize="small",
        )
    handles = [
        Line2D([], [], color="k", marker="o", ls="none", ms=9),
        Line2D([], [], color="k", ls="--", lw=2),
        Patch(facecolor=BAND_1SIGMA),
        Patch(facecolor=BAND_2SIGMA),
    ]
    ax.set_ylim(-0.6, n - 0.4 + 1.3)  # the legend sits above the rows
    ax.legend(handles, labels, ncol=2, loc="upper left", fontsize="x-small", frameon=False)
    ax.set_yticks(range(n), [name for name, _ in items])
    ax.tick_params(axis="y", which="minor", length=0)
    ax.set_xlabel(xlabel or rf"{cl * 100:g}% CL upper limit on $\mu$")
    cms_label(ax, com=com, lumi=lumi)
    return _finish(fig, path, overwrite)


def plot_scan(
    scan: ScanResult,
    *,
    path: str | Path | None = None,
    overwrite: bool = False,
    label: str | None = None,
    com: float | None = None,
    lumi: float | None = None,
):
    """2ΔNLL of a 1D scan with the 68% (1) and 95% (3.84) lines; best fit and intervals in the legend.

    An interval end outside the scanned values is said to lie beyond the scanned range.
    """
    plt, _ = style()
    from matplotlib.lines import Line2D

    name = label or parameter_label(scan.parameter)
    fig, ax = plt.subplots()
    x, y = np.asarray(scan.values, float), np.asarray(scan.delta_twice_nll, float)
    if (
        x[0] < scan.bestfit < x[-1] and not np.isclose(x, scan.bestfit).any()
    ):  # the minimum itself (2ΔNLL = 0)
        k = int(np.searchsorted(x, scan.bestfit))
        x, y = np.insert(x, k, scan.bestfit), np.insert(y, k, 0.0)
    ax.plot(x, y, "k-", lw=2)
    z = np.asarray(scan.delta_twice_nll, dtype=float)
    top = max(6.0, min(float(np.nanmax(z)), 15.0))
    if np.nanmin(z) > 0.5 * top:  # the minimum lies outside the scan: show the whole curve
        top = float(np.nanmax(z))
    for lev, txt in ((1.0, "68% CL"), (3.84, "95% CL")):
        ax.axhline(lev, color="gray", ls="--", lw=1)
        if (3.84 - 1.0) / (top * 1.7) < 0.04:  # the two lines are too close to be labelled
            continue
        ax.annotate(
            txt,
            (1.0, lev),
            xycoords=("axes fraction", "data"),
            xytext=(-4, 2),
            textcoords="offset points",
            ha="right",
            va="bottom",
            fontsize="x-small",
            color="gray",
        )
    ax.set_ylim(0, top * 1.7)  # the upper part holds the legend
    ax.set_xlim(scan.values[0], scan.values[-1])
    ax.set_xlabel(name)
    ax.set_ylabel(r"$-2\Delta\ln L$")
    handles = [
        Line2D([], [], color="k", lw=2),
        Line2D([], [], ls="none"),
        Line2D([], [], ls="none"),
    ]
    outside = not scan.values[0] <= scan.bestfit <= scan.values[-1]
    labels = [
        f"best fit {name} = {scan.bestfit:.2f}" + (" (outside the scan)" if outside else ""),
        "68% CL: " + scan.interval_text(68, digits=2, name=name, show_range=False),
        "95% CL: " + scan.interval_text(95, digits=2, name=name, show_range=False),
    ]
    labels = [t.replace("the scanned range", "the scan") for t in labels]
    ax.legend(handles, labels, loc="best", fontsize="x-small", frameon=False, handlelength=1.5)
    cms_label(ax, com=com, lumi=lumi)
    return _finish(fig, path, overwrite)


def plot_scan_2d(
    scan: Scan2DResult,
    *,
    path: str | Path | None = None,
    overwrite: bool = False,
    com: float | None = None,
    lumi: float | None = None,
):
    """Contours of a 2D scan at 2ΔNLL = 2.30 (68%) and 5.99 (95%), with the best fit (in the legend) and the SM."""
    plt, _ = style()
    from matplotlib.lines import Line2D

    fig, ax = plt.subplots()
    z = np.asarray(scan.delta_twice_nll, dtype=float)
    levels = [lv for lv in (2.30, 5.99) if np.nanmin(z) < lv < np.nanmax(z)]
    if levels:
        ax.contour(
            scan.x, scan.y, z, levels=levels, colors="k", linestyles=["-", "--"][: len(levels)], linewidths=2
        )
    ax.plot(*scan.bestfit, "k+", ms=14, mew=2)
    ax.plot([1.0], [1.0], "r*", ms=14)
    xname, yname = (parameter_label(p) for p in scan.parameters)
    ax.set_xlabel(xname)
    ax.set_ylabel(yname)
    ymin, ymax = float(scan.y[0]), float(scan.y[-1])
    ax.set_ylim(ymin, ymax + 0.45 * (ymax - ymin))  # the upper part holds the legend
    handles = [
        Line2D([], [], color="k", marker="+", ms=14, mew=2, ls="none"),
        Line2D([], [], color="k", lw=2),
        Line2D([], [], color="k", lw=2, ls="--"),
        Line2D([], [], color="r", marker="*", ms=14, ls="none"),
    ]
    labels = [f"best fit ({scan.bestfit[0]:.2f}, {scan.bestfit[1]:.2f})", "68% CL", "95% CL", "SM"]
    ax.legend(handles, labels, loc="upper center", ncol=2, fontsize="x-small", frameon=False)
    cms_label(ax, com=com, lumi=lumi)
    return _finish(fig, path, overwrite)


def plot_impacts(
    result: ImpactResult,
    *,
    top: int = 20,
    path: str | Path | None = None,
    overwrite: bool = False,
    com: float | None = None,
    lumi: float | None = None,
):
    """Pulls ((θ̂−θ0)/σ_pre with post-fit error bars) and post-/pre-fit impacts on the POI, ranked."""
    plt, _ = style()
    idx = result.ranking()[:top][::-1]
    n = len(idx)
    fig, (ax, ax2) = plt.subplots(
        1, 2, sharey=True, figsize=(13, 3 + 0.45 * max(n, 1)), gridspec_kw={"wspace": 0.08}
    )
    yy = np.arange(n)
    w = np.where(result.prefit_width[idx] > 0, result.prefit_width[idx], 1.0)
    ax.errorbar(result.pulls[idx], yy, xerr=result.uncertainty[idx] / w, fmt="ko", label="pull")
    ax.plot([0, 0], [-0.5, n - 0.5], color="gray", lw=1)
    ax.fill_betweenx([-0.5, n - 0.5], -1, 1, color="gray", alpha=0.15)
    ax.set_yticks(yy, [result.labels[k] for k in idx], fontsize="x-small")
    height = 3 + 0.45 * n
    extra = 1.1 * n / (0.8 * height - 1.1) + 0.3  # rows of room for the legend (~1.1 inch) above the rows
    ax.set_ylim(-0.6, n - 0.4 + extra)
    ax.set_xlabel(r"pull $(\hat\theta-\theta_0)/\Delta\theta$")
    ax.set_xlim(-2.5, 2.5)
    ax.set_xticks([-2, -1, 0, 1, 2])
    ax2.barh(
        yy,
        np.nan_to_num(result.prefit_up[idx]),
        fill=False,
        edgecolor="C0",
        lw=1.5,
        label=r"pre-fit $+1\sigma$",
    )
    ax2.barh(
        yy,
        np.nan_to_num(result.prefit_down[idx]),
        fill=False,
        edgecolor="C1",
        lw=1.5,
        label=r"pre-fit $-1\sigma$",
    )
    ax2.barh(yy, result.postfit_up[idx], color="C0", alpha=0.7, label=r"post-fit $+1\sigma$")
    ax2.barh(yy, result.postfit_down[idx], color="C1", alpha=0.7, label=r"post-fit $-1\sigma$")
    allv = np.abs(
        np.concatenate(
            [
                np.nan_to_num(result.prefit_up[idx]),
                np.nan_to_num(result.prefit_down[idx]),
                result.postfit_up[idx],
            ]
        )
    )
    m = float(np.max(allv)) if allv.size and np.max(allv) > 0 else 1.0
    ax2.set_xlim(-1.25 * m, 1.25 * m)
    ax2.plot([0, 0], [-0.5, n - 0.5], color="gray", lw=1)
    for a in (ax, ax2):
        a.tick_params(axis="y", which="minor", length=0)
    ax2.set_xlabel(rf"$\Delta\hat\mu$ on {result.poi}")
    ax2.legend(
        fontsize="xx-small",
        loc="upper center",
        ncol=2,
        frameon=False,
        title=rf"{result.poi} = {result.poi_bestfit:.3f} $\pm$ {result.poi_uncertainty:.3f}",
        title_fontsize="x-small",
    )
    cms_label(ax, com=com, lumi=lumi)
    for t in list(ax.texts):  # √s and luminosity go to the right edge of the figure, over the impacts
        if type(t).__name__ == "LumiText" or "TeV" in t.get_text():
            text, size = t.get_text(), t.get_fontsize()
            t.remove()
            ax2.text(1.0, 1.0, text, transform=ax2.transAxes, ha="right", va="bottom", fontsize=size)
    return _finish(fig, path, overwrite)


def plot_correlation(
    result: FitResult,
    *,
    min_correlation: float = 0.0,
    path: str | Path | None = None,
    overwrite: bool = False,
    com: float | None = None,
    lumi: float | None = None,
):
    """The correlation matrix of the fitted parameters (rows with all |ρ| < ``min_correlation`` off-diagonal
    are dropped); the values are printed in the cells for up to 15 parameters."""
    plt, _ = style()
    c = result.correlation
    off = np.abs(c - np.eye(len(c)))
    keep = np.flatnonzero((off.max(axis=1) >= min_correlation) & (result.uncertainty > 0))
    k = len(keep)
    size = max(8.0, 3 + 0.55 * k)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    sub = c[np.ix_(keep, keep)]
    im = ax.imshow(sub, vmin=-1, vmax=1, cmap="RdBu_r")
    names = [result.labels[j] for j in keep]
    ax.set_xticks(range(k), names, rotation=90, fontsize="xx-small")
    ax.set_yticks(range(k), names, fontsize="xx-small")
    ax.tick_params(which="minor", length=0)
    if k <= 15:
        for a in range(k):
            for b in range(k):
                ax.text(
                    b,
                    a,
                    f"{sub[a, b]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=9,
                    color="white" if abs(sub[a, b]) > 0.6 else "black",
                )
    fig.colorbar(im, ax=ax, label=r"correlation coefficient $\rho$", fraction=0.046, pad=0.04)
    cms_label(ax, com=com, lumi=lumi)
    return _finish(fig, path, overwrite)


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
