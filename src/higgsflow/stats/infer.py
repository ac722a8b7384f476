"""Inference on a pyhf workspace: ML fits, CLs upper limits, significances, likelihood scans, impacts, yields.

pyhf evaluates the likelihood (numpy backend) and iminuit minimises it (``pyhf.optimize.minuit_optimizer``).
Speed comes from doing fewer fits, not from another likelihood:

* one :class:`StatModel` holds the pyhf models (one per POI) and the observed data, built once;
* an upper limit reuses the unconditional fit and the background-only Asimov dataset for every tested μ
  (the free fit to Asimov data is known exactly: the Asimov parameters), so a CLs point costs two
  conditional fits, an expected-band point one; the expected limits solve sqrt(q_μ,A) = g_N, with g_N in
  closed form, by a secant search that converges in a few fits because sqrt(q_μ,A) is nearly linear in μ;
* fits are warm-started from the nearest fitted point;
* impacts run their 4 fits per nuisance parameter in a process pool (fork, the model is inherited).

Test statistics and asymptotic formulas follow Cowan, Cranmer, Gross, Vitells, arXiv:1007.1727; the
p-value distributions are pyhf's :class:`~pyhf.infer.calculators.AsymptoticTestStatDistribution`.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from higgsflow.errors import ConfigError, FitError

__all__ = [
    "FitResult",
    "ImpactResult",
    "LimitResult",
    "Scan2DResult",
    "ScanResult",
    "SignificanceResult",
    "StatModel",
    "YieldTable",
    "fit",
    "hypotest",
    "impacts",
    "scan",
    "scan_2d",
    "significance",
    "upper_limit",
    "yields",
]

log = logging.getLogger(__name__)

DEFAULT_INTERPOLATION = {"normsys": "code4", "histosys": "code4p"}


_SETTINGS: dict[str, float] = {"tolerance": 0.1, "strategy": 0}


@contextlib.contextmanager
def _engine(tolerance: float | None = None, strategy: int | None = None) -> Iterator[None]:
    """numpy backend and Minuit tolerance during a call; the caller's pyhf settings are restored."""
    import pyhf

    old_backend, old_opt = pyhf.get_backend()
    old = dict(_SETTINGS)
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(tolerance=tolerance or 0.1))
    _SETTINGS["tolerance"] = tolerance or 0.1
    if strategy is not None:
        _SETTINGS["strategy"] = strategy
    try:
        yield
    finally:
        pyhf.set_backend(old_backend, old_opt)
        _SETTINGS.update(old)


class StatModel:
    """A pyhf workspace with its models (one per POI, built once) and observed data.

    Parameters
    ----------
    spec: the pyhf JSON workspace (dict).
    interpolation: interpolation codes, default ``{"normsys": "code4", "histosys": "code4p"}`` (pinned: the
        pyhf library default is code1/code0; code 4/4p are smooth at α = 0, as in ROOT ≥ 6.26 and Combine).
    tolerance: Minuit's tolerance (EDM < 0.002·tolerance); 0.1 is pyhf's and cabinetry's default.
    strategy: Minuit strategy of MIGRAD in every fit (0, as Combine's default fits; an invalid minimum is
        retried with 1 and 2). The ML fit (:func:`fit`) follows MIGRAD with HESSE, so its uncertainties and
        correlations are those of pyhf's and cabinetry's strategy-1 fits.
    """

    def __init__(
        self,
        spec: Mapping[str, Any],
        *,
        interpolation: Mapping[str, str] | None = None,
        tolerance: float = 0.1,
        strategy: int = 0,
        measurement: str | None = None,
    ) -> None:
        import pyhf

        try:
            self.workspace = pyhf.Workspace(dict(spec))
        except Exception as exc:
            raise ConfigError(f"invalid pyhf workspace: {exc}", field="workspace") from exc
        self.spec = dict(spec)
        self.interpolation = {**DEFAULT_INTERPOLATION, **(interpolation or {})}
        self.tolerance = tolerance
        self.strategy = strategy
        self.measurement = measurement
        self._models: dict[str, Any] = {}
        self.default_poi = self.workspace.get_measurement(measurement_name=measurement)["config"]["poi"]

    def model(self, poi: str | None = None):
        """The pyhf model with ``poi`` as parameter of interest (cached)."""
        poi = poi or self.default_poi
        if poi not in self._models:
            settings = {
                "normsys": {"interpcode": self.interpolation["normsys"]},
                "histosys": {"interpcode": self.interpolation["histosys"]},
            }
            try:
                with _engine(self.tolerance):
                    self._models[poi] = self.workspace.model(
                        measurement_name=self.measurement, poi_name=poi, modifier_settings=settings
                    )
            except Exception as exc:
                raise ConfigError(f"cannot build the model: {exc}", field=poi) from exc
        return self._models[poi]

    def data(self, poi: str | None = None) -> np.ndarray:
        """Observed counts followed by the auxiliary data."""
        return np.asarray(self.workspace.data(self.model(poi)), dtype=float)

    def asimov_data(self, pars: Mapping[str, float] | None = None, poi: str | None = None) -> np.ndarray:
        """Expected data (main + auxiliary) at the suggested initial parameters, changed by ``pars``."""
        m = self.model(poi)
        p = self.parameters(pars, poi)
        return np.asarray(m.expected_data(p), dtype=float)

    def parameters(self, values: Mapping[str, float] | None = None, poi: str | None = None) -> np.ndarray:
        """The suggested initial parameter vector with scalar parameters set from ``values``."""
        m = self.model(poi)
        p = np.asarray(m.config.suggested_init(), dtype=float)
        for k, v in (values or {}).items():
            p[self.index(k, poi)] = v
        return p

    def index(self, name: str, poi: str | None = None) -> int:
        """The index of a parameter (``name`` or ``name[i]`` for a component) in the parameter vector."""
        labels = self.model(poi).config.par_names
        if name in labels:
            return labels.index(name)
        raise ConfigError(
            f"unknown parameter {name!r}",
            field="parameter",
            expected="one of: " + ", ".join(labels[:20]) + (" ..." if len(labels) > 20 else ""),
        )

    @property
    def pois(self) -> list[str]:
        """All normfactors (candidate parameters of interest)."""
        m = self.model()
        return (
            [p for p in m.config.par_order if m.config.modifier(p) == "normfactor"]
            if hasattr(m.config, "modifier")
            else [p for p in m.config.par_order if not m.config.param_set(p).constrained]
        )


def _bounds(model, poi_lower_zero: bool = False, extra: Mapping[int, tuple[float, float]] | None = None):
    b = [list(x) for x in model.config.suggested_bounds()]
    if poi_lower_zero:
        b[model.config.poi_index][0] = 0.0
    for i, (lo, hi) in (extra or {}).items():
        b[i] = [lo, hi]
    return b


def _fixed(model, fixed: Sequence[int] = ()) -> list[bool]:
    f = list(model.config.suggested_fixed())
    for i in fixed:
        f[i] = True
    return f


def _minimize(model, data, init, bounds, fixed, *, hesse: bool = False, tolerance: float | None = None):
    """One fit of −2 ln L (pyhf ``model.logpdf``) with iminuit's MIGRAD, HESSE only when asked.

    (pyhf's own Minuit wrapper always runs HESSE after MIGRAD; conditional fits for limits, scans and
    impacts do not need it, and on a model with hundreds of parameters it costs more than the fit.)
    Returns (pars, twice_nll, minuit-or-None).
    """
    from iminuit import Minuit

    data = np.asarray(data, dtype=float)
    init = np.array(init, dtype=float)
    bounds = [list(b) for b in bounds]
    for i, (lo, hi) in enumerate(bounds):  # keep fixed values inside the bounds Minuit sees
        if fixed[i] and not lo <= init[i] <= hi:
            bounds[i] = [min(lo, init[i]), max(hi, init[i])]
        elif not fixed[i]:
            init[i] = min(max(init[i], lo), hi)

    def twice_nll(p: np.ndarray) -> float:
        return float(-2.0 * model.logpdf(p, data)[0])

    if all(fixed):
        return init, twice_nll(init), None
    m = Minuit(twice_nll, init)
    m.errordef = Minuit.LEAST_SQUARES  # −2 ln L: errordef 1
    m.limits = [tuple(b) for b in bounds]
    m.fixed = list(fixed)
    m.errors = [min(0.1, 0.05 * (hi - lo)) if hi > lo else 0.1 for lo, hi in bounds]
    strategy = int(_SETTINGS["strategy"])
    m.strategy = strategy
    m.tol = _SETTINGS["tolerance"] if tolerance is None else tolerance
    m.migrad(ncall=100000)
    if not m.valid:  # retry with the more careful strategies before giving up
        for s in (1, 2):
            if s > strategy:
                m.strategy = s
                m.migrad(ncall=100000)
                if m.valid:
                    break
    if not m.valid:
        raise FitError(
            f"the fit did not converge (EDM {m.fmin.edm:.3g})", field="fit", expected="a valid Minuit minimum"
        )
    if hesse:
        m.hesse()
    pars = np.asarray(m.values, dtype=float)
    return pars, float(m.fval), m


# --------------------------------------------------------------------------------------------------- fit
@dataclass
class FitResult:
    """Best-fit values, Hesse uncertainties and correlations of all parameters; ``twice_nll`` = −2 ln L."""

    labels: list[str]
    bestfit: np.ndarray
    uncertainty: np.ndarray
    correlation: np.ndarray
    twice_nll: float
    poi: str

    @property
    def covariance(self) -> np.ndarray:
        return self.correlation * np.outer(self.uncertainty, self.uncertainty)

    def __getitem__(self, name: str) -> tuple[float, float]:
        i = self.labels.index(name)
        return float(self.bestfit[i]), float(self.uncertainty[i])

    def to_dict(self) -> dict[str, Any]:
        return {
            "poi": self.poi,
            "twice_nll": self.twice_nll,
            "parameters": {
                k: [float(v), float(e)]
                for k, v, e in zip(self.labels, self.bestfit, self.uncertainty, strict=True)
            },
        }


def fit(
    sm: StatModel,
    *,
    poi: str | None = None,
    data: np.ndarray | None = None,
    asimov: bool | Mapping[str, float] = False,
    fix: Mapping[str, float] | None = None,
    init: np.ndarray | None = None,
) -> FitResult:
    """Maximum-likelihood fit with Minuit (MIGRAD + HESSE) of pyhf's likelihood.

    ``asimov=True`` fits the nominal expectation (``asimov={"mu": 2}`` the expectation at μ = 2), so the
    result returns the injected values; ``fix`` holds parameters constant at the given values.
    """
    m = sm.model(poi)
    if data is None:
        data = (
            sm.asimov_data(asimov if isinstance(asimov, Mapping) else None, poi) if asimov else sm.data(poi)
        )
    p0 = sm.parameters(fix, poi) if init is None else np.array(init, dtype=float)
    fixed = _fixed(m, [sm.index(k, poi) for k in (fix or {})])
    with _engine(sm.tolerance, sm.strategy):
        # MIGRAD at the model's strategy (0 by default; 1 and 2 are tried if it fails), then HESSE for the
        # uncertainties and correlations: the same minimum and covariance as pyhf's own Minuit path
        # (strategy 1 + HESSE, which cabinetry uses) for fewer likelihood calls.
        pars, tnll, minuit = _minimize(m, data, p0, _bounds(m), fixed, hesse=True)
    n = len(pars)
    unc = np.zeros(n)
    corr = np.eye(n)
    if minuit is not None and minuit.covariance is not None:
        # Minuit's parabolic errors (as pyhf and cabinetry report them; near a bound they differ from
        # sqrt(diag(cov)) through Minuit's internal transformation)
        unc = np.where(minuit.fixed, 0.0, np.asarray(minuit.errors, dtype=float))
        corr = np.nan_to_num(np.asarray(minuit.covariance.correlation(), dtype=float))
        np.fill_diagonal(corr, 1.0)
    if not np.all(np.isfinite(pars)) or not np.isfinite(tnll):
        raise FitError("the fit returned non-finite values", field=poi or sm.default_poi)
    return FitResult(list(m.config.par_names), pars, unc, corr, tnll, poi or sm.default_poi)


# ----------------------------------------------------------------------------------------- hypothesis test
class _Hypotester:
    """Cached pieces of asymptotic CLs tests for one model and dataset."""

    def __init__(self, sm: StatModel, poi: str | None, data: np.ndarray | None, test_stat: str) -> None:
        if test_stat not in ("qtilde", "q"):
            raise ConfigError("unknown test statistic", field="test_stat", expected="qtilde or q")
        self.sm, self.poi, self.test_stat = sm, poi, test_stat
        self.m = sm.model(poi)
        self.ipoi = self.m.config.poi_index
        self.data = sm.data(poi) if data is None else np.asarray(data, dtype=float)
        self.bounds = _bounds(self.m, poi_lower_zero=(test_stat == "qtilde"))
        self.fixed = _fixed(self.m, [self.ipoi])
        free_fixed = _fixed(self.m)
        init = np.asarray(self.m.config.suggested_init(), dtype=float)
        self.free_pars, self.free_nll, _ = _minimize(
            self.m, self.data, init, _bounds(self.m, test_stat == "qtilde"), free_fixed
        )
        a0 = init.copy()
        a0[self.ipoi] = 0.0
        self.asimov_pars, _, _ = _minimize(self.m, self.data, a0, list(map(list, self.bounds)), self.fixed)
        self.asimov = np.asarray(self.m.expected_data(self.asimov_pars), dtype=float)
        # the unconditional fit to Asimov data is the Asimov parameter point itself (saturated Poisson + aux)
        import pyhf

        self.asimov_nll = float(pyhf.infer.mle.twice_nll(self.asimov_pars, self.asimov, self.m)[0])
        self._cache: dict[tuple[str, float], tuple[float, np.ndarray]] = {}

    def _fixed_fit(self, which: str, mu: float) -> float:
        key = (which, round(float(mu), 12))
        if key not in self._cache:
            near = [k for k in self._cache if k[0] == which]
            if near:
                start = self._cache[min(near, key=lambda k: abs(k[1] - mu))][1].copy()
            else:
                start = (self.free_pars if which == "obs" else self.asimov_pars).copy()
            start[self.ipoi] = mu
            d = self.data if which == "obs" else self.asimov
            pars, tnll, _ = _minimize(self.m, d, start, [list(b) for b in self.bounds], self.fixed)
            self._cache[key] = (tnll, pars)
        return self._cache[key][0]

    def sqrt_q(self, mu: float) -> float:
        if self.free_pars[self.ipoi] > mu:
            return 0.0
        return float(np.sqrt(max(self._fixed_fit("obs", mu) - self.free_nll, 0.0)))

    def sqrt_qA(self, mu: float) -> float:
        if mu <= 0:
            return 0.0
        return float(np.sqrt(max(self._fixed_fit("asimov", mu) - self.asimov_nll, 0.0)))

    def cls(self, mu: float, expected: bool = True) -> tuple[float, list[float]]:
        from pyhf.infer.calculators import AsymptoticTestStatDistribution

        sq, g = self.sqrt_q(mu), self.sqrt_qA(mu)
        t = sq - g if self.test_stat == "q" or sq <= g else (sq**2 - g**2) / (2 * g)
        sb, b = AsymptoticTestStatDistribution(-g), AsymptoticTestStatDistribution(0.0)
        obs = float(sb.pvalue(t) / b.pvalue(t))
        exp = []
        if expected:
            for n in (2, 1, 0, -1, -2):
                tn = b.expected_value(n)
                exp.append(float(sb.pvalue(tn) / b.pvalue(tn)))
        return obs, exp


def hypotest(
    sm: StatModel,
    mu: float,
    *,
    poi: str | None = None,
    data: np.ndarray | None = None,
    test_stat: str = "qtilde",
) -> tuple[float, list[float]]:
    """Asymptotic CLs at POI value ``mu``: (observed, expected at −2, −1, 0, +1, +2 σ of the limit).

    The same numbers as ``pyhf.infer.hypotest(mu, data, model, test_stat=..., return_expected_set=True)``.
    """
    with _engine(sm.tolerance, sm.strategy):
        return _Hypotester(sm, poi, data, test_stat).cls(mu)


@dataclass
class LimitResult:
    """Upper limits on ``poi`` at confidence level ``cl``; ``expected`` at −2, −1, 0, +1, +2 σ."""

    poi: str
    cl: float
    observed: float
    expected: np.ndarray
    calculator: str = "asymptotic"
    points: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "poi": self.poi,
            "cl": self.cl,
            "observed": self.observed,
            "expected": self.expected.tolist(),
            "calculator": self.calculator,
        }


def _secant(f: Callable[[float], float], x0: float, x1: float, xtol: float, lo: float, hi: float) -> float:
    """Root of a nearly linear increasing function, with bracketing fallback (brentq)."""
    from scipy.optimize import brentq

    f0, f1 = f(x0), f(x1)
    for _ in range(12):
        if f1 == f0:
            break
        x2 = x1 - f1 * (x1 - x0) / (f1 - f0)
        x2 = min(max(x2, lo), hi)
        if abs(x2 - x1) < xtol:
            return x2
        x0, f0, x1, f1 = x1, f1, x2, f(x2)
        if abs(f1) < 1e-9:
            return x1
    # fall back to a bracket around the last point
    a, b = max(lo, x1 * 0.5), min(hi, max(x1 * 2.0, x1 + 1.0))
    while f(a) > 0 and a > lo:
        a = max(lo, a * 0.5)
    while f(b) < 0 and b < hi:
        b = min(hi, b * 2.0)
    if np.sign(f(a)) == np.sign(f(b)):
        raise FitError(
            "cannot bracket the upper limit within the POI bounds",
            field="upper_limit",
            expected=f"a limit in [{lo}, {hi}]",
        )
    return float(brentq(f, a, b, xtol=xtol))


def upper_limit(
    sm: StatModel,
    *,
    poi: str | None = None,
    cl: float = 0.95,
    data: np.ndarray | None = None,
    test_stat: str = "qtilde",
    poi_tolerance: float = 0.01,
    calculator: str = "asymptotic",
    ntoys: int = 1000,
    seed: int = 0,
    toy_scan: Sequence[float] | None = None,
) -> LimitResult:
    """CLs upper limit on ``poi`` with the ±1σ/±2σ expected band.

    Asymptotic (default): the observed limit solves CLs(μ) = 1 − cl, the expected ones
    sqrt(q_μ,A) = g_N with g_N = −Φ⁻¹((1 − cl)·Φ(−N)) − N (N = 2, 1, 0, −1, −2). ``poi_tolerance`` is the
    absolute tolerance on the limit (cabinetry's default 0.01). ``calculator="toys"`` runs pyhf's toy
    calculator on ``toy_scan`` (``ntoys`` per point, numpy's global generator seeded with ``seed``).
    """
    from scipy.stats import norm

    alpha = 1.0 - cl
    name = poi or sm.default_poi
    if calculator == "toys":
        return _toy_limit(sm, name, cl, data, test_stat, ntoys, seed, toy_scan)
    if calculator != "asymptotic":
        raise ConfigError("unknown calculator", field="calculator", expected="asymptotic or toys")
    with _engine(sm.tolerance, sm.strategy):
        h = _Hypotester(sm, poi, data, test_stat)
        hi = h.bounds[h.ipoi][1]
        # σ_A from one Asimov point; then each expected limit by a secant search on sqrt(q_A)
        mu0 = max(1.0, abs(h.free_pars[h.ipoi]))
        sigma_a = mu0 / max(h.sqrt_qA(mu0), 1e-6)
        expected = []
        for n in (2, 1, 0, -1, -2):
            g_n = -norm.ppf(alpha * norm.cdf(-n)) - n
            guess = min(max(g_n * sigma_a, poi_tolerance), hi)
            expected.append(
                _secant(lambda mu, g=g_n: h.sqrt_qA(mu) - g, guess, guess * 1.05, poi_tolerance, 1e-9, hi)
            )
        # observed: log CLs is smooth and close to linear near the limit
        mu_hat = max(h.free_pars[h.ipoi], 0.0)
        g0 = -norm.ppf(alpha * 0.5)
        guess = min(max(mu_hat + g0 * sigma_a, poi_tolerance), hi)
        observed = _secant(
            lambda mu: np.log(alpha) - np.log(max(h.cls(mu, expected=False)[0], 1e-300)),
            guess,
            guess * 1.05,
            poi_tolerance,
            1e-9,
            hi,
        )
        nfits = 2 + len(h._cache)
    log.info("upper limit on %s: observed %.4g, expected %.4g (%d fits)", name, observed, expected[2], nfits)
    res = LimitResult(name, cl, float(observed), np.asarray(expected, dtype=float))
    res.points = {"n_fits": [float(nfits)]}
    return res


def _toy_limit(sm, poi, cl, data, test_stat, ntoys, seed, toy_scan) -> LimitResult:
    """CLs from pyhf's ToyCalculator on a grid of POI values, limits by linear interpolation of CLs(μ).

    The observed and the median expected limit must lie inside ``toy_scan`` (else :class:`FitError`); an edge of
    the ±1σ/±2σ band outside it is NaN with a warning.
    The expected band is the 2.3/15.9/50/84.1/97.7% quantiles of CLs over the background-only toys (as
    pyhf's ``expected_pvalues``, computed here with numpy because pyhf 0.7.6 passes numpy ≥ 2.4 a removed
    ``percentile`` keyword).
    """
    import pyhf

    if toy_scan is None:
        raise ConfigError(
            "toy limits need a scan of POI values", field="toy_scan", expected="a list of values"
        )
    m = sm.model(poi)
    d = sm.data(poi) if data is None else np.asarray(data, dtype=float)
    scan = np.asarray(toy_scan, dtype=float)
    np.random.seed(seed)  # noqa: NPY002  (pyhf's numpy backend samples toys from numpy's global generator)
    percentiles = [2.27501319, 15.86552539, 50.0, 84.13447461, 97.72498681]
    obs, exp = [], []
    old_backend, old_opt = pyhf.get_backend()
    pyhf.set_backend("numpy", "scipy")  # toy fits need no HESSE; pyhf's scipy optimizer is the lighter one
    try:
        calc = pyhf.infer.calculators.ToyCalculator(
            d, m, par_bounds=_bounds(m, test_stat == "qtilde"), test_stat=test_stat, ntoys=ntoys
        )
        for mu in scan:
            ts = calc.teststatistic(float(mu))
            sb, b = calc.distributions(float(mu))
            obs.append(float(calc.pvalues(ts, sb, b)[2]))
            cls_b = np.array([float(calc.pvalues(t, sb, b)[2]) for t in np.asarray(b.samples)])
            exp.append(np.percentile(cls_b, percentiles))
    finally:
        pyhf.set_backend(old_backend, old_opt)
    obs_a, exp_a = np.asarray(obs), np.asarray(exp)
    alpha = 1.0 - cl

    def cross(cls_values: np.ndarray, what: str, required: bool = True) -> float:
        if not (cls_values.min() < alpha < cls_values.max()):
            if not required:  # an edge of the band outside the scan: NaN, said once, the rest still stands
                log.warning("the %s expected limit lies outside the toy scan: NaN (widen toy_scan)", what)
                return float("nan")
            raise FitError(
                f"CLs does not cross 1 - cl inside the toy scan ({what})",
                field="toy_scan",
                expected=f"a scan whose CLs spans {alpha}",
            )
        return float(np.interp(alpha, cls_values[::-1], scan[::-1]))

    band = ("-2σ", "-1σ", "median", "+1σ", "+2σ")
    return LimitResult(
        poi,
        cl,
        cross(obs_a, "observed"),
        np.array([cross(exp_a[:, k], band[k], required=k == 2) for k in range(5)]),
        calculator="toys",
        points={"scan": scan.tolist(), "cls_obs": obs_a.tolist()},
    )


# ------------------------------------------------------------------------------------------ significance
@dataclass
class SignificanceResult:
    """Discovery p-values and significances (observed, and expected on Asimov data with μ = 1)."""

    poi: str
    observed_p: float
    observed_z: float
    expected_p: float
    expected_z: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def significance(
    sm: StatModel,
    *,
    poi: str | None = None,
    data: np.ndarray | None = None,
    expected: str = "postfit",
) -> SignificanceResult:
    """Discovery significance from q0 (asymptotic, Z = sqrt(q0)).

    The expected significance uses Asimov data with the POI at 1 and the nuisance parameters from a fit to
    the data with the POI fixed to 1 (``expected="postfit"``, pyhf's and cabinetry's convention) or at their
    nominal values (``"prefit"``). For one bin without systematics, Z_A = sqrt(2((s+b)ln(1+s/b) − s)).
    """
    from scipy.stats import norm

    m = sm.model(poi)
    ipoi = m.config.poi_index
    d = sm.data(poi) if data is None else np.asarray(data, dtype=float)
    bounds = _bounds(m)
    if bounds[ipoi][0] > 0:
        bounds[ipoi][0] = 0.0
    init = np.asarray(m.config.suggested_init(), dtype=float)

    def q0(dat, start) -> float:
        pars, free, _ = _minimize(m, dat, start, [list(b) for b in bounds], _fixed(m))
        if pars[ipoi] < 0:
            return 0.0
        s0 = pars.copy()
        s0[ipoi] = 0.0
        _, fixed, _ = _minimize(m, dat, s0, [list(b) for b in bounds], _fixed(m, [ipoi]))
        return max(fixed - free, 0.0)

    with _engine(sm.tolerance, sm.strategy):
        qobs = q0(d, init)
        a1 = init.copy()
        a1[ipoi] = 1.0
        if expected == "postfit":
            apars, _, _ = _minimize(m, d, a1, [list(b) for b in bounds], _fixed(m, [ipoi]))
        elif expected == "prefit":
            apars = a1
        else:
            raise ConfigError("unknown Asimov convention", field="expected", expected="postfit or prefit")
        asimov = np.asarray(m.expected_data(apars), dtype=float)
        qexp = q0(asimov, apars)
    zo, ze = float(np.sqrt(qobs)), float(np.sqrt(qexp))
    return SignificanceResult(poi or sm.default_poi, float(norm.sf(zo)), zo, float(norm.sf(ze)), ze)


# ------------------------------------------------------------------------------------------------ scans
@dataclass
class ScanResult:
    """A 1D profile-likelihood scan: 2ΔNLL at ``values`` of ``parameter`` and the 68%/95% intervals."""

    parameter: str
    values: np.ndarray
    delta_twice_nll: np.ndarray
    bestfit: float
    interval68: tuple[float, float]
    interval95: tuple[float, float]

    def interval_text(
        self, cl: int = 68, digits: int = 4, name: str | None = None, show_range: bool = True
    ) -> str:
        """The 68% or 95% CL interval in words; an end outside the scanned values (±inf in ``interval68`` /
        ``interval95``) is said to lie beyond the scanned range, e.g.
        ``"mu < 3.1354 (lower end beyond the scanned range [0, 5])"`` (without ``[0, 5]`` if not ``show_range``)."""
        lo, hi = self.interval68 if cl == 68 else self.interval95
        name = name or self.parameter
        rng = f"[{self.values[0]:g}, {self.values[-1]:g}]" if show_range else ""
        rng = rng and " " + rng
        if np.isfinite(lo) and np.isfinite(hi):
            return f"[{lo:.{digits}f}, {hi:.{digits}f}]"
        if np.isfinite(hi):
            return f"{name} < {hi:.{digits}f} (lower end beyond the scanned range{rng})"
        if np.isfinite(lo):
            return f"{name} > {lo:.{digits}f} (upper end beyond the scanned range{rng})"
        if not self.values[0] <= self.bestfit <= self.values[-1]:
            return f"outside the scanned range{rng} (best fit {self.bestfit:.{digits}f})"
        return f"both ends beyond the scanned range{rng}"


def _crossings(x: np.ndarray, y: np.ndarray, level: float, xbest: float) -> tuple[float, float]:
    """Where y crosses ``level`` left and right of the minimum (linear interpolation; ±inf if not reached)."""
    i0 = int(np.argmin(y))
    lo, hi = -np.inf, np.inf
    for i in range(i0, 0, -1):
        if y[i - 1] >= level > y[i] or y[i - 1] > level >= y[i]:
            lo = x[i - 1] + (level - y[i - 1]) * (x[i] - x[i - 1]) / (y[i] - y[i - 1])
            break
    for i in range(i0, len(x) - 1):
        if y[i + 1] >= level > y[i] or y[i + 1] > level >= y[i]:
            hi = x[i] + (level - y[i]) * (x[i + 1] - x[i]) / (y[i + 1] - y[i])
            break
    return float(lo), float(hi)


def scan(
    sm: StatModel,
    parameter: str | None = None,
    values: Sequence[float] | None = None,
    *,
    poi: str | None = None,
    data: np.ndarray | None = None,
    asimov: bool = False,
    fix: Mapping[str, float] | None = None,
) -> ScanResult:
    """1D profile-likelihood scan of ``parameter`` (default: the POI); 2ΔNLL is relative to the global
    minimum (the unconditional fit, or a lower scan point). Intervals where 2ΔNLL = 1 (68%) and 3.84 (95%)."""
    m = sm.model(poi)
    parameter = parameter or (poi or sm.default_poi)
    i = sm.index(parameter, poi)
    d = (sm.asimov_data(None, poi) if asimov else sm.data(poi)) if data is None else np.asarray(data, float)
    extra_fix = [sm.index(k, poi) for k in (fix or {})]
    with _engine(sm.tolerance, sm.strategy):
        best, best_nll, _ = _minimize(m, d, sm.parameters(fix, poi), _bounds(m), _fixed(m, extra_fix))
        if values is None:
            lo, hi = m.config.suggested_bounds()[i]
            values = np.linspace(max(lo, best[i] - 3), min(hi, best[i] + 3), 21)
        values = np.asarray(values, dtype=float)
        out = np.empty(values.size)
        start = best.copy()
        order = np.argsort(np.abs(values - best[i]))  # walk outwards from the minimum for good warm starts
        cache: dict[int, np.ndarray] = {}
        for k in order:
            near = min(cache, key=lambda j: abs(values[j] - values[k])) if cache else None
            start = (cache[near] if near is not None else best).copy()
            start[i] = values[k]
            pars, tnll, _ = _minimize(m, d, start, _bounds(m), _fixed(m, [*extra_fix, i]))
            cache[k] = pars
            out[k] = tnll
        ref = min(best_nll, float(out.min()))
        dnll = out - ref
        xbest = float(best[i]) if best_nll <= out.min() else float(values[np.argmin(out)])

        def profiled(x: float) -> float:
            """2ΔNLL with ``parameter`` fixed at x, the others profiled (warm start from the nearest point)."""
            near = min(cache, key=lambda j: abs(values[j] - x))
            start = cache[near].copy()
            start[i] = x
            _pars, tnll, _ = _minimize(m, d, start, _bounds(m), _fixed(m, [*extra_fix, i]))
            return float(tnll) - ref

        # The grid only brackets the crossings: each end is then solved for on the profile likelihood itself.
        # Linear interpolation between grid points far from the minimum misplaces an end by a sizeable
        # fraction of the grid step.
        minimum = xbest if best_nll <= out.min() else None
        intervals = [_refined_crossings(values, dnll, level, profiled, minimum) for level in (1.0, 3.84)]
    return ScanResult(parameter, values, dnll, xbest, intervals[0], intervals[1])


def _refined_crossings(
    x: np.ndarray, y: np.ndarray, level: float, f, minimum: float | None = None
) -> tuple[float, float]:
    """:func:`_crossings` on the grid, then each finite end solved exactly: ``f(x) = level`` by Brent's method
    inside its grid bracket (falls back to the interpolated end if the profile is not monotonic there).
    ``minimum``: the best fit off the grid (2ΔNLL = 0 there), added as the inner end of its brackets."""
    from scipy.optimize import brentq

    if minimum is not None:
        order = np.argsort(np.append(x, minimum), kind="stable")
        x, y = np.append(x, minimum)[order], np.append(y, 0.0)[order]

    lo, hi = _crossings(x, y, level, float(x[np.argmin(y)]))
    refined = []
    for end in (lo, hi):
        if not np.isfinite(end):
            refined.append(end)
            continue
        k = int(np.clip(np.searchsorted(x, end), 1, len(x) - 1))
        a, b = float(x[k - 1]), float(x[k])
        ya, yb = float(y[k - 1]) - level, float(y[k]) - level
        if a == b or ya * yb > 0:
            refined.append(end)
            continue
        try:
            refined.append(float(brentq(lambda t: f(t) - level, a, b, xtol=1e-6 * max(1.0, abs(b - a)))))
        except (ValueError, RuntimeError):  # sign change lost to fit noise: keep the interpolated end
            refined.append(end)
    return float(refined[0]), float(refined[1])


@dataclass
class Scan2DResult:
    """A 2D profile-likelihood scan; contours at 2ΔNLL = 2.30 (68% CL) and 5.99 (95% CL)."""

    parameters: tuple[str, str]
    x: np.ndarray
    y: np.ndarray
    delta_twice_nll: np.ndarray  # shape (len(y), len(x))
    bestfit: tuple[float, float]


def scan_2d(
    sm: StatModel,
    parameters: tuple[str, str],
    x: Sequence[float],
    y: Sequence[float],
    *,
    poi: str | None = None,
    data: np.ndarray | None = None,
    asimov: bool = False,
) -> Scan2DResult:
    """2D profile-likelihood scan of two parameters on the grid ``x`` × ``y`` (snake order, warm starts)."""
    m = sm.model(poi)
    ix, iy = sm.index(parameters[0], poi), sm.index(parameters[1], poi)
    d = (sm.asimov_data(None, poi) if asimov else sm.data(poi)) if data is None else np.asarray(data, float)
    x, y = np.asarray(x, float), np.asarray(y, float)
    z = np.empty((y.size, x.size))
    with _engine(sm.tolerance, sm.strategy):
        best, best_nll, _ = _minimize(m, d, sm.parameters(None, poi), _bounds(m), _fixed(m))
        start = best.copy()
        for a, yv in enumerate(y):
            cols = range(x.size) if a % 2 == 0 else range(x.size - 1, -1, -1)
            for b in cols:
                start[ix], start[iy] = x[b], yv
                start, z[a, b], _ = _minimize(m, d, start, _bounds(m), _fixed(m, [ix, iy]))
    ref = min(best_nll, float(z.min()))
    return Scan2DResult((parameters[0], parameters[1]), x, y, z - ref, (float(best[ix]), float(best[iy])))


# ----------------------------------------------------------------------------------------------- impacts
@dataclass
class ImpactResult:
    """Pulls, constraints and impacts on the POI, ranked by the post-fit impact.

    ``prefit_up/down`` and ``postfit_up/down`` are POI shifts when the parameter is fixed at θ̂ ± σ_pre and
    θ̂ ± σ_post (pre-fit impacts are NaN for unconstrained parameters, which have no pre-fit width).
    """

    poi: str
    labels: list[str]
    bestfit: np.ndarray
    uncertainty: np.ndarray
    prefit_width: np.ndarray
    prefit_up: np.ndarray
    prefit_down: np.ndarray
    postfit_up: np.ndarray
    postfit_down: np.ndarray
    poi_bestfit: float
    poi_uncertainty: float

    @property
    def pulls(self) -> np.ndarray:
        """(θ̂ − θ0)/σ_pre for constrained parameters (θ0 = 1 for γ/lumi parameters, 0 otherwise)."""
        return self.bestfit / np.where(self.prefit_width > 0, self.prefit_width, 1.0)

    def ranking(self) -> list[int]:
        """Indices ordered by decreasing |post-fit impact|."""
        size = np.maximum(np.abs(self.postfit_up), np.abs(self.postfit_down))
        return list(np.argsort(-size, kind="stable"))


_WORKER: dict[str, Any] = {}


def _impact_task(task: tuple[int, float]) -> float:
    i, value = task
    w = _WORKER
    start = w["best"].copy()
    start[i] = value
    pars, _, _ = _minimize(
        w["model"],
        w["data"],
        start,
        [list(b) for b in w["bounds"]],
        [*w["fixed"][:i], True, *w["fixed"][i + 1 :]],
    )
    return float(pars[w["ipoi"]])


def impacts(
    sm: StatModel,
    *,
    poi: str | None = None,
    data: np.ndarray | None = None,
    asimov: bool = False,
    parameters: Sequence[str] | None = None,
    n_workers: int | None = None,
    fit_result: FitResult | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImpactResult:
    """Pre- and post-fit impacts of the nuisance parameters on the POI (4 fits each), in a process pool.

    ``parameters`` restricts the ranking to some parameter components (names as in ``par_names``); default:
    every free parameter except the POI. ``n_workers`` defaults to the CPU count (1 runs serially).
    """
    m = sm.model(poi)
    d = (sm.asimov_data(None, poi) if asimov else sm.data(poi)) if data is None else np.asarray(data, float)
    fr = fit_result or fit(sm, poi=poi, data=d)
    labels = list(m.config.par_names)
    ipoi = m.config.poi_index
    fixed = _fixed(m)
    widths = np.zeros(len(labels))
    centre = np.zeros(len(labels))
    for name in m.config.par_order:
        ps = m.config.param_set(name)
        sl = m.config.par_slice(name)
        if ps.constrained:
            widths[sl] = ps.width()
            centre[sl] = ps.suggested_init
    if parameters is None:
        chosen = [k for k, lab in enumerate(labels) if k != ipoi and not fixed[k]]
    else:
        chosen = [labels.index(p) if p in labels else sm.index(p, poi) for p in parameters]
    tasks = []
    for k in chosen:
        th, sp = fr.bestfit[k], fr.uncertainty[k]
        tasks += [(k, th + sp), (k, th - sp)]
        if widths[k] > 0:
            tasks += [(k, th + widths[k]), (k, th - widths[k])]
    n_workers = n_workers or os.cpu_count() or 1
    _WORKER.update(model=m, data=d, best=fr.bestfit, bounds=_bounds(m), fixed=fixed, ipoi=ipoi)
    results: list[float] = []
    with _engine(sm.tolerance, sm.strategy):
        if n_workers <= 1 or len(tasks) < 8:
            for j, t in enumerate(tasks):
                results.append(_impact_task(t))
                if progress:
                    progress(j + 1, len(tasks))
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(n_workers, mp_context=mp.get_context("fork")) as pool:
                for j, r in enumerate(
                    pool.map(_impact_task, tasks, chunksize=max(1, len(tasks) // (8 * n_workers)))
                ):
                    results.append(r)
                    if progress:
                        progress(j + 1, len(tasks))
    _WORKER.clear()
    it = iter(results)
    n = len(chosen)
    pre_up, pre_dn, post_up, post_dn = (np.full(n, np.nan) for _ in range(4))
    mu0 = fr.bestfit[ipoi]
    for a, k in enumerate(chosen):
        post_up[a], post_dn[a] = next(it) - mu0, next(it) - mu0
        if widths[k] > 0:
            pre_up[a], pre_dn[a] = next(it) - mu0, next(it) - mu0
    idx = np.asarray(chosen, dtype=int)
    return ImpactResult(
        poi=fr.poi,
        labels=[labels[k] for k in chosen],
        bestfit=fr.bestfit[idx] - centre[idx],
        uncertainty=fr.uncertainty[idx],
        prefit_width=widths[idx],
        prefit_up=pre_up,
        prefit_down=pre_dn,
        postfit_up=post_up,
        postfit_down=post_dn,
        poi_bestfit=float(mu0),
        poi_uncertainty=float(fr.uncertainty[ipoi]),
    )


# ------------------------------------------------------------------------------------------------ yields
@dataclass
class YieldTable:
    """Yields per region, sample and bin with uncertainties (linear error propagation with correlations)."""

    regions: list[str]
    samples: list[str]
    yields: dict[str, np.ndarray]  # region -> (n_samples, n_bins)
    uncertainty: dict[str, np.ndarray]  # region -> (n_samples, n_bins)
    total_uncertainty: dict[str, np.ndarray]  # region -> (n_bins,)
    data: dict[str, np.ndarray]
    label: str = "pre-fit"

    def summary(self) -> dict[str, dict[str, tuple[float, float]]]:
        """Per region: sample → (summed yield, its uncertainty) — bins summed with full correlation
        between bins of the same sample (a conservative sum)."""
        out = {}
        for r in self.regions:
            row = {
                s: (float(self.yields[r][k].sum()), float(self.uncertainty[r][k].sum()))
                for k, s in enumerate(self.samples)
            }
            row["total"] = (float(self.yields[r].sum()), float(self.total_uncertainty[r].sum()))
            row["data"] = (float(self.data[r].sum()), float(np.sqrt(self.data[r].sum())))
            out[r] = row
        return out


def yields(sm: StatModel, fit_result: FitResult | None = None, *, poi: str | None = None) -> YieldTable:
    """Pre-fit (``fit_result=None``: nominal parameters, pre-fit widths, no correlations) or post-fit yields.

    The uncertainty of every bin is Σ_ij δ_i ρ_ij δ_j with δ_i the symmetrised change of the yield when
    parameter i moves by ±1σ (as cabinetry does); unconstrained parameters have no pre-fit uncertainty.
    """
    m = sm.model(poi)
    if fit_result is None:
        pars = np.asarray(m.config.suggested_init(), dtype=float)
        sig = np.zeros(len(pars))
        for name in m.config.par_order:
            ps = m.config.param_set(name)
            if ps.constrained:
                sig[m.config.par_slice(name)] = ps.width()
        corr = np.eye(len(pars))
        label = "pre-fit"
    else:
        pars, sig, corr, label = (
            fit_result.bestfit,
            fit_result.uncertainty,
            fit_result.correlation,
            "post-fit",
        )
    fixed = m.config.suggested_fixed()
    sig = np.where(fixed, 0.0, sig)

    def by_sample(p):  # (n_samples, n_bins_total)
        return np.asarray(m.main_model.expected_data(p, return_by_sample=True), dtype=float)

    nom = by_sample(pars)
    active = np.flatnonzero(sig > 0)
    deltas = np.zeros((active.size, *nom.shape))
    for a, i in enumerate(active):
        up, dn = pars.copy(), pars.copy()
        up[i] += sig[i]
        dn[i] -= sig[i]
        deltas[a] = 0.5 * (by_sample(up) - by_sample(dn))
    c = corr[np.ix_(active, active)]
    var_s = np.einsum("aij,ab,bij->ij", deltas, c, deltas)
    tot = deltas.sum(axis=1)
    var_t = np.einsum("ai,ab,bi->i", tot, c, tot)
    obs = sm.data(poi)[: m.config.nmaindata]
    ys, us, ts, ds = {}, {}, {}, {}
    for ch in m.config.channels:
        sl = m.config.channel_slices[ch]
        ys[ch] = nom[:, sl]
        us[ch] = np.sqrt(np.clip(var_s[:, sl], 0, None))
        ts[ch] = np.sqrt(np.clip(var_t[sl], 0, None))
        ds[ch] = obs[sl]
    return YieldTable(list(m.config.channels), list(m.config.samples), ys, us, ts, ds, label)
