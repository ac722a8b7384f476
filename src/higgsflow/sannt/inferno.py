"""The synthetic 3-D benchmark of INFERNO (de Castro & Dorigo 2018, arXiv:1806.04743): CENNT against SANNT.

The generative model (the paper's section 4 and its public code):

- background, b = 1000 expected events: (x₀, x₁) ~ N((2 + r, 0), diag(5, 9)), x₂ ~ Exp(λ) (rate λ);
- signal, s = 50 expected events: (x₀, x₁) ~ N((0, 0), diag(1, 1)), x₂ ~ Exp(2);
- nuisance parameters r = 0 ± 0.4 and λ = 3 ± 1 (shape, Gaussian constraints; the paper's "benchmark 3") and
  in "benchmark 4" in addition a ±10% background normalisation.

The parameter of interest is the signal yield s = 50 μ; σ(s) = 50 σ(μ) from a pyhf fit to the Asimov data of
the network's binned output on an independent test sample, profiling all nuisances. As a user's tool would get
them, the shape systematics are up/down samples: the same background events with x₀ → x₀ ± 0.4 (r = ±0.4) and
x₂ → x₂ · 3/λ for λ = 4 and λ = 2 (an Exp(3) variable times 3/λ is Exp(λ)), interpolated as pyhf does
(``histosys``, code 4p); the fit uses the same templates. The paper instead differentiates the generative model
at λ = 3, so its figures and these differ by the finite ±1σ steps of the templates (small for r, larger for λ).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from higgsflow.errors import ConfigError, DataError
from higgsflow.sannt.data import Sample, SystematicDataset, Variation
from higgsflow.sannt.pyhf_model import pyhf_sigma
from higgsflow.sannt.train import SanntConfig, network_templates, train_cennt, train_sannt

__all__ = [
    "INFERNO",
    "PAPER_SIGMA",
    "InfernoSeed",
    "inferno_samples",
    "run_inferno_seed",
]

log = logging.getLogger(__name__)

#: the generative model: means, variances of (x₀, x₁), rate of x₂, expected events, nuisances
INFERNO: dict[str, dict] = {
    "signal": {"mean": (0.0, 0.0), "var": (1.0, 1.0), "rate": 2.0, "yield": 50.0},
    "background": {"mean": (2.0, 0.0), "var": (5.0, 9.0), "rate": 3.0, "yield": 1000.0},
    "r": {"nominal": 0.0, "sigma": 0.4},
    "lambda": {"nominal": 3.0, "sigma": 1.0},
    "b_norm": {"sigma": 0.10},
}

#: σ(s) of the paper's table (pablodecm/paper-inferno, paper/table.tex): the cross-entropy classifier, INFERNO
#: trained for that benchmark, and the analytical likelihood (the optimum)
PAPER_SIGMA: dict[int, dict[str, float]] = {
    3: {"NN classifier": 21.54, "INFERNO": 16.89, "analytical likelihood": 15.62},
    4: {"NN classifier": 26.71, "INFERNO": 18.68, "analytical likelihood": 16.89},
}


def _check_benchmark(benchmark: int) -> None:
    if benchmark not in PAPER_SIGMA:
        raise ConfigError(f"benchmark {benchmark}", field="benchmark", expected="3 or 4")


def inferno_samples(n_per_process: int, seed: int, benchmark: int = 3) -> SystematicDataset:
    """Signal and background of the INFERNO benchmark, ``n_per_process`` simulated events each, weighted to
    s = 50 and b = 1000 expected events.

    The background carries the shape nuisances ``r`` (x₀ ± 0.4, the same events) and ``lambda`` (x₂ · 3/4 and
    x₂ · 3/2: the rate λ = 4 and λ = 2, the same events); benchmark 4 adds ``b_norm`` (κ = 1.1, 0.9). The POI
    ``mu`` scales the signal (s = 50 μ).
    """
    _check_benchmark(benchmark)
    if n_per_process < 1:
        raise DataError(
            f"n_per_process = {n_per_process}", field="n_per_process", expected="a positive integer"
        )
    rng_s, rng_b = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))

    def draw(rng: np.random.Generator, cfg: dict) -> np.ndarray:
        x01 = rng.normal(cfg["mean"], np.sqrt(cfg["var"]), size=(n_per_process, 2))
        x2 = rng.exponential(1.0 / cfg["rate"], size=n_per_process)
        return np.column_stack([x01, x2])

    sig, bkg = INFERNO["signal"], INFERNO["background"]
    xs, xb = draw(rng_s, sig), draw(rng_b, bkg)
    dr = INFERNO["r"]["sigma"]
    lam, dlam = INFERNO["lambda"]["nominal"], INFERNO["lambda"]["sigma"]

    def shifted(dx0: float = 0.0, rate: float = lam) -> np.ndarray:
        x = xb.copy()
        x[:, 0] += dx0
        x[:, 2] *= lam / rate
        return x

    shape = {
        "r": (Variation(features=shifted(dx0=dr)), Variation(features=shifted(dx0=-dr))),
        "lambda": (
            Variation(features=shifted(rate=lam + dlam)),
            Variation(features=shifted(rate=lam - dlam)),
        ),
    }
    norm = {}
    if benchmark == 4:
        k = INFERNO["b_norm"]["sigma"]
        norm["b_norm"] = (1.0 + k, 1.0 - k)
    return SystematicDataset(
        [
            Sample("signal", xs, np.full(n_per_process, sig["yield"] / n_per_process), poi="mu"),
            Sample(
                "background",
                xb,
                np.full(n_per_process, bkg["yield"] / n_per_process),
                shape_systematics=shape,
                norm_systematics=norm,
            ),
        ]
    )


@dataclass
class InfernoSeed:
    """One seed of one benchmark: σ(s) per method (pyhf, test sample), wall times (s), kept epochs."""

    seed: int
    benchmark: int
    sigma: dict[str, float]
    seconds: dict[str, float] = field(default_factory=dict)
    best_epoch: dict[str, int] = field(default_factory=dict)


def run_inferno_seed(
    seed: int,
    benchmark: int = 3,
    *,
    n_train: int = 20000,
    n_test: int = 100000,
    config: SanntConfig | None = None,
    fine_tune: bool = False,
    callback: Callable[[str, int, float], None] | None = None,
    methods: Sequence[str] = ("CENNT", "SANNT"),
) -> InfernoSeed:
    """CENNT and SANNT on one seed of a benchmark: SANNT from scratch with the default (``"nodes"``) binning, or
    (``fine_tune``) fine-tuning the CENNT network with ``"score"`` binning.

    Training and validation samples have ``n_train`` simulated events per process, the test sample ``n_test``;
    σ(s) = 50 σ(μ) from :func:`~higgsflow.sannt.pyhf_model.pyhf_sigma` on the test templates.
    """
    _check_benchmark(benchmark)
    config = config or SanntConfig()
    s_train, s_val, s_test = (
        int(s.generate_state(1)[0]) for s in np.random.SeedSequence([seed, benchmark]).spawn(3)
    )
    train = inferno_samples(n_train, s_train, benchmark)
    val = inferno_samples(n_train, s_val, benchmark)
    test = inferno_samples(n_test, s_test, benchmark)
    s_exp = INFERNO["signal"]["yield"]
    nets, seconds, best = {}, {}, {}
    t0 = time.perf_counter()
    ce = train_cennt(train, val, config, seed=seed, callback=callback)
    seconds["CENNT"], nets["CENNT"], best["CENNT"] = time.perf_counter() - t0, ce.network, ce.best_epoch
    if "SANNT" in methods:
        t0 = time.perf_counter()
        sa = train_sannt(
            train, val, config, seed=seed, init=ce.network if fine_tune else None, callback=callback
        )
        seconds["SANNT"], nets["SANNT"], best["SANNT"] = time.perf_counter() - t0, sa.network, sa.best_epoch
    sigma = {}
    for method, net in nets.items():
        fit = pyhf_sigma(network_templates(net, test, config), min_yield=config.min_yield)
        sigma[method] = s_exp * fit["mu"]
        log.info("INFERNO benchmark %d seed %d %s: sigma(s) = %.2f", benchmark, seed, method, sigma[method])
    return InfernoSeed(seed, benchmark, sigma, seconds, best)
