"""The 2-D toy benchmark: CENNT against SANNT (from scratch and fine-tuned), σ(μ) measured with pyhf.

Per seed: independent training, validation and test samples of the toy
(:func:`~higgsflow.sannt.data.benchmark_samples`), a CENNT network, a SANNT network fine-tuned from it and one
trained from scratch. The SANNT objective is Σ_m σ(μ_m)/σ_m^CENNT (each POI relative to the CENNT network's
validation σ of the same seed). Every network's *test* histograms go into a pyhf workspace whose Asimov fit
gives the reported σ(μ_ggH), σ(μ_qqH).

SANNT's reduction of σ(μ_ggH) is *significant* when the per-seed paired differences d = σ_CENNT − σ_SANNT have
mean(d) > 2 · sd(d)/√n_seeds; the *target* is a reduction of the means by ≥ 10%, with σ(μ_qqH) not worse than
1.05 × CENNT's (:meth:`BenchmarkResult.verdict`, :func:`describe`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from higgsflow.errors import ConfigError
from higgsflow.outputs import check_output
from higgsflow.sannt.data import benchmark_samples
from higgsflow.sannt.likelihood import Templates
from higgsflow.sannt.pyhf_model import pyhf_sigma
from higgsflow.sannt.train import SanntConfig, TrainResult, network_templates, train_cennt, train_sannt

__all__ = [
    "METHODS",
    "BenchmarkResult",
    "SeedResult",
    "describe",
    "plot_output_distributions",
    "plot_sigma_vs_epoch",
    "run_benchmark",
    "run_seed",
]

log = logging.getLogger(__name__)

METHODS = ("CENNT", "SANNT", "SANNT (fine-tuned)")
POIS = ("mu_ggH", "mu_qqH")
#: the reduction of the mean σ(μ_ggH) that SANNT aims at
TARGET_IMPROVEMENT = 0.10
#: the largest relative increase of the mean σ(μ_qqH) that still counts as "not worse"
QQH_TOLERANCE = 0.05


@dataclass
class SeedResult:
    """One seed: pyhf-measured σ per method and POI, training histories, test templates, wall times (s)."""

    seed: int
    sigma: dict[str, dict[str, float]]
    histories: dict[str, TrainResult] = field(repr=False)
    templates: dict[str, Templates] = field(repr=False)
    seconds: dict[str, float]


@dataclass
class BenchmarkResult:
    """All seeds, with summary statistics and the comparison of each SANNT variant with CENNT."""

    seeds: list[SeedResult]

    def values(self, method: str, poi: str) -> np.ndarray:
        return np.array([s.sigma[method][poi] for s in self.seeds])

    def summary(self) -> dict[str, dict[str, tuple[float, float]]]:
        """{method: {poi: (mean, sample standard deviation over seeds)}}."""
        ddof = 1 if len(self.seeds) > 1 else 0  # one seed: spread 0
        return {
            m: {p: (float(self.values(m, p).mean()), float(self.values(m, p).std(ddof=ddof))) for p in POIS}
            for m in METHODS
            if m in self.seeds[0].sigma
        }

    def verdict(self, method: str = "SANNT (fine-tuned)") -> dict[str, float | bool]:
        """``method`` against CENNT on σ(μ_ggH) and σ(μ_qqH).

        Keys: ``improvement_ggH`` (relative reduction of the mean σ(μ_ggH)), ``mean_difference`` and
        ``standard_error`` of the per-seed paired differences σ_CENNT − σ_method, ``significant`` (mean difference
        > 2 standard errors; needs ≥ 2 seeds), ``target_met`` (improvement ≥ :data:`TARGET_IMPROVEMENT`),
        ``change_qqH`` (relative change of the mean σ(μ_qqH)), ``qqH_not_worse`` (change ≤
        :data:`QQH_TOLERANCE`) and ``improved`` (significant and σ(μ_qqH) not worse).
        """
        ce, sa = self.values("CENNT", "mu_ggH"), self.values(method, "mu_ggH")
        d = ce - sa
        se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
        improvement = float(1 - sa.mean() / ce.mean())
        qq = float(self.values(method, "mu_qqH").mean() / self.values("CENNT", "mu_qqH").mean() - 1)
        significant = bool(len(d) > 1 and d.mean() > 2 * se)
        return {
            "mean_difference": float(d.mean()),
            "standard_error": se,
            "significant": significant,
            "improvement_ggH": improvement,
            "target_met": improvement >= TARGET_IMPROVEMENT,
            "change_qqH": qq,
            "qqH_not_worse": qq <= QQH_TOLERANCE,
            "improved": significant and qq <= QQH_TOLERANCE,
        }

    def to_dict(self) -> dict:
        return {
            "seeds": [{"seed": s.seed, "sigma": s.sigma, "seconds": s.seconds} for s in self.seeds],
            "summary": self.summary(),
            "verdict": {m: self.verdict(m) for m in METHODS[1:] if m in self.seeds[0].sigma},
        }


def describe(method: str, v: dict) -> str:
    """One sentence in plain words on :meth:`BenchmarkResult.verdict` ``v`` of ``method`` against CENNT."""
    gg = v["improvement_ggH"]
    text = f"{method} {'reduces' if gg >= 0 else 'increases'} σ(μ_ggH) by {100 * abs(gg):.1f}% "
    text += f"(target: a reduction of ≥ {100 * TARGET_IMPROVEMENT:.0f}%, {'met' if v['target_met'] else 'not met'}); "
    if np.isfinite(v["standard_error"]):
        text += (
            f"per-seed difference {v['mean_difference']:.4f} ± {v['standard_error']:.4f} (standard error), "
            f"{'significant' if v['significant'] else 'not significant'} at 2 standard errors; "
        )
    else:
        text += "its significance needs at least 2 seeds; "
    qq = v["change_qqH"]
    text += (
        f"σ(μ_qqH) {'rises' if qq > 0 else 'falls'} by {100 * abs(qq):.1f}% "
        f"({'within' if v['qqH_not_worse'] else 'beyond'} the allowed +{100 * QQH_TOLERANCE:.0f}%)."
    )
    return text


def run_seed(
    seed: int,
    n_per_process: int = 10000,
    config: SanntConfig | None = None,
    *,
    methods: Sequence[str] = METHODS,
    callback: Callable[[str, int, float], None] | None = None,
) -> SeedResult:
    """Train and measure every method on one seed (data and initialisation both derive from ``seed``)."""
    unknown = set(methods) - set(METHODS)
    if unknown or "CENNT" not in methods:
        raise ConfigError(
            f"methods {sorted(unknown)}", field="methods", expected=f"CENNT plus any of {METHODS}"
        )
    config = config or SanntConfig()
    # the toy compares the class-score binning of the CENNT network (its plots draw the score categories)
    config = replace(config, binning=config.binning or "score")
    data_seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(3)]
    train, val, test = (benchmark_samples(n_per_process, s) for s in data_seeds)
    histories: dict[str, TrainResult] = {}
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    histories["CENNT"] = ce = train_cennt(train, val, config, seed=seed, callback=callback)
    seconds["CENNT"] = time.perf_counter() - t0
    reference = np.array(ce.val_sigma[ce.best_epoch])
    for method in methods[1:] if methods[0] == "CENNT" else [m for m in methods if m != "CENNT"]:
        t0 = time.perf_counter()
        init = ce.network if method == "SANNT (fine-tuned)" else None
        histories[method] = train_sannt(
            train, val, config, seed=seed, init=init, poi_weights=1 / reference, callback=callback
        )
        seconds[method] = time.perf_counter() - t0
    sigma, templates = {}, {}
    for method, res in histories.items():
        templates[method] = network_templates(res.network, test, config)
        fit = pyhf_sigma(templates[method], min_yield=config.min_yield)
        sigma[method] = {p: fit[p] for p in POIS}
        log.info(
            "seed %d %s: sigma(mu_ggH) = %.4f, sigma(mu_qqH) = %.4f", seed, method, *sigma[method].values()
        )
    return SeedResult(seed, sigma, histories, templates, seconds)


def run_benchmark(
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    n_per_process: int = 10000,
    config: SanntConfig | None = None,
    *,
    methods: Sequence[str] = METHODS,
    callback: Callable[[str, int, float], None] | None = None,
) -> BenchmarkResult:
    """:func:`run_seed` for every seed."""
    return BenchmarkResult(
        [run_seed(s, n_per_process, config, methods=methods, callback=callback) for s in seeds]
    )


#: axis and legend names of the POIs
POI_LABELS = {"mu_ggH": r"$\mu_{\mathrm{ggH}}$", "mu_qqH": r"$\mu_{\mathrm{qqH}}$"}


def _poi_label(poi: str) -> str:
    return POI_LABELS.get(poi, poi)


def plot_sigma_vs_epoch(result: SeedResult, path: str | Path, *, overwrite: bool = False) -> Path:
    """Validation σ(μ) per epoch of every method (fine-tuning drawn after the CENNT epochs it starts from).

    The legend gives each method's σ(μ) on the test sample from the pyhf Asimov fit (the benchmark's result);
    a dotted line marks the epoch whose network is kept.
    """
    from higgsflow.plotting import cms_label, save_figure, style

    plt, _ = style()
    path = _writable(path, overwrite)
    fig, axes = plt.subplots(1, len(POIS), figsize=(12 * len(POIS), 10))
    for k, (method, res) in enumerate(result.histories.items()):
        sig = np.array(res.val_sigma)
        start = result.histories["CENNT"].best_epoch + 1 if method == "SANNT (fine-tuned)" else 0
        epochs = np.arange(start, start + len(sig))
        for i, (ax, poi) in enumerate(zip(axes, POIS, strict=True)):
            test = result.sigma.get(method, {}).get(poi)
            label = method if test is None else f"{method}: σ$_{{\\mathrm{{test}}}}$ = {test:.4f}"
            ax.plot(epochs, sig[:, i], color=f"C{k}", lw=2, label=label)
            ax.axvline(start + res.best_epoch, color=f"C{k}", ls=":", lw=1.5)
    for ax, poi in zip(axes, POIS, strict=True):
        ax.set_xlabel("Epoch")
        ax.set_ylabel(f"Validation σ({_poi_label(poi)}) (Asimov)")
        ax.set_yscale("log")
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, 10 ** (np.log10(lo) + (np.log10(hi) - np.log10(lo)) / 0.6))  # legend headroom
        ax.legend(
            title=f"seed {result.seed}; σ$_{{\\mathrm{{test}}}}$: pyhf, test sample; dotted: kept epoch",
            title_fontsize="small",
            fontsize="small",
            loc="upper right",
            frameon=True,
            framealpha=1.0,
            edgecolor="white",
        )
        cms_label(ax, com=None)
    fig.tight_layout()
    save_figure(fig, path, overwrite=True)  # checked above
    return path


def plot_output_distributions(
    templates: dict[str, Templates],
    path: str | Path,
    *,
    sigma: dict[str, dict[str, float]] | None = None,
    overwrite: bool = False,
) -> Path:
    """Per method, the expected events of every process in each (category, score) bin with the ±1σ systematic
    band; ``sigma`` ({method: {poi: σ}}, e.g. ``SeedResult.sigma``) goes into each panel's legend title.

    The band is the quadrature sum over nuisances of max(|ν(η_k=+1) − ν|, |ν(η_k=−1) − ν|) with shape and
    normalisation effects together.
    """
    from higgsflow.plotting import cms_label, save_figure, style

    plt, _ = style()
    path = _writable(path, overwrite)
    fig, axes = plt.subplots(len(templates), 1, figsize=(14, 10 * len(templates)), squeeze=False)
    for ax, (method, t) in zip(axes[:, 0], templates.items(), strict=True):
        a = t.numpy()
        nom = a["nominal"]
        up = a["shape_up"] * a["kappa_up"][:, :, None]
        dn = a["shape_down"] * a["kappa_down"][:, :, None]
        band = np.sqrt((np.maximum(np.abs(up - nom), np.abs(dn - nom)) ** 2).sum(0))
        x = np.arange(nom.shape[1] + 1)
        for p, name in enumerate(t.processes):
            line = ax.stairs(nom[p], x, lw=2, label=f"{name} ({nom[p].sum():.4g} events)")
            ax.stairs(
                nom[p] + band[p],
                x,
                baseline=np.maximum(nom[p] - band[p], 1e-3),
                fill=True,
                alpha=0.3,
                color=line.get_edgecolor(),
            )
        n_cat = t.n_pois + 1
        per_cat = nom.shape[1] / n_cat
        for c in range(1, n_cat):
            ax.axvline(c * per_cat, color="k", lw=1)
        categories = [*t.pois, "background"]
        ax.set_xticks([(c + 0.5) * per_cat for c in range(n_cat)])
        ax.set_xticklabels(
            [f"{_poi_label(c)} category" if c in t.pois else "bkg. category" for c in categories]
        )
        ax.set_xticks(x, minor=True)
        ax.set_xlim(0, nom.shape[1])
        ax.set_yscale("log")
        lo, hi = 1e-2, max(float((nom + band).max()), 1.0)
        ax.set_ylim(lo, 10 ** (np.log10(lo) + (np.log10(hi) - np.log10(lo)) / 0.6))  # legend headroom
        ax.set_xlabel("Network output: argmax category, score bins ascending within each")
        ax.set_ylabel("Expected events / bin")
        title = method
        if sigma is not None and method in sigma:
            title += ": " + ", ".join(f"σ({_poi_label(p)}) = {v:.4f}" for p, v in sigma[method].items())
        ax.legend(
            ncol=min(len(t.processes), 3),
            fontsize="small",
            title=f"{title}; band: ±1σ syst.",
            title_fontsize="small",
            loc="upper center",
            frameon=True,
            framealpha=1.0,
            edgecolor="white",
        )
        cms_label(ax, com=None)
    fig.tight_layout()
    save_figure(fig, path, overwrite=True)  # checked above
    return path


def _writable(path: str | Path, overwrite: bool) -> Path:
    path = check_output(path, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
