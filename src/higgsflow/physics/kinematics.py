"""Four-vector and angle helpers on numpy arrays.

Units: GeV for momenta and energies, rad for angles. Azimuths and their differences are wrapped into (−π, π].
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["delta_phi", "delta_r", "eta_phi", "mass", "pt", "rapidity", "wrap_phi"]


def wrap_phi(phi: ArrayLike) -> np.ndarray:
    """Wrap an angle (rad) into (−π, π].

    >>> float(wrap_phi(3 * np.pi / 2)), float(wrap_phi(np.pi))
    (-1.5707963267948966, 3.141592653589793)
    """
    phi = np.asarray(phi, dtype=np.float64)
    out = phi - 2 * np.pi * np.floor((phi + np.pi) / (2 * np.pi))  # in [−π, π)
    return np.where(out <= -np.pi, out + 2 * np.pi, out)


def delta_phi(phi1: ArrayLike, phi2: ArrayLike) -> np.ndarray:
    """φ1 − φ2 wrapped into (−π, π] (rad)."""
    return wrap_phi(np.subtract(phi1, phi2))


def delta_r(eta1: ArrayLike, phi1: ArrayLike, eta2: ArrayLike, phi2: ArrayLike) -> np.ndarray:
    """ΔR = sqrt(Δη² + Δφ²) with Δφ wrapped."""
    return np.hypot(np.subtract(eta1, eta2), delta_phi(phi1, phi2))


def pt(px: ArrayLike, py: ArrayLike) -> np.ndarray:
    """Transverse momentum (GeV)."""
    return np.hypot(px, py)


def eta_phi(px: ArrayLike, py: ArrayLike, pz: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Pseudorapidity η = asinh(pz/pT) and azimuth φ ∈ (−π, π] of three-momenta.

    A momentum along the beam (pT = 0) gets η = ±1e4·sign(pz) instead of an infinity.
    """
    px, py, pz = (np.asarray(a, dtype=np.float64) for a in (px, py, pz))
    p_t = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.where(p_t > 0, np.arcsinh(pz / np.where(p_t > 0, p_t, 1.0)), np.sign(pz) * 1e4)
    return eta, np.arctan2(py, px)


def rapidity(e: ArrayLike, pz: ArrayLike) -> np.ndarray:
    """Rapidity y = ½ ln((E + pz)/(E − pz))."""
    e, pz = np.asarray(e, dtype=np.float64), np.asarray(pz, dtype=np.float64)
    return 0.5 * np.log(np.maximum(e + pz, 1e-300) / np.maximum(e - pz, 1e-300))


def mass(e: ArrayLike, px: ArrayLike, py: ArrayLike, pz: ArrayLike) -> np.ndarray:
    """Invariant mass sqrt(max(E² − p², 0)) (GeV); a tiny negative m² from rounding gives 0, not NaN."""
    m2 = np.square(e) - np.square(px) - np.square(py) - np.square(pz)
    return np.sqrt(np.maximum(m2, 0.0))
