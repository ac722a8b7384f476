"""An embedded leading-order parton-density parameterisation for the analytic ZH model.

``ToyLOPDF`` is a fixed-scale (Q ≈ 100–300 GeV) parameterisation of the proton's light-quark densities,

    x u_v = N_u x^0.62 (1−x)^3.6,   x d_v = N_d x^0.62 (1−x)^4.6,
    x ū = x d̄ = 0.13 x^−0.20 (1−x)^8,   x s = x s̄ = 0.5 x ū,   x c = x c̄ = 0.3 x ū,

with N_u, N_d fixed by the valence number sum rules ∫u_v = 2, ∫d_v = 1. The shapes follow the qualitative
behaviour of LO global fits at the electroweak scale (valence peak near x ≈ 0.15, sea rising as x^−1.2 at
small x; momentum fractions ≈ 0.24 (u_v), 0.10 (d_v), ≈ 0.15 in the quark + antiquark sea; x ū ≈ 0.3 at
x = 0.01). It is a rough stand-in (tens of per cent for 10⁻³ < x < 0.5; σ(pp → ZH) comes out ≈ 0.29 pb
at LO against ≈ 0.6 pb with a global LO fit), enough for shapes and orders of magnitude, not for precision.
No scale evolution. When the ``lhapdf`` Python module is installed, :func:`default_pdf` can return an
LHAPDF set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.special import beta

__all__ = ["LHAPDFWrapper", "ToyLOPDF", "default_pdf"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToyLOPDF:
    """Fixed-scale LO light-quark densities f(x) (not x·f). PDG codes 1–4 and their antiquarks."""

    a_val: float = 0.62
    b_u: float = 3.6
    b_d: float = 4.6
    sea_norm: float = 0.13
    sea_a: float = -0.20
    sea_b: float = 8.0
    strange_fraction: float = 0.5
    charm_fraction: float = 0.3
    name: str = "higgsflow-toy-LO"

    def _norms(self) -> tuple[float, float]:
        # ∫ u_v dx = N ∫ x^(a−1)(1−x)^b dx = N B(a, b+1)
        return 2.0 / beta(self.a_val, self.b_u + 1), 1.0 / beta(self.a_val, self.b_d + 1)

    def xf(self, pdg: int, x: np.ndarray, q: float = 100.0) -> np.ndarray:
        """x·f(x) for a parton of PDG code ``pdg`` (the scale ``q`` in GeV is ignored: fixed scale)."""
        x_in = np.asarray(x, float)
        x = np.clip(x_in, 1e-12, 1.0)  # rounding can put x a hair above 1: the density vanishes there
        nu, nd = self._norms()
        sea = self.sea_norm * x**self.sea_a * (1 - x) ** self.sea_b
        if pdg == 2:
            out = nu * x**self.a_val * (1 - x) ** self.b_u + sea
        elif pdg == 1:
            out = nd * x**self.a_val * (1 - x) ** self.b_d + sea
        elif pdg in (-1, -2):
            out = sea
        elif abs(pdg) == 3:
            out = self.strange_fraction * sea
        elif abs(pdg) == 4:
            out = self.charm_fraction * sea
        else:
            out = np.zeros_like(x)
        return np.where(x_in < 1.0, out, 0.0)

    def f(self, pdg: int, x: np.ndarray, q: float = 100.0) -> np.ndarray:
        """f(x) = xf(x)/x."""
        x = np.asarray(x, float)
        return self.xf(pdg, x, q) / x


class LHAPDFWrapper:
    """The same interface on top of an installed LHAPDF set."""

    def __init__(self, set_name: str = "NNPDF31_lo_as_0118") -> None:
        import lhapdf

        self._pdf = lhapdf.mkPDF(set_name, 0)
        self.name = set_name

    def xf(self, pdg: int, x: np.ndarray, q: float = 100.0) -> np.ndarray:
        """x·f(x, Q) from LHAPDF."""
        x = np.asarray(x, float)
        return np.array([self._pdf.xfxQ(pdg, xi, q) for xi in x.ravel()]).reshape(x.shape)

    def f(self, pdg: int, x: np.ndarray, q: float = 100.0) -> np.ndarray:
        """f(x, Q)."""
        return self.xf(pdg, x, q) / np.asarray(x, float)


def default_pdf(prefer_lhapdf: bool = False, set_name: str = "NNPDF31_lo_as_0118"):
    """The embedded :class:`ToyLOPDF`, or an LHAPDF set if asked for and available."""
    if prefer_lhapdf:
        try:
            return LHAPDFWrapper(set_name)
        except Exception as exc:  # lhapdf missing or set not installed: fall back, say so
            log.warning(
                "LHAPDF set %s not available (%s); using the embedded LO parameterisation", set_name, exc
            )
    return ToyLOPDF()
