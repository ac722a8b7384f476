"""The κ framework for ttH(cc) and ttH(bb): coupling modifiers κ_c, κ_b (κ_t = 1) through the Higgs widths.

In the narrow-width approximation σ(ttH)·B(H→ff) scales as

    μ_ttH(ff)(κ) = κ_t² · κ_f² / (Γ_H(κ)/Γ_H^SM),
    Γ_H(κ)/Γ_H^SM = 1 + B_cc^SM (κ_c² − 1) + B_bb^SM (κ_b² − 1),

with all other partial widths at their SM values (the small κ_b, κ_c dependence of the loop-induced gg and γγ
widths is neglected, κ_g = κ_γ = 1 resolved). SM branching ratios for m_H = 125.09 GeV from the LHC Higgs
Working Group (CERN Yellow Report 4, arXiv:1610.07922): B_bb and B_cc are
:data:`higgsflow.physics.constants.BR_H_BB` and :data:`~higgsflow.physics.constants.BR_H_CC`.

The likelihood in κ is the pyhf likelihood with μ_ttH(cc) and μ_ttH(bb) fixed to μ(κ) (fixed-point fits);
every other parameter (ttZ strengths, background normalisations, nuisance parameters) is profiled. The
workspace's names of the two signal strengths are configurable (:func:`kappa_pois`); the defaults are
``mu_ttHcc`` and ``mu_ttHbb``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from higgsflow.errors import ConfigError
from higgsflow.physics.constants import BR_H_BB, BR_H_CC
from higgsflow.stats.infer import (
    Scan2DResult,
    ScanResult,
    StatModel,
    _bounds,
    _crossings,
    _engine,
    _fixed,
    _minimize,
    _refined_crossings,
)

__all__ = [
    "DEFAULT_POIS",
    "SM_BR",
    "kappa_limit",
    "kappa_pois",
    "kappa_scan",
    "kappa_scan_2d",
    "signal_strengths",
    "width_ratio",
]

log = logging.getLogger(__name__)

#: the workspace's names of the ttH(cc) and ttH(bb) signal strengths unless told otherwise
DEFAULT_POIS: dict[str, str] = {"ttHcc": "mu_ttHcc", "ttHbb": "mu_ttHbb"}

#: SM branching ratios at m_H = 125.09 GeV (LHCHWG YR4); bb and cc from :mod:`higgsflow.physics.constants`
SM_BR: dict[str, float] = {
    "bb": BR_H_BB,
    "WW": 0.2152,
    "gg": 0.08180,
    "tautau": 0.06256,
    "cc": BR_H_CC,
    "ZZ": 0.02641,
    "gamgam": 0.002270,
    "Zgam": 0.001541,
    "mumu": 0.0002171,
}


def width_ratio(kappa_c: float | np.ndarray, kappa_b: float | np.ndarray) -> np.ndarray:
    """Γ_H(κ)/Γ_H^SM = 1 + B_cc(κ_c² − 1) + B_bb(κ_b² − 1)."""
    kc, kb = np.asarray(kappa_c, float), np.asarray(kappa_b, float)
    return 1.0 + SM_BR["cc"] * (kc**2 - 1.0) + SM_BR["bb"] * (kb**2 - 1.0)


def signal_strengths(
    kappa_c: float | np.ndarray, kappa_b: float | np.ndarray = 1.0, kappa_t: float = 1.0
) -> dict[str, np.ndarray]:
    """μ_ttH(cc) and μ_ttH(bb) for coupling modifiers κ_c, κ_b, κ_t."""
    g = width_ratio(kappa_c, kappa_b)
    return {
        "ttHcc": kappa_t**2 * np.asarray(kappa_c, float) ** 2 / g,
        "ttHbb": kappa_t**2 * np.asarray(kappa_b, float) ** 2 / g,
    }


def kappa_pois(
    sm: StatModel, *, cc: str | None = None, bb: str | None = None, file: str | Path | None = None
) -> dict[str, str | None]:
    """The workspace's names of the ttH(cc) and ttH(bb) signal strengths, checked against the model.

    ``cc`` defaults to ``mu_ttHcc`` if the workspace has it, else to the workspace's POI; ``bb`` defaults to
    ``mu_ttHbb`` if present, else none (a model without an H→bb̄ signal); ``bb="none"`` leaves it out.
    Raises :class:`ConfigError` naming the option and the available parameters for an unknown name.
    """
    names = list(sm.model().config.par_names)
    cc = cc or (DEFAULT_POIS["ttHcc"] if DEFAULT_POIS["ttHcc"] in names else sm.default_poi)
    if bb is None:
        bb = DEFAULT_POIS["ttHbb"] if DEFAULT_POIS["ttHbb"] in names else None
    elif bb.lower() == "none":
        bb = None
    for option, name in (("--poi-cc", cc), ("--poi-bb", bb)):
        if name is not None and name not in names:
            raise ConfigError(
                f"the workspace has no parameter {name!r}",
                file=file,
                field=option,
                expected="one of: " + ", ".join(sm.pois),
            )
    if cc == bb:
        raise ConfigError("the same parameter for H→cc̄ and H→bb̄", file=file, field="--poi-bb")
    return {"ttHcc": cc, "ttHbb": bb}


def _profile(sm: StatModel, pois: Mapping[str, str | None], poi: str | None, data, asimov: bool):
    m = sm.model(poi)
    d = (sm.asimov_data(None, poi) if asimov else sm.data(poi)) if data is None else np.asarray(data, float)
    idx = {k: (sm.index(v, poi) if v else None) for k, v in pois.items()}
    if idx.get("ttHcc") is None:
        raise ConfigError(
            "the κ scan needs the ttH(cc) signal strength", field="pois", expected="ttHcc: <name>"
        )
    fixed = _fixed(m, [i for i in idx.values() if i is not None])
    best, _, _ = _minimize(m, d, sm.parameters(None, poi), _bounds(m), _fixed(m))
    state = {"start": best.copy()}

    def twice_nll(kc: float, kb: float) -> float:
        mu = signal_strengths(kc, kb)
        start = state["start"].copy()
        for k, i in idx.items():
            if i is not None:
                start[i] = float(mu[k])
        pars, tnll, _ = _minimize(m, d, start, _bounds(m), fixed)
        state["start"] = pars
        return tnll

    return twice_nll


def kappa_scan(
    sm: StatModel,
    kappa_c: Sequence[float],
    *,
    kappa_b: float = 1.0,
    pois: Mapping[str, str | None] | None = None,
    poi: str | None = None,
    data: np.ndarray | None = None,
    asimov: bool = False,
) -> ScanResult:
    """Profile-likelihood scan of κ_c at fixed κ_b (default 1): 2ΔNLL with 68%/95% intervals.

    ``pois`` maps ``ttHcc``/``ttHbb`` to the workspace's normfactor names (default: :func:`kappa_pois`, i.e.
    ``mu_ttHcc``/``mu_ttHbb`` where present; ``ttHbb: None`` if the model has no ttH(bb) signal). The minimum is
    refined between grid points.
    """
    from scipy.optimize import minimize_scalar

    pois = dict(pois or kappa_pois(sm))
    kc = np.asarray(kappa_c, float)
    with _engine(sm.tolerance, sm.strategy):
        f = _profile(sm, pois, poi, data, asimov)
        z = np.array([f(k, kappa_b) for k in kc])
        i = int(np.argmin(z))
        lo, hi = kc[max(i - 1, 0)], kc[min(i + 1, kc.size - 1)]
        best_k, best = kc[i], z[i]
        if hi > lo:
            r = minimize_scalar(
                lambda k: f(k, kappa_b),
                bounds=(lo, hi),
                method="bounded",
                options={"xatol": 1e-3 * (hi - lo)},
            )
            if r.fun < best:
                best_k, best = float(r.x), float(r.fun)
        dz = z - best
        # interval ends solved on the profile likelihood inside their grid brackets (best fit as inner end)
        intervals = [
            _refined_crossings(kc, dz, level, lambda k: f(k, kappa_b) - best, best_k) for level in (1.0, 3.84)
        ]
    log.info("κ_c scan: best fit %.3g", best_k)
    return ScanResult("kappa_c", kc, dz, float(best_k), intervals[0], intervals[1])


def kappa_limit(scan_result: ScanResult, cl: float = 0.95) -> float:
    """Upper limit on |κ_c| at ``cl`` from a κ_c scan on κ_c ≥ 0 (2ΔNLL at the χ²₁ quantile)."""
    from scipy.stats import chi2

    level = float(chi2.ppf(cl, 1))
    for known, interval in ((3.84, scan_result.interval95), (1.0, scan_result.interval68)):
        if abs(level - known) < 0.01:  # solved on the likelihood itself by the scan
            return float(interval[1])
    return _crossings(scan_result.values, scan_result.delta_twice_nll, level, scan_result.bestfit)[1]


def kappa_scan_2d(
    sm: StatModel,
    kappa_c: Sequence[float],
    kappa_b: Sequence[float],
    *,
    pois: Mapping[str, str | None] | None = None,
    poi: str | None = None,
    data: np.ndarray | None = None,
    asimov: bool = False,
) -> Scan2DResult:
    """2D profile-likelihood scan in (κ_c, κ_b); contours at 2ΔNLL = 2.30 (68%) and 5.99 (95%)."""
    pois = dict(pois or kappa_pois(sm))
    kc, kb = np.asarray(kappa_c, float), np.asarray(kappa_b, float)
    z = np.empty((kb.size, kc.size))
    with _engine(sm.tolerance, sm.strategy):
        f = _profile(sm, pois, poi, data, asimov)
        for a, b in enumerate(kb):
            cols = range(kc.size) if a % 2 == 0 else range(kc.size - 1, -1, -1)
            for j in cols:
                z[a, j] = f(kc[j], b)
    a, j = np.unravel_index(int(np.argmin(z)), z.shape)
    return Scan2DResult(("kappa_c", "kappa_b"), kc, kb, z - z.min(), (float(kc[j]), float(kb[a])))
