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
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_template(
    tpl: Template, names: Sequence[str], points: dict[str, np.ndarray], path, *, overwrite: bool = False
) -> None:
    """Per-bin expected yields of the template for the SM and a few θ points."""
    from higgsflow.eft.weights import quadratic_design

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    x = np.arange(len(tpl.background) + 1)
    ax.stairs(tpl.background, x, label="background", fill=True, alpha=0.4)
    for label, th in {"SM": np.zeros(len(names)), **points}.items():
        y = tpl.signal @ quadratic_design(np.asarray(th, float).reshape(1, -1))[0] + tpl.background
        ax.stairs(y, x, label=label)
    ax.set_xlabel("bin of r̂(x|θ*, SM) (SM quantiles)")
    ax.set_ylabel("expected events")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, overwrite=overwrite)


def plot_scans(
    scans: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], path, *, overwrite: bool = False
) -> None:
    """1D q scans: ``scans[coefficient][label] = (values, q)``."""
    plt = _plt()
    n = len(scans)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3), squeeze=False)
    for ax, (name, curves) in zip(axes[0], scans.items(), strict=True):
        for label, (v, q) in curves.items():
            ax.plot(v, q, label=label)
        for thr in (1.0, 3.84):
            ax.axhline(thr, color="grey", lw=0.5, ls="--")
        ax.set_ylim(0, 8)
        ax.set_xlabel(name)
        ax.set_ylabel("q")
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    save_figure(fig, path, overwrite=overwrite)


def plot_contour(
    xs, ys, grids: dict[str, np.ndarray], names: tuple[str, str], path, *, overwrite: bool = False
) -> None:
    """68 %/95 % CL contours (q = 2.30, 5.99) of 2D scans."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 4))
    for k, (label, q) in enumerate(grids.items()):
        ax.contour(xs, ys, q, levels=[2.30, 5.99], colors=[f"C{k}"], linestyles=["-", "--"])
        ax.plot([], [], color=f"C{k}", label=label)
    ax.plot([0], [0], "k+")
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, overwrite=overwrite)
