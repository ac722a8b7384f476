"""A small binned EFT likelihood: quadratic signal yields, Poisson bins, normalisation nuisances (iminuit).

Per-bin signal yields are quadratic in θ,

    S_b(θ) = s0_b + Σ_i θ_i s_i,b + ½ Σ_{i,j} θ_i θ_j s_ij,b,

in the weight convention of ``docs/conventions.md`` (the yields are sums of event weight coefficients), which
HistFactory cannot express. Each sample k (the signal, then the backgrounds) is scaled by a normalisation
nuisance α_k with a unit Gaussian constraint, as pyhf's ``normsys`` with hi = 1+σ_k, lo = 1/(1+σ_k)
(exponential interpolation: factor (1+σ_k)^α_k):

    ν_b(θ, α) = S_b(θ) (1+σ_S)^α_S + Σ_k B_k,b (1+σ_k)^α_k,
    −ln L = Σ_b [ν_b − n_b ln ν_b + ln n_b!] + Σ_k [α_k²/2 + ½ ln 2π].

At fixed θ this is exactly a pyhf model (:meth:`EFTLikelihood.pyhf_model`), which the tests compare against.
Expected results use the Asimov data set at θ = 0, α = 0; the test statistic is
q(θ) = 2 [−ln L(θ, α̂̂(θ)) + ln L(θ̂, α̂)] with 68 %/95 % CL thresholds 1.00/3.84 (1D) and 2.30/5.99 (2D).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import gammaln

from higgsflow.errors import ConfigError, FitError

__all__ = ["CL_THRESHOLDS_1D", "CL_THRESHOLDS_2D", "EFTLikelihood", "Interval"]

log = logging.getLogger(__name__)

CL_THRESHOLDS_1D = {0.68: 1.0, 0.95: 3.841458820694124}
CL_THRESHOLDS_2D = {0.68: 2.295748928898636, 0.95: 5.991464547107979}


@dataclass
class Interval:
    """A 1D confidence interval (possibly a union of disjoint pieces) from a likelihood scan."""

    name: str
    cl: float
    pieces: list[tuple[float, float]]
    profiled: bool

    @property
    def width(self) -> float:
        return float(sum(hi - lo for lo, hi in self.pieces))


@dataclass
class EFTLikelihood:
    """Binned likelihood with quadratic signal yields.

    Parameters
    ----------
    names:
        Wilson-coefficient names (N).
    signal:
        Per-bin yield coefficients, shape (n_bins, 1 + N(N+3)/2), ordered as ``weights.coefficient_columns``.
    backgrounds:
        Mapping name → per-bin yields (n_bins,).
    norm_uncertainties:
        Mapping sample name ("signal" or a background name) → relative normalisation uncertainty σ_k.
    data:
        Observed counts (n_bins,); default the Asimov data at θ = 0.
    """

    names: Sequence[str]
    signal: np.ndarray
    backgrounds: dict[str, np.ndarray] = field(default_factory=dict)
    norm_uncertainties: dict[str, float] = field(default_factory=dict)
    data: np.ndarray | None = None

    def __post_init__(self) -> None:
        from higgsflow.eft.weights import n_coefficients

        self.names = list(self.names)
        self.signal = np.atleast_2d(np.asarray(self.signal, float))
        if self.signal.shape[1] != n_coefficients(len(self.names)):
            raise ConfigError(
                "signal yield coefficients do not match the coefficient names",
                field="signal",
                expected=f"shape (n_bins, {n_coefficients(len(self.names))})",
            )
        nb = self.signal.shape[0]
        self.backgrounds = {k: np.asarray(v, float).reshape(nb) for k, v in self.backgrounds.items()}
        samples = ["signal", *self.backgrounds]
        for k, s in self.norm_uncertainties.items():
            if k not in samples:
                raise ConfigError(
                    f"unknown sample {k!r}", field="norm_uncertainties", expected=", ".join(samples)
                )
            if not s > 0:
                raise ConfigError("normalisation uncertainty must be positive", field=k)
        self.nuisances = [k for k in samples if k in self.norm_uncertainties]
        self.asimov = self.data is None
        if self.data is None:
            self.data = self.expected(np.zeros(len(self.names)))
        self.data = np.asarray(self.data, float)
        if np.any(self.data < 0) or not np.all(np.isfinite(self.data)):
            raise FitError("data must be finite and non-negative", field="data")

    # -- model -----------------------------------------------------------------------------------------------
    @property
    def n_bins(self) -> int:
        return self.signal.shape[0]

    def signal_yields(self, theta: np.ndarray) -> np.ndarray:
        """S_b(θ)."""
        from higgsflow.eft.weights import quadratic_design

        return self.signal @ quadratic_design(np.asarray(theta, float).reshape(1, -1))[0]

    def expected(self, theta: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
        """ν_b(θ, α)."""
        alpha = np.zeros(len(self.nuisances)) if alpha is None else np.asarray(alpha, float)
        fac = {k: (1 + self.norm_uncertainties[k]) ** a for k, a in zip(self.nuisances, alpha, strict=True)}
        nu = self.signal_yields(theta) * fac.get("signal", 1.0)
        for k, b in self.backgrounds.items():
            nu = nu + b * fac.get(k, 1.0)
        return nu

    def nll(self, theta: np.ndarray, alpha: np.ndarray | None = None) -> float:
        """−ln L(θ, α) including all constants (comparable with pyhf's ``logpdf``)."""
        alpha = np.zeros(len(self.nuisances)) if alpha is None else np.asarray(alpha, float)
        nu = self.expected(theta, alpha)
        if np.any(nu <= 0):
            # negative or empty yields lie outside the quadratic model's physical region: a steep, smooth wall
            return float(1e8 * (1 + np.sum(np.maximum(-nu, 0) + 1e-3)) + np.sum(0.5 * alpha**2))
        n = self.data
        pois = np.sum(nu - n * np.log(nu) + gammaln(n + 1))
        return float(pois + np.sum(0.5 * alpha**2 + 0.5 * np.log(2 * np.pi)))

    # -- fits ------------------------------------------------------------------------------------------------
    def fit(
        self, fixed: dict[int, float] | None = None, start: np.ndarray | None = None, strict: bool = True
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """Minimise −ln L over the free θ and all α. Returns (nll, θ̂, α̂).

        With ``strict=False`` (scan points) a minimisation that stays invalid after a simplex restart is
        accepted with a warning: such points lie deep in the excluded region.
        """
        from iminuit import Minuit

        n, m = len(self.names), len(self.nuisances)
        fixed = fixed or {}
        x0 = np.zeros(n + m) if start is None else np.asarray(start, float).copy()
        for i, v in fixed.items():
            x0[i] = v

        def f(x):
            return self.nll(x[:n], x[n:])

        mi = Minuit(f, x0, name=[*self.names, *(f"alpha_{k}" for k in self.nuisances)])
        mi.errordef = Minuit.LIKELIHOOD
        mi.strategy = 1
        for i in fixed:
            mi.fixed[i] = True
        free = n + m - len(fixed)
        if free == 0:
            return f(x0), x0[:n], x0[n:]
        mi.migrad()
        if not mi.valid:
            mi.migrad()
        if not mi.valid:
            raise FitError(
                "minimisation did not converge", field=",".join(self.names), expected="a valid minimum"
            )
        x = np.array(mi.values)
        return float(mi.fval), x[:n], x[n:]

    def _global_min(self) -> float:
        if not hasattr(self, "_gmin"):
            at_sm = self.nll(np.zeros(len(self.names)), np.zeros(len(self.nuisances)))
            # Asimov data: ν = n at θ = 0, α = 0 saturates every Poisson term and constraint, so that point is
            # the global minimum (with more parameters than bins a fit would only find flat directions)
            self._gmin = at_sm if self.asimov else min(self.fit()[0], at_sm)
        return self._gmin

    def q(self, point: dict[int, float], profile: bool = True) -> float:
        """q = 2 Δ(−ln L) at the coefficients in ``point`` (index → value); others profiled or fixed at 0."""
        n = len(self.names)
        fixed = dict(point) if profile else {i: point.get(i, 0.0) for i in range(n)}
        if len(fixed) == n and not self.nuisances:
            val = self.nll(np.array([fixed[i] for i in range(n)]))
        else:
            val = self.fit(fixed, strict=False)[0]
        return 2 * (val - self._global_min())

    def scan_1d(self, index: int, values: np.ndarray, profile: bool = False) -> np.ndarray:
        """q along one coefficient (others fixed at 0 or profiled)."""
        return np.array([self.q({index: float(v)}, profile) for v in values])

    def interval(
        self, index: int, values: np.ndarray, cl: float = 0.95, profile: bool = False
    ) -> tuple[Interval, np.ndarray]:
        """Expected interval from a scan on ``values`` (linear interpolation of the crossings)."""
        qs = self.scan_1d(index, values, profile)
        thr = CL_THRESHOLDS_1D[cl]
        inside = qs < thr
        pieces = []
        k = 0
        while k < len(values):
            if inside[k]:
                j = k
                while j + 1 < len(values) and inside[j + 1]:
                    j += 1
                lo = values[k] if k == 0 else _cross(values[k - 1], values[k], qs[k - 1], qs[k], thr)
                hi = (
                    values[j]
                    if j == len(values) - 1
                    else _cross(values[j], values[j + 1], qs[j], qs[j + 1], thr)
                )
                if k == 0 or j == len(values) - 1:
                    log.warning("interval for %s reaches the end of the scanned range", self.names[index])
                pieces.append((float(lo), float(hi)))
                k = j + 1
            else:
                k += 1
        return Interval(self.names[index], cl, pieces, profile), qs

    def scan_2d(self, i: int, j: int, xs: np.ndarray, ys: np.ndarray, profile: bool = False) -> np.ndarray:
        """q on a grid (len(ys), len(xs)) for coefficients i (x) and j (y)."""
        return np.array([[self.q({i: float(x), j: float(y)}, profile) for x in xs] for y in ys])

    # -- pyhf cross-check ------------------------------------------------------------------------------------
    def pyhf_model(self, theta: np.ndarray):
        """The pyhf model of this likelihood at fixed θ (signal yields S_b(θ) as a sample) and its data."""
        import pyhf

        def sample(name, yields):
            mods = [{"name": "mu", "type": "normfactor", "data": None}] if name == "signal" else []
            if name in self.norm_uncertainties:
                s = self.norm_uncertainties[name]
                mods.append(
                    {"name": f"alpha_{name}", "type": "normsys", "data": {"hi": 1 + s, "lo": 1 / (1 + s)}}
                )
            return {"name": name, "data": [float(v) for v in yields], "modifiers": mods}

        samples = [sample("signal", self.signal_yields(theta))]
        samples += [sample(k, b) for k, b in self.backgrounds.items()]
        spec = {"channels": [{"name": "sr", "samples": samples}]}
        model = pyhf.Model(spec, poi_name="mu")
        return model, list(self.data) + model.config.auxdata


def _cross(x0, x1, q0, q1, thr):
    if q1 == q0:
        return x0
    return x0 + (thr - q0) * (x1 - x0) / (q1 - q0)
