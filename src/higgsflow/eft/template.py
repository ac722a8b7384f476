"""The binned BIT template r̂(x|θ*, 0), θ* by Bayesian optimisation, expected limits and plots.

The observable is the learned ratio r̂(x|θ*, 0) = 1 + Σθ*_i R̂_i(x) + ½Σθ*_iθ*_j R̂_ij(x) at one point θ*;
it is binned at quantiles of its SM-weighted distribution and every bin's signal yield is the sum of the
*exact* event-weight coefficients, so the per-bin yields are exact quadratics in θ. A single θ* is not optimal
for every θ (the talk's point); θ* is chosen by optuna (TPE sampler, seeded) to maximise the expected
sensitivity, measured as −Σ_i ln(width of the expected 95 % CL interval of θ_i, others at 0) on the Asimov
data set.

The "best possible" reference replaces R̂ by the exact parton-level ratios w_i/w0, w_ij/w0.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from higgsflow.errors import ConfigError, DataError
from higgsflow.plotting import save_figure

__all__ = [
    "Template",
    "build_template",
    "expected_widths",
    "optimise_theta_star",
    "plot_contour",
    "plot_scans",
    "plot_template",
    "toy_background_weights",
]

log = logging.getLogger(__name__)


@dataclass
class Template:
    """Score bin edges, per-bin signal yield coefficients (n_bins, P), background yields (n_bins,)."""

    theta_star: np.ndarray
    edges: np.ndarray
    signal: np.ndarray
    background: np.ndarray


def _score(ratio_coeffs: np.ndarray, theta_star: np.ndarray) -> np.ndarray:
    from higgsflow.eft.weights import quadratic_design

    return 1.0 + ratio_coeffs @ quadratic_design(theta_star.reshape(1, -1))[0, 1:]


def build_template(
    ratio_coeffs: np.ndarray,
    coeffs: np.ndarray,
    theta_star: Sequence[float] | np.ndarray,
    n_bins: int,
    lumi_fb: float,
    background_weights: np.ndarray | None = None,
    background_ratio_coeffs: np.ndarray | None = None,
) -> Template:
    """Bin events in r̂(x|θ*) at SM-weighted quantiles; per-bin yields = Σ weight coefficients × luminosity.

    ``ratio_coeffs`` (n, P−1): learned (or exact) R_i, R_ij per event; ``coeffs`` (n, P): exact weight
    coefficients in pb; ``background_weights`` in pb: without ``background_ratio_coeffs`` they are (n,) weights
    of the signal events themselves (the placeholder, :func:`toy_background_weights`); with
    ``background_ratio_coeffs`` (n_b, P−1) they are (n_b,) weights of separate background events (Pythia 8
    Z+jets), binned with their own score r̂(x_b|θ*) at the signal's bin edges.
    """
    theta_star = np.asarray(theta_star, float)
    coeffs = np.asarray(coeffs, float)
    if len(ratio_coeffs) != len(coeffs):
        raise DataError("ratio coefficients and weights have different lengths", field="ratio_coeffs")
    if n_bins < 1:
        raise ConfigError("n_bins must be positive", field="n_bins")
    s = _score(np.asarray(ratio_coeffs, float), theta_star)
    w0 = coeffs[:, 0]
    order = np.argsort(s)
    cw = np.cumsum(w0[order])
    cuts = np.searchsorted(cw, cw[-1] * np.arange(1, n_bins) / n_bins)
    inner = s[order][np.minimum(cuts, len(s) - 1)]
    edges = np.concatenate([[-np.inf], inner, [np.inf]])
    idx = np.clip(np.searchsorted(inner, s, side="right"), 0, n_bins - 1)
    scale = lumi_fb * 1000.0  # pb → events
    sig = np.zeros((n_bins, coeffs.shape[1]))
    np.add.at(sig, idx, coeffs * scale)
    bkg = np.zeros(n_bins)
    if background_weights is not None:
        bw = np.asarray(background_weights, float)
        if background_ratio_coeffs is None:
            bidx = idx
        else:
            if len(background_ratio_coeffs) != len(bw):
                raise DataError(
                    "background ratio coefficients and weights have different lengths",
                    field="background_ratio_coeffs",
                )
            sb = _score(np.asarray(background_ratio_coeffs, float), theta_star)
            bidx = np.clip(np.searchsorted(inner, sb, side="right"), 0, n_bins - 1)
        if len(bw) != len(bidx):
            raise DataError("background weights do not match the events", field="background_weights")
        np.add.at(bkg, bidx, bw * scale)
    # ties in the score (a coarse model) can leave bins empty: merge them away
    keep = sig[:, 0] + bkg > 0
    if not keep.all():
        log.info("dropping %d empty template bins", int((~keep).sum()))
        edges = np.concatenate([edges[:-1][keep], [np.inf]])
    return Template(theta_star, edges, sig[keep], bkg[keep])


def toy_background_weights(coeffs: np.ndarray, m_zh: np.ndarray, ratio: float = 5.0) -> np.ndarray:
    """Placeholder Z(→ℓℓ)+bb̄ background on the same events: SM kinematics reweighted by (m_ZH/300 GeV)^−2.

    Normalised to ``ratio`` × the SM signal. It stands in for the Pythia 8 Z+bb̄ sample until the generator
    provides one: softer in m_ZH, hence concentrated at low BIT score, like the real background.
    """
    w = coeffs[:, 0] * (np.asarray(m_zh) / 300.0) ** -2
    return w * ratio * coeffs[:, 0].sum() / w.sum()


def expected_widths(
    signal: np.ndarray, background: np.ndarray, n_params: int, cl_q: float = 3.841458820694124
) -> np.ndarray:
    """Width of the expected (Asimov, θ = 0) interval of each coefficient, others at 0, no nuisances.

    Uses the exact Poisson q(t) = 2Σ_b [ν_b(t) − n_b + n_b ln(n_b/ν_b(t))] on an adaptive grid.
    """
    from higgsflow.eft.weights import pair_indices

    pairs = pair_indices(n_params)
    n = signal[:, 0] + background
    widths = np.zeros(n_params)
    for i in range(n_params):
        lin = signal[:, 1 + i]
        quad = signal[:, 1 + n_params + pairs.index((i, i))]
        # scale where the quadratic or linear term changes the total by ~ the statistical error
        tot = n.sum()
        t_max = 1.0
        for _ in range(40):
            t = np.linspace(-t_max, t_max, 801)
            nu = n[None, :] + t[:, None] * lin[None, :] + 0.5 * t[:, None] ** 2 * quad[None, :]
            with np.errstate(divide="ignore", invalid="ignore"):
                q = 2 * np.sum(
                    nu - n + np.where(n > 0, n * np.log(np.where(nu > 0, n / nu, np.inf)), 0.0), axis=1
                )
            q = np.where(np.all(nu > 0, axis=1), q, np.inf)
            inside = q < cl_q
            if inside[0] or inside[-1]:
                t_max *= 4
                continue
            if inside.sum() < 20:
                t_max /= 4
                continue
            break
        widths[i] = inside.sum() * (t[1] - t[0])
        if tot <= 0:
            widths[i] = np.inf
    return widths


def optimise_theta_star(
    ratio_coeffs: np.ndarray,
    coeffs: np.ndarray,
    n_params: int,
    n_bins: int,
    lumi_fb: float,
    ranges: Sequence[float],
    n_trials: int,
    seed: int,
    background_weights: np.ndarray | None = None,
    callback: Callable[[int, int], None] | None = None,
    background_ratio_coeffs: np.ndarray | None = None,
) -> tuple[np.ndarray, float, list[float]]:
    """Bayesian optimisation (optuna TPE) of θ* in the box |θ*_i| ≤ ranges[i].

    Returns (θ*, best objective −Σ ln width_i, history of objectives).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if len(ranges) != n_params:
        raise ConfigError(
            "one range per coefficient is needed", field="ranges", expected=f"{n_params} values"
        )

    def objective(trial):
        th = np.array([trial.suggest_float(f"t{i}", -r, r) for i, r in enumerate(ranges)])
        tpl = build_template(
            ratio_coeffs, coeffs, th, n_bins, lumi_fb, background_weights, background_ratio_coeffs
        )
        w = expected_widths(tpl.signal, tpl.background, n_params)
        with np.errstate(divide="ignore"):
            val = -float(np.sum(np.log(w)))
        if callback is not None:
            callback(trial.number + 1, n_trials)
        return val if np.isfinite(val) else -1e9

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial({f"t{i}": 0.5 * r for i, r in enumerate(ranges)})
    study.optimize(objective, n_trials=n_trials)
    best = np.array([study.best_params[f"t{i}"] for i in range(n_params)])
    return best, float(study.best_value), [t.value for t in study.trials]


# -- plots ---------------------------------------------------------------------------------------------------
#: axis labels of the ZH model's coefficients (Warsaw-basis c's at Λ = 1 TeV; JHUGen g's are dimensionless)
COEFFICIENT_LABELS = {
    "cHq1": r"$c_{Hq}^{(1)}$ ($\Lambda$ = 1 TeV)",
    "cHq3": r"$c_{Hq}^{(3)}$ ($\Lambda$ = 1 TeV)",
    "cHu": r"$c_{Hu}$ ($\Lambda$ = 1 TeV)",
    "cHd": r"$c_{Hd}$ ($\Lambda$ = 1 TeV)",
    "g2ZZ": r"$g_{2}^{ZZ}$",
    "g4ZZ": r"$g_{4}^{ZZ}$",
}
#: q thresholds of 68 % and 95 % CL intervals (one parameter) and contours (two)
Q_1D = {68: 0.98894, 95: 3.841459}
Q_2D = {68: 2.2977, 95: 5.99146}


def _coefficient_label(name: str) -> str:
    return COEFFICIENT_LABELS.get(name, name)


def _header(ax, lumi_fb: float | None) -> None:
    from higgsflow.physics.constants import SQRT_S_RUN2
    from higgsflow.plotting import cms_label

    cms_label(ax, com=SQRT_S_RUN2, lumi=lumi_fb)


def _log_headroom(ax, lo: float, hi: float, fraction: float = 0.5) -> None:
    """Log y axis from ``lo`` to where ``hi`` sits at ``fraction`` of the height (room for the legend)."""
    top = 10 ** (np.log10(lo) + (np.log10(hi) - np.log10(lo)) / fraction)
    ax.set_ylim(lo, top)


def scan_width(values: np.ndarray, q: np.ndarray, threshold: float = Q_1D[95]) -> float:
    """Total length of {θ : q(θ) < threshold} of a scan, linear between the scan points (all pieces summed)."""
    v, q = np.asarray(values, float), np.asarray(q, float)
    width = 0.0
    for v0, v1, q0, q1 in zip(v[:-1], v[1:], q[:-1], q[1:], strict=True):
        below0, below1 = q0 < threshold, q1 < threshold
        if below0 and below1:
            width += v1 - v0
        elif below0 != below1:
            f = (threshold - q0) / (q1 - q0)  # where the segment crosses the threshold
            width += (v1 - v0) * (f if below0 else 1 - f)
    return float(width)


def plot_template(
    tpl: Template,
    names: Sequence[str],
    points: dict[str, np.ndarray],
    path,
    *,
    lumi_fb: float | None = None,
    overwrite: bool = False,
) -> None:
    """Per-bin expected yields of the template for the SM and a few θ points (totals in the legend)."""
    from higgsflow.eft.weights import quadratic_design
    from higgsflow.plotting import style

    plt, _ = style()
    fig, ax = plt.subplots(figsize=(12, 10))
    x = np.arange(len(tpl.background) + 1)
    curves = []
    ax.stairs(
        tpl.background,
        x,
        label=f"Background ({tpl.background.sum():.4g} events)",
        fill=True,
        color="lightgrey",
    )
    n_colours = len(plt.rcParams["axes.prop_cycle"])
    for k, (label, th) in enumerate({"SM": np.zeros(len(names)), **points}.items()):
        y = tpl.signal @ quadratic_design(np.asarray(th, float).reshape(1, -1))[0] + tpl.background
        # SM in black; the θ points in the style's colours, dashed once the colours repeat
        colour = "k" if k == 0 else f"C{(k - 1) % n_colours}"
        ls = "-" if k == 0 or k - 1 < n_colours else "--"
        ax.stairs(y, x, label=f"{label}: S+B ({y.sum():.4g} events)", lw=2, color=colour, ls=ls)
        curves.append(y)
    ax.set_xlabel(r"Bin of $\hat{r}(x|\theta^{*})$ (equal SM signal per bin)")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # bin numbers, not fractions of a bin
    ax.xaxis.set_minor_locator(MaxNLocator(integer=True, nbins="auto"))
    ax.set_ylabel("Expected events / bin")
    ax.set_yscale("log")
    values = np.concatenate([tpl.background, *curves])
    _log_headroom(ax, 0.5 * max(values[values > 0].min(), 1e-3), 1.5 * values.max(), fraction=0.45)
    ax.set_xlim(0, len(tpl.background))
    ax.legend(fontsize="small", title=r"Template at $\theta^{*}$", title_fontsize="small", loc="upper left")
    _header(ax, lumi_fb)
    save_figure(fig, path, overwrite=overwrite)


def plot_scans(
    scans: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]],
    path,
    *,
    lumi_fb: float | None = None,
    overwrite: bool = False,
) -> None:
    """1D q scans, one panel per coefficient: ``scans[coefficient][label] = (values, q)``.

    The legend gives every curve's expected 95 % CL interval width (summed over disjoint pieces).
    """
    from higgsflow.plotting import style

    plt, _ = style()
    n = len(scans)
    ncol = min(n, 3)
    nrow = -(-n // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(12 * ncol, 10 * nrow), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, (name, curves) in zip(axes.flat, scans.items(), strict=False):
        # one colour per template ("BIT", "exact"), dashed when the other coefficients are profiled
        templates = list(dict.fromkeys(label.split(" (")[0] for label in curves))
        for label, (v, q) in curves.items():
            ax.plot(
                v,
                q,
                color=f"C{templates.index(label.split(' (')[0])}",
                ls="--" if "profiled" in label else "-",
                lw=2,
                label=f"{label}: width {scan_width(v, q):.3g}",
            )
        for cl, thr in Q_1D.items():
            ax.axhline(thr, color="grey", lw=1, ls=":")
            ax.text(
                ax.get_xlim()[1], thr, f"{cl}% CL ", ha="right", va="bottom", color="grey", fontsize="small"
            )
        ax.set_ylim(0, 12)  # the legend sits above the 95 % line
        ax.set_xlabel(_coefficient_label(name))
        ax.set_ylabel(r"$q = -2\,\Delta\ln L$")
        ax.legend(
            fontsize="small",
            title="expected 95% CL width",
            title_fontsize="small",
            loc="upper center",
            frameon=True,
            framealpha=0.9,
            edgecolor="white",
        )
        _header(ax, lumi_fb)
    fig.tight_layout()
    save_figure(fig, path, overwrite=overwrite)


def plot_contour(
    xs,
    ys,
    grids: dict[str, np.ndarray],
    names: tuple[str, str],
    path,
    *,
    lumi_fb: float | None = None,
    overwrite: bool = False,
) -> None:
    """68 %/95 % CL contours (q = 2.30, 5.99) of 2D scans; the legend gives the area inside each 95 % contour."""
    from matplotlib.lines import Line2D

    from higgsflow.plotting import style

    plt, _ = style()
    fig, ax = plt.subplots(figsize=(12, 10))
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    cell = np.gradient(xs)[None, :] * np.gradient(ys)[:, None]
    handles = []
    for k, (label, q) in enumerate(grids.items()):
        q = np.asarray(q, float)
        ax.contour(
            xs, ys, q, levels=[Q_2D[68], Q_2D[95]], colors=[f"C{k}"], linestyles=["-", "--"], linewidths=2
        )
        area = float(np.sum(cell[q < Q_2D[95]]))
        handles.append(Line2D([], [], color=f"C{k}", lw=2, label=f"{label}: 95% CL area {area:.3g}"))
    handles += [
        Line2D([], [], color="k", lw=2, ls="-", label="68% CL"),
        Line2D([], [], color="k", lw=2, ls="--", label="95% CL"),
        Line2D([], [], color="k", marker="P", ls="", markersize=10, label="SM"),
    ]
    ax.plot([0], [0], "kP", markersize=10)
    ax.set_xlabel(_coefficient_label(names[0]))
    ax.set_ylabel(_coefficient_label(names[1]))
    # zoom on the region around the 95 % contours (the scan grid may be much wider), room for the legend above
    inside = np.any([np.asarray(q, float) < 2 * Q_2D[95] for q in grids.values()], axis=0)
    if inside.any():
        rows, cols = np.nonzero(inside)
        x0, x1 = xs[max(cols.min() - 1, 0)], xs[min(cols.max() + 1, len(xs) - 1)]
        y0, y1 = ys[max(rows.min() - 1, 0)], ys[min(rows.max() + 1, len(ys) - 1)]
    else:
        x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1 + 0.6 * (y1 - y0))
    ax.legend(
        handles=handles,
        fontsize="small",
        loc="upper left",
        ncol=2,
        title="expected, others at 0",
        title_fontsize="small",
    )
    _header(ax, lumi_fb)
    save_figure(fig, path, overwrite=overwrite)
