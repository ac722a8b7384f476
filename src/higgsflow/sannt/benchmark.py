"""The issue-7 benchmark: CENNT against SANNT (from scratch and fine-tuned), σ(μ) measured with pyhf.

Per seed: independent training, validation and test samples of the toy
(:func:`~higgsflow.sannt.data.benchmark_samples`), a CENNT network, a SANNT network fine-tuned from it and one
trained from scratch. The SANNT objective is Σ_m σ(μ_m)/σ_m^CENNT (each POI relative to the CENNT network's
validation σ of the same seed). Every network's *test* histograms go into a pyhf workspace whose Asimov fit
gives the reported σ(μ_ggH), σ(μ_qqH).

The gate compares per-seed paired differences d = σ_CENNT − σ_SANNT of σ(μ_ggH): mean(d) > 2 · sd(d)/√n_seeds;
the goal is a relative improvement of the means ≥ 10% while σ(μ_qqH) is not worse than 1.05 × CENNT's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
    "plot_output_distributions",
    "plot_sigma_vs_epoch",
    "run_benchmark",
    "run_seed",
]

log = logging.getLogger(__name__)

METHODS = ("CENNT", "SANNT", "SANNT (fine-tuned)")
POIS = ("mu_ggH", "mu_qqH")


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
    """All seeds, with summary statistics and the gate of issue 7."""

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
        """Gate (paired difference > 2 standard errors), goal (≥ 10%) and the σ(μ_qqH) condition (≤ +5%)."""
        ce, sa = self.values("CENNT", "mu_ggH"), self.values(method, "mu_ggH")
        d = ce - sa
        se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
        improvement = float(1 - sa.mean() / ce.mean())
        qq = float(self.values(method, "mu_qqH").mean() / self.values("CENNT", "mu_qqH").mean() - 1)
        gate = bool(len(d) > 1 and d.mean() > 2 * se)
        return {
            "mean_difference": float(d.mean()),
            "standard_error": se,
            "gate": gate,
            "improvement_ggH": improvement,
            "goal": improvement >= 0.10,
            "change_qqH": qq,
            "qqH_ok": qq <= 0.05,
            "passed": gate and qq <= 0.05,
        }

    def to_dict(self) -> dict:
        return {
            "seeds": [{"seed": s.seed, "sigma": s.sigma, "seconds": s.seconds} for s in self.seeds],
            "summary": self.summary(),
            "verdict": {m: self.verdict(m) for m in METHODS[1:] if m in self.seeds[0].sigma},
        }


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


def plot_sigma_vs_epoch(result: SeedResult, path: str | Path, *, overwrite: bool = False) -> Path:
    """Validation σ(μ) per epoch of every method (fine-tuning drawn after the CENNT epochs it starts from)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = _writable(path, overwrite)
    fig, axes = plt.subplots(1, len(POIS), figsize=(10, 4))
    for method, res in result.histories.items():
        sig = np.array(res.val_sigma)
        start = result.histories["CENNT"].best_epoch + 1 if method == "SANNT (fine-tuned)" else 0
        epochs = np.arange(start, start + len(sig))
        for i, ax in enumerate(axes):
            ax.plot(epochs, sig[:, i], label=method)
            ax.axvline(start + res.best_epoch, color=ax.lines[-1].get_color(), ls=":", lw=0.8)
    for ax, poi in zip(axes, POIS, strict=True):
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"validation σ({poi})")
        ax.set_yscale("log")
        ax.legend()
    fig.suptitle(f"seed {result.seed}: Asimov σ(μ) on the validation sample (dotted: selected epoch)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_output_distributions(
    templates: dict[str, Templates], path: str | Path, *, overwrite: bool = False
) -> Path:
    """Per process, the yields in every (category, score) bin with the ±1σ systematic band.

    The band is the quadrature sum over nuisances of max(|ν(η_k=+1) − ν|, |ν(η_k=−1) − ν|) with shape and
    normalisation effects together.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = _writable(path, overwrite)
    fig, axes = plt.subplots(len(templates), 1, figsize=(10, 3.5 * len(templates)), squeeze=False)
    for ax, (method, t) in zip(axes[:, 0], templates.items(), strict=True):
        a = t.numpy()
        nom = a["nominal"]
        up = a["shape_up"] * a["kappa_up"][:, :, None]
        dn = a["shape_down"] * a["kappa_down"][:, :, None]
        band = np.sqrt((np.maximum(np.abs(up - nom), np.abs(dn - nom)) ** 2).sum(0))
        x = np.arange(nom.shape[1] + 1)
        for p, name in enumerate(t.processes):
            line = ax.stairs(nom[p], x, label=name)
            ax.stairs(
                nom[p] + band[p],
                x,
                baseline=np.maximum(nom[p] - band[p], 1e-3),
                fill=True,
                alpha=0.3,
                color=line.get_edgecolor(),
            )
        n_cat = t.n_pois + 1
        for c in range(1, n_cat):
            ax.axvline(c * nom.shape[1] / n_cat, color="k", lw=0.8)
        ax.set_yscale("log")
        ax.set_ylim(bottom=1e-2)
        ax.set_xlabel("bin (categories " + ", ".join([*t.pois, "background"]) + "; score ascending)")
        ax.set_ylabel("expected events")
        ax.set_title(method)
        ax.legend(ncol=len(t.processes), fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _writable(path: str | Path, overwrite: bool) -> Path:
    path = check_output(path, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
