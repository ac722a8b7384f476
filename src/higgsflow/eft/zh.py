"""Analytic LO SMEFT model of p p → Z H, Z → ℓ⁺ℓ⁻, H → b b̄ at √s = 13 TeV with exact quadratic event weights.

Physics (helicity amplitudes in the spirit of Banerjee, Gupta, Reiness, Seth, Spannowsky, arXiv:1912.07628;
narrow Z and H; massless quarks and leptons):

    q_σ(p1) q̄(p2) → Z*(P) → Z(q) h,   Z → ℓ⁻_τ(p3) ℓ⁺(p4)

    M_{στ} = g^ℓ_τ · { (g^Z_{qσ} / (ŝ − m_Z²)) · J_q,α V^{αβ} J_ℓ,β
                       + δg_{qσ} · (2/v) · ŝ/(ŝ − m_Z²) · (J_q · J_ℓ) }

with the massless currents J_q^μ = v̄(p2)γ^μ P_σ u(p1), J_ℓ^μ = ū(p3)γ^μ P_τ v(p4) built from two-component
helicity spinors, and the hZZ vertex (JHUGen convention, all momenta outgoing, q1 = −P, q2 = q):

    V^{αβ} = (1/v) [ 2 m_Z² g^{αβ} + 2 g2ZZ ((q1·q2) g^{αβ} − q2^α q1^β) + 2 g4ZZ ε^{ανβρ} q1_ν q2_ρ ],

ε^{0123} = +1. The δg term is the sum of the modified Z coupling in the s-channel diagram (δg · 2m_Z²/v /
(ŝ − m_Z²)) and the hZq q̄ contact term of the same operator (g^h_{Zq} = 2 δg, amplitude 2δg/v); together they
grow like ŝ/m_Z² relative to the SM. The Warsaw-basis current operators give (Λ = 1 TeV)

    δg_{uL} = −(g_Z/2)(v²/Λ²)(c_Hq1 − c_Hq3),   δg_{dL} = −(g_Z/2)(v²/Λ²)(c_Hq1 + c_Hq3),
    δg_{uR} = −(g_Z/2)(v²/Λ²) c_Hu,              δg_{dR} = −(g_Z/2)(v²/Λ²) c_Hd,

with g^Z_f = g_Z (T3 − Q s_W²) (L) and −g_Z Q s_W² (R). g2ZZ and g4ZZ are the dimensionless JHUGen couplings,
g2ZZ = −2 v²/Λ² (s_W² c_HB + c_W² c_HW + s_W c_W c_HWB) (and likewise g4ZZ with the CP-odd operators). The
amplitude is linear in the six coefficients θ = (cHq1, cHq3, cHu, cHd, g2ZZ, g4ZZ) (terms of order θ² in the
amplitude, i.e. dimension 8, are dropped), so |M(θ)|² is exactly quadratic and the weights are exact.

The hadronic cross section uses the embedded LO PDFs of :mod:`higgsflow.eft.pdf` (u, d, s, c and antiquarks,
both beam orientations), m_H, BR(H → bb̄) and m_Z of :mod:`higgsflow.physics.constants` (LHC Higgs WG YR4 at
m_H = 125.09 GeV), √s = :data:`~higgsflow.physics.constants.SQRT_S_RUN2`, and the Z → ℓℓ rate from the couplings
(ℓ = e, μ summed).
Events are weighted (importance sampling in ŝ); weights are in pb per event.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from higgsflow.errors import ConfigError
from higgsflow.physics.constants import BR_H_BB, M_H, M_Z, SQRT_S_RUN2

__all__ = [
    "COEFFICIENTS",
    "FEATURES",
    "ZHEvents",
    "amplitude_squared",
    "check_phase_space",
    "generate",
    "lhe_basis_points",
    "reconstruct",
    "write_lhe",
]

log = logging.getLogger(__name__)

COEFFICIENTS = ("cHq1", "cHq3", "cHu", "cHd", "g2ZZ", "g4ZZ")

# electroweak inputs (GeV); M_Z, M_H and BR_H_BB come from higgsflow.physics.constants
GAMMA_Z = 2.4952
M_B = 4.78
V_EV = 246.22
S2W = 0.23122
ALPHA = 1.0 / 127.95
E_EM = np.sqrt(4 * np.pi * ALPHA)
SW, CW = np.sqrt(S2W), np.sqrt(1 - S2W)
G_Z = E_EM / (SW * CW)
LAMBDA = 1000.0
#: √s of the pp collisions in GeV (LHC Run 2)
SQRT_S = 1000.0 * SQRT_S_RUN2
GEV2_TO_PB = 0.3893794e9
N_COLOURS = 3

# quark flavours: pdg → (T3, Q)
_QUARKS = {1: (-0.5, -1 / 3), 2: (0.5, 2 / 3), 3: (-0.5, -1 / 3), 4: (0.5, 2 / 3)}

#: the angular moments of :func:`_angles_features` (products of angles, hard for axis-aligned tree splits)
ANGULAR_MOMENTS = (
    "f_ll",
    "f_1tt",
    "f_2tt",
    "f_1lt",
    "f_2lt",
    "f_1lt_tilde",
    "f_2lt_tilde",
    "f_tt_prime",
    "f_tt_prime_tilde",
)

FEATURES = (
    "m_zh",
    "pt_z",
    "y_zh",
    "cos_theta",
    "cos_theta_star",
    "phi_star",
    "pt_h",
    "eta_z",
    "eta_h",
    *ANGULAR_MOMENTS,
)

_PAULI = np.array(
    [
        [[1, 0], [0, 1]],
        [[0, 1], [1, 0]],
        [[0, -1j], [1j, 0]],
        [[1, 0], [0, -1]],
    ],
    dtype=complex,
)
_METRIC = np.array([1.0, -1.0, -1.0, -1.0])


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Minkowski product a·b of (..., 4) arrays (no complex conjugation)."""
    return a[..., 0] * b[..., 0] - a[..., 1] * b[..., 1] - a[..., 2] * b[..., 2] - a[..., 3] * b[..., 3]


def _xi(p: np.ndarray, helicity: int) -> np.ndarray:
    """Two-component helicity eigenspinor ξ_± of the direction of p (..., 4) → (..., 2)."""
    pp = p[..., 1:]
    r = np.linalg.norm(pp, axis=-1)
    cth = np.clip(pp[..., 2] / r, -1, 1)
    phi = np.arctan2(pp[..., 1], pp[..., 0])
    c, s = np.sqrt((1 + cth) / 2), np.sqrt((1 - cth) / 2)
    if helicity > 0:
        return np.stack([c + 0j, np.exp(1j * phi) * s], axis=-1)
    return np.stack([-np.exp(-1j * phi) * s, c + 0j], axis=-1)


def _current(p_bar: np.ndarray, p: np.ndarray, chirality: int) -> np.ndarray:
    """Massless vector current ψ̄(p_bar) γ^μ P_chirality ψ(p), upper index, shape (..., 4) complex.

    Right-handed: ξ_+(p̂_bar)† σ^μ ξ_+(p̂); left-handed: ξ_−(p̂_bar)† σ̄^μ ξ_−(p̂); normalised √(4 E E').
    """
    a = _xi(p_bar, chirality)
    b = _xi(p, chirality)
    sig = _PAULI.copy()
    if chirality < 0:
        sig[1:] *= -1
    j = np.einsum("...a,mab,...b->...m", a.conj(), sig, b)
    return j * np.sqrt(4 * p_bar[..., 0] * p[..., 0])[..., None]


def _levi_civita(a, b, c, d) -> np.ndarray:
    """ε^{μνρσ} a_μ b_ν c_ρ d_σ with ε^{0123} = +1 for (..., 4) upper-index vectors (complex allowed)."""
    la, lb, lc, ld = (x * _METRIC for x in (a, b, c, d))
    out = 0
    for perm, sign in _PERMS:
        out = out + sign * la[..., perm[0]] * lb[..., perm[1]] * lc[..., perm[2]] * ld[..., perm[3]]
    return out


def _perm_sign(p):
    p, sign = list(p), 1
    for i in range(len(p)):
        while p[i] != i:
            j = p[i]
            p[i], p[j] = p[j], p[i]
            sign = -sign
    return sign


_PERMS = [(p, _perm_sign(p)) for p in __import__("itertools").permutations(range(4))]


def _couplings(pdg: int) -> dict[int, tuple[float, np.ndarray]]:
    """Per chirality σ: (SM Z coupling, dδg/dθ vector over COEFFICIENTS)."""
    t3, q = _QUARKS[abs(pdg)]
    k = -0.5 * G_Z * V_EV**2 / LAMBDA**2
    up = t3 > 0
    left = np.array([k, (-k if up else k), 0, 0, 0, 0])
    right = np.array([0, 0, (k if up else 0), (0 if up else k), 0, 0])
    return {-1: (G_Z * (t3 - q * S2W), left), +1: (G_Z * (-q * S2W), right)}


_LEPTON_G = {-1: G_Z * (-0.5 + S2W), +1: G_Z * S2W}


def _amplitudes(p1, p2, p3, p4, ph, pdg):
    """Amplitude coefficient vectors A_{στ}[..., k] for k = SM, then each coefficient (linear model).

    Returns dict {(σ, τ): complex array (n, 7)} without the common factors (i, Z propagator of the decay).
    """
    big_p = p1 + p2
    q = p3 + p4
    shat = _dot(big_p, big_p)
    q1, q2 = -big_p, q
    out = {}
    coup = _couplings(pdg)
    for sigma in (-1, +1):
        jq = _current(p2, p1, sigma)
        g_q, dg = coup[sigma]
        for tau in (-1, +1):
            jl = _current(p3, p4, tau)
            jj = _dot(jq, jl)
            prop = 1.0 / (shat - M_Z**2)
            sm = g_q * prop * (2 * M_Z**2 / V_EV) * jj
            contact = (2 / V_EV) * shat * prop * jj
            g2 = g_q * prop * (2 / V_EV) * (_dot(q1, q2) * jj - _dot(jq, q2) * _dot(jl, q1))
            g4 = g_q * prop * (2 / V_EV) * _levi_civita(jq, q1, jl, q2)
            cols = [sm]
            for k in range(4):
                cols.append(dg[k] * contact)
            cols += [g2, g4]
            out[(sigma, tau)] = _LEPTON_G[tau] * np.stack(cols, axis=-1)
    return out


@dataclass
class ZHEvents:
    """Parton-level ZH events: four-momenta (E, px, py, pz) in GeV, features, weight coefficients (pb)."""

    p_lminus: np.ndarray
    p_lplus: np.ndarray
    p_b: np.ndarray
    p_bbar: np.ndarray
    p_q: np.ndarray
    p_qbar: np.ndarray
    quark_pdg: np.ndarray
    lepton_pdg: np.ndarray
    coeffs: np.ndarray
    features: dict[str, np.ndarray]
    settings: dict = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return COEFFICIENTS

    def __len__(self) -> int:
        return len(self.coeffs)


def _boost(p: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Lorentz boost of four-vectors p (n, 4) by velocity beta (n, 3)."""
    b2 = np.sum(beta**2, axis=-1)
    gamma = 1 / np.sqrt(1 - b2)
    bp = np.sum(beta * p[:, 1:], axis=-1)
    g2 = np.where(b2 > 0, (gamma - 1) / np.where(b2 > 0, b2, 1), 0.0)
    e = gamma * (p[:, 0] + bp)
    vec = p[:, 1:] + (g2 * bp + gamma * p[:, 0])[:, None] * beta
    return np.column_stack([e, vec])


def _two_body(m_parent, m1, m2):
    return np.sqrt((m_parent**2 - (m1 + m2) ** 2) * (m_parent**2 - (m1 - m2) ** 2)) / (2 * m_parent)


def _angles_features(p3, p4, pz, ph):
    """Observables of the ZH system in the lab: Θ, θ*, φ* use the direction of the ZH boost as the beam."""
    pzh = pz + ph
    m_zh = np.sqrt(np.maximum(_dot(pzh, pzh), 0))
    y_zh = 0.5 * np.log((pzh[:, 0] + pzh[:, 3]) / (pzh[:, 0] - pzh[:, 3]))
    beta = -pzh[:, 1:] / pzh[:, :1]
    z_cm = _boost(pz, beta)
    l_cm = _boost(p3, beta)
    beam = np.where(y_zh >= 0, 1.0, -1.0)[:, None] * np.array([0.0, 0.0, 1.0])
    zhat = z_cm[:, 1:] / np.linalg.norm(z_cm[:, 1:], axis=1, keepdims=True)
    cos_theta = np.sum(zhat * beam, axis=1)
    # lepton in the Z rest frame
    l_z = _boost(l_cm, -z_cm[:, 1:] / z_cm[:, :1])
    lhat = l_z[:, 1:] / np.linalg.norm(l_z[:, 1:], axis=1, keepdims=True)
    cos_theta_star = np.sum(lhat * zhat, axis=1)
    n1 = np.cross(beam, zhat)
    n1 /= np.linalg.norm(n1, axis=1, keepdims=True)
    x_ax = np.cross(n1, zhat)
    phi_star = np.arctan2(np.sum(lhat * n1, axis=1), np.sum(lhat * x_ax, axis=1))
    pt = lambda p: np.hypot(p[:, 1], p[:, 2])  # noqa: E731
    eta = lambda p: np.arcsinh(p[:, 3] / np.maximum(pt(p), 1e-12))  # noqa: E731
    # angular moments of the helicity structure (Banerjee et al., eq. 3.6): trees find products of angles hard
    s_t, s_ts = np.sqrt(np.clip(1 - cos_theta**2, 0, 1)), np.sqrt(np.clip(1 - cos_theta_star**2, 0, 1))
    f_ll = s_t**2 * s_ts**2
    f_1lt = np.cos(phi_star) * s_t * s_ts
    f_1lt_tilde = np.sin(phi_star) * s_t * s_ts
    cc = cos_theta * cos_theta_star
    moments = {
        "f_ll": f_ll,
        "f_1tt": cc,
        "f_2tt": (1 + cos_theta**2) * (1 + cos_theta_star**2),
        "f_1lt": f_1lt,
        "f_2lt": f_1lt * cc,
        "f_1lt_tilde": f_1lt_tilde,
        "f_2lt_tilde": f_1lt_tilde * cc,
        "f_tt_prime": np.cos(2 * phi_star) * f_ll,
        "f_tt_prime_tilde": np.sin(2 * phi_star) * f_ll,
    }
    return {
        **moments,
        "m_zh": m_zh,
        "pt_z": pt(pz),
        "y_zh": y_zh,
        "cos_theta": cos_theta,
        "cos_theta_star": cos_theta_star,
        "phi_star": phi_star,
        "pt_h": pt(ph),
        "eta_z": eta(pz),
        "eta_h": eta(ph),
    }


def _kinematics(rng, n, shat_min, shat_max, shat_power):
    """Sample phase space; return momenta in the partonic CM frame and the sampling density factors."""
    a = 1 - shat_power
    r = rng.uniform(size=n)
    if abs(a) < 1e-12:
        shat = shat_min * (shat_max / shat_min) ** r
        dens = 1 / (shat * np.log(shat_max / shat_min))
    else:
        shat = (shat_min**a + r * (shat_max**a - shat_min**a)) ** (1 / a)
        dens = a * shat ** (-shat_power) / (shat_max**a - shat_min**a)
    rs = np.sqrt(shat)
    tau = shat / SQRT_S**2
    y_max = -0.5 * np.log(tau)
    y = rng.uniform(-1, 1, n) * y_max
    cos_t = rng.uniform(-1, 1, n)
    phi = rng.uniform(0, 2 * np.pi, n)
    cos_ts = rng.uniform(-1, 1, n)
    phi_s = rng.uniform(-np.pi, np.pi, n)
    # Z and H in the partonic CM frame
    k = _two_body(rs, M_Z, M_H)
    sin_t = np.sqrt(1 - cos_t**2)
    zdir = np.column_stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t])
    pz = np.column_stack([np.sqrt(k**2 + M_Z**2), k[:, None] * zdir])
    ph = np.column_stack([np.sqrt(k**2 + M_H**2), -k[:, None] * zdir])
    # lepton in the Z rest frame with axes z' = Ẑ, y' = ẑ × Ẑ, x' = y' × z'
    yax = np.cross(np.array([0.0, 0.0, 1.0]), zdir)
    yax /= np.linalg.norm(yax, axis=1, keepdims=True)
    xax = np.cross(yax, zdir)
    sin_ts = np.sqrt(1 - cos_ts**2)
    ldir = (
        (sin_ts * np.cos(phi_s))[:, None] * xax
        + (sin_ts * np.sin(phi_s))[:, None] * yax
        + cos_ts[:, None] * zdir
    )
    half = M_Z / 2
    l3 = np.column_stack([np.full(n, half), half * ldir])
    l4 = np.column_stack([np.full(n, half), -half * ldir])
    bz = pz[:, 1:] / pz[:, :1]
    p3, p4 = _boost(l3, bz), _boost(l4, bz)
    # H → b b̄ isotropic in the H rest frame
    cb = rng.uniform(-1, 1, n)
    fb = rng.uniform(0, 2 * np.pi, n)
    sb = np.sqrt(1 - cb**2)
    kb = _two_body(M_H, M_B, M_B)
    bdir = np.column_stack([sb * np.cos(fb), sb * np.sin(fb), cb])
    eb = np.sqrt(kb**2 + M_B**2)
    bh = ph[:, 1:] / ph[:, :1]
    pb = _boost(np.column_stack([np.full(n, eb), kb * bdir]), bh)
    pbb = _boost(np.column_stack([np.full(n, eb), -kb * bdir]), bh)
    # phase-space weight: 1/density of every sampled variable, with the flux and phase-space factors
    jac = 1.0 / dens * (2 * y_max) * (4 * np.pi) * (4 * np.pi)  # ŝ, y, dΩ_Z, dΩ_ℓ
    ps = k / (16 * np.pi**2 * rs) * 1 / (32 * np.pi**2) / (2 * M_Z * GAMMA_Z)
    flux = 1 / (2 * shat) / 4 / N_COLOURS  # spin and colour average
    return {
        "shat": shat,
        "y": y,
        "pz": pz,
        "ph": ph,
        "p3": p3,
        "p4": p4,
        "pb": pb,
        "pbb": pbb,
        "factor": jac * ps * flux * BR_H_BB / SQRT_S**2 / n,  # dx1 dx2 = dŝ dy / s; MC average
    }


def _boost_z(p, y):
    """Longitudinal boost with rapidity y."""
    ch, sh = np.cosh(y), np.sinh(y)
    return np.column_stack([ch * p[:, 0] + sh * p[:, 3], p[:, 1], p[:, 2], sh * p[:, 0] + ch * p[:, 3]])


def _weight_tensor(kin, pdf, orientation_flavours=None):
    """Σ over flavours, beam orientations, helicities of L · Re(A_a A_b*): (n, 7, 7), and per-channel SM."""
    shat, y = kin["shat"], kin["y"]
    rs = np.sqrt(shat)
    n = len(shat)
    x1 = rs / SQRT_S * np.exp(y)
    x2 = rs / SQRT_S * np.exp(-y)
    tens = np.zeros((n, 7, 7))
    channels = []
    zero = np.zeros(n)
    for pdg in (1, 2):  # s and c have the couplings of d and u: one amplitude, summed luminosities
        family = (pdg, pdg + 2)
        for orient in (+1, -1):
            e = rs / 2
            p1 = np.column_stack([e, zero, zero, orient * e])  # quark
            p2 = np.column_stack([e, zero, zero, -orient * e])  # antiquark
            amps = _amplitudes(p1, p2, kin["p3"], kin["p4"], kin["ph"], pdg)
            t = np.zeros((n, 7, 7))
            for a in amps.values():
                t += np.real(a[:, :, None] * a[:, None, :].conj())
            t *= (kin["factor"] * GEV2_TO_PB)[:, None, None]
            for q in family:
                lum = pdf.f(q, x1) * pdf.f(-q, x2) if orient > 0 else pdf.f(-q, x1) * pdf.f(q, x2)
                tens += t * lum[:, None, None]
                channels.append((q, orient, t[:, 0, 0] * lum))
    return tens, channels


def _coeffs_from_tensor(tens):
    n = tens.shape[1] - 1
    w0 = tens[:, 0, 0]
    wi = 2 * tens[:, 0, 1:]
    pairs = [(i, j) for i in range(n) for j in range(i, n)]
    wij = np.column_stack([2 * tens[:, 1 + i, 1 + j] for i, j in pairs])
    return np.column_stack([w0, wi, wij])


def check_phase_space(sqrt_shat_max: float, pt_z_min: float = 0.0) -> None:
    """Raise :class:`ConfigError` unless ZH events with √ŝ ≤ ``sqrt_shat_max`` and pT(Z) ≥ ``pt_z_min`` exist."""
    threshold = M_Z + M_H
    if not sqrt_shat_max > threshold:
        raise ConfigError(
            f"sqrt_shat_max = {sqrt_shat_max} GeV is below the ZH threshold",
            field="sqrt_shat_max",
            expected=f"> m_Z + m_H = {threshold:.1f} GeV",
        )
    # pT(Z) <= |p_Z| in the ZH rest frame, which is largest at the highest √ŝ
    k_max = float(_two_body(np.asarray(sqrt_shat_max, float), M_Z, M_H))
    if not 0 <= pt_z_min < k_max:
        raise ConfigError(
            f"pt_z_min = {pt_z_min} GeV",
            field="pt_z_min",
            expected=f"0 <= pt_z_min < {k_max:.1f} GeV (the largest pT(Z) at sqrt_shat_max = {sqrt_shat_max} GeV)",
        )


def generate(
    n_events: int,
    seed: int,
    *,
    sqrt_shat_max: float = 3000.0,
    shat_power: float = 1.5,
    pt_z_min: float = 0.0,
    pdf=None,
) -> ZHEvents:
    """Sample weighted parton-level ZH(→ℓℓ bb) events with exact weight coefficients (pb per event).

    Parameters
    ----------
    n_events:
        Number of sampled phase-space points (events failing ``pt_z_min`` are dropped: fewer may remain).
    seed:
        Random seed.
    sqrt_shat_max:
        Upper end of the sampled √ŝ range in GeV (the lower end is m_Z + m_H).
    shat_power:
        ŝ is sampled with density ∝ ŝ^−shat_power (1 = log-uniform); smaller values populate the tail.
    pt_z_min:
        Minimum Z transverse momentum in GeV.
    pdf:
        PDF object with ``f(pdg, x)``; default the embedded :class:`~higgsflow.eft.pdf.ToyLOPDF`.
    """
    from higgsflow.eft.pdf import default_pdf

    if n_events < 1:
        raise ConfigError("n_events must be positive", field="n_events")
    check_phase_space(sqrt_shat_max, pt_z_min)
    pdf = pdf or default_pdf()
    rng = np.random.default_rng(seed)
    kin = _kinematics(rng, n_events, (M_Z + M_H) ** 2, sqrt_shat_max**2, shat_power)
    tens, channels = _weight_tensor(kin, pdf)
    coeffs = _coeffs_from_tensor(tens)
    # flavour and orientation of each event for the LHE record, ∝ their SM contributions
    sm = np.stack([c[2] for c in channels], axis=1)
    u = rng.uniform(size=n_events) * sm.sum(axis=1)
    pick = np.minimum((np.cumsum(sm, axis=1) < u[:, None]).sum(axis=1), len(channels) - 1)
    quark = np.array([c[0] for c in channels])[pick]
    orient = np.array([c[1] for c in channels])[pick]
    lepton = np.where(rng.uniform(size=n_events) < 0.5, 11, 13)
    coeffs[:, :] *= 2.0  # ℓ = e and μ
    # boost everything to the lab
    y = kin["y"]
    lab = {k: _boost_z(kin[k], y) for k in ("pz", "ph", "p3", "p4", "pb", "pbb")}
    rs = np.sqrt(kin["shat"])
    zero = np.zeros(n_events)
    pa = _boost_z(np.column_stack([rs / 2, zero, zero, rs / 2]), y)
    pbm = _boost_z(np.column_stack([rs / 2, zero, zero, -rs / 2]), y)
    p_q = np.where(orient[:, None] > 0, pa, pbm)
    p_qbar = np.where(orient[:, None] > 0, pbm, pa)
    feats = _angles_features(lab["p3"], lab["p4"], lab["pz"], lab["ph"])
    keep = feats["pt_z"] >= pt_z_min
    if not keep.any():
        raise ConfigError(
            f"no sampled event has pT(Z) >= {pt_z_min} GeV",
            field="pt_z_min",
            expected="a lower cut or more events",
        )
    settings = {
        "seed": seed,
        "n_sampled": n_events,
        "sqrt_shat_max": sqrt_shat_max,
        "shat_power": shat_power,
        "pt_z_min": pt_z_min,
        "pdf": getattr(pdf, "name", type(pdf).__name__),
        "lambda_gev": LAMBDA,
    }
    ev = ZHEvents(
        p_lminus=lab["p3"][keep],
        p_lplus=lab["p4"][keep],
        p_b=lab["pb"][keep],
        p_bbar=lab["pbb"][keep],
        p_q=p_q[keep],
        p_qbar=p_qbar[keep],
        quark_pdg=quark[keep],
        lepton_pdg=lepton[keep],
        coeffs=coeffs[keep],
        features={k: v[keep] for k, v in feats.items()},
        settings=settings,
    )
    ev._kin = {k: (v[keep] if isinstance(v, np.ndarray) else v) for k, v in kin.items()}  # CM-frame record
    log.info("generated %d ZH events (σ_SM = %.4g pb)", len(ev), ev.coeffs[:, 0].sum())
    return ev


def amplitude_squared(events: ZHEvents, theta: np.ndarray, pdf=None) -> np.ndarray:
    """Event weights at θ computed directly from |M(θ)|² (no polynomial), for validation; pb per event."""
    from higgsflow.eft.pdf import default_pdf

    pdf = pdf or default_pdf()
    theta = np.asarray(theta, float)
    if theta.shape != (len(COEFFICIENTS),):
        raise ConfigError("θ has the wrong length", field="theta", expected=f"{len(COEFFICIENTS)} values")
    kin = events._kin
    shat, y = kin["shat"], kin["y"]
    rs = np.sqrt(shat)
    n = len(shat)
    x1, x2 = rs / SQRT_S * np.exp(y), rs / SQRT_S * np.exp(-y)
    total = np.zeros(n)
    vec = np.concatenate([[1.0], theta])
    zero = np.zeros(n)
    for pdg in (1, 2):
        for orient in (+1, -1):
            e = rs / 2
            p1 = np.column_stack([e, zero, zero, orient * e])
            p2 = np.column_stack([e, zero, zero, -orient * e])
            m2 = sum(
                np.abs(a @ vec) ** 2
                for a in _amplitudes(p1, p2, kin["p3"], kin["p4"], kin["ph"], pdg).values()
            )
            for q in (pdg, pdg + 2):
                lum = pdf.f(q, x1) * pdf.f(-q, x2) if orient > 0 else pdf.f(-q, x1) * pdf.f(q, x2)
                total += lum * m2
    return 2.0 * total * kin["factor"] * GEV2_TO_PB


def reconstruct(events: ZHEvents, seed: int, detector=None) -> dict[str, np.ndarray]:
    """Detector-level observables x from a simple documented smearing (hook: ``detector``).

    Without a detector model: leptons keep their direction, p_T smeared by 2 %; b quarks stand for b jets with
    energy resolution σ_E/E = 100%/√E ⊕ 5 %, direction smeared by σ = 0.02 in η and φ; acceptance
    p_T > 20 GeV,
    |η| < 2.5 for all four objects, each b tagged with 70 % efficiency (both required). Events with
    ΔR(b, b̄) < 0.8 and p_T(H) > 250 GeV form the *boosted* category (one large-radius jet: the b b̄ sum with
    the same smearing), the rest the *resolved* one. ``detector(events, seed)`` (e.g. from
    ``higgsflow.generate``) may replace all of this and must return the same keys.

    Returns arrays over all events: ``selected`` (bool), ``category`` (0 resolved, 1 boosted) and the features
    of :data:`FEATURES` computed from the smeared objects, plus ``m_bb``.
    """
    if detector is not None:
        return detector(events, seed)
    rng = np.random.default_rng(seed)

    def pt_eta_phi(p):
        pt = np.hypot(p[:, 1], p[:, 2])
        return pt, np.arcsinh(p[:, 3] / np.maximum(pt, 1e-12)), np.arctan2(p[:, 2], p[:, 1])

    def build(pt, eta, phi, m):
        px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
        return np.column_stack([np.sqrt(px**2 + py**2 + pz**2 + m**2), px, py, pz])

    def smear_lepton(p):
        pt, eta, phi = pt_eta_phi(p)
        return build(pt * (1 + 0.02 * rng.normal(size=len(pt))), eta, phi, 0.0)

    def smear_jet(p):
        pt, eta, phi = pt_eta_phi(p)
        e = p[:, 0]
        res = np.sqrt(1.0 / np.maximum(e, 1.0) + 0.05**2)
        scale = np.maximum(1 + res * rng.normal(size=len(e)), 0.05)
        return build(
            pt * scale, eta + 0.02 * rng.normal(size=len(e)), phi + 0.02 * rng.normal(size=len(e)), M_B
        )

    l1, l2 = smear_lepton(events.p_lminus), smear_lepton(events.p_lplus)
    b1, b2 = smear_jet(events.p_b), smear_jet(events.p_bbar)
    ok = np.ones(len(events), bool)
    for p in (l1, l2, b1, b2):
        pt, eta, _ = pt_eta_phi(p)
        ok &= (pt > 20) & (np.abs(eta) < 2.5)
    ok &= rng.uniform(size=len(ok)) < 0.7
    ok &= rng.uniform(size=len(ok)) < 0.7
    _, e1, f1 = pt_eta_phi(events.p_b)
    _, e2, f2 = pt_eta_phi(events.p_bbar)
    dphi = np.angle(np.exp(1j * (f1 - f2)))
    dr = np.hypot(e1 - e2, dphi)
    pz, ph = l1 + l2, b1 + b2
    feats = _angles_features(l1, l2, pz, ph)
    boosted = (dr < 0.8) & (feats["pt_h"] > 250)
    m_bb = np.sqrt(np.maximum(_dot(ph, ph), 0))
    return {"selected": ok, "category": boosted.astype(np.int8), "m_bb": m_bb, **feats}


def lhe_basis_points(scale: float = 1.0) -> tuple[list[str], np.ndarray]:
    """Weight ids and θ points of the named LHE weights (the minimal basis of ``weights.basis_points``)."""
    from higgsflow.eft.weights import basis_points

    theta = basis_points(len(COEFFICIENTS), scale)
    return [f"theta_{m:02d}" for m in range(len(theta))], theta


def write_lhe(events: ZHEvents, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write the events as LHE v3 (q q̄ → Z H, Z → ℓℓ, H → b b̄) with reweighting weights at basis points.

    XWGTUP is w0 (pb); the ``<rwgt>`` weights ``theta_MM`` are w(θ_m) at the points of
    :func:`lhe_basis_points` (as a generator's reweighting module would write them), so
    ``weights.read_lhe_weights(path, *lhe_basis_points())`` rebuilds the coefficients after showering.
    """
    from higgsflow.eft.lhe import write_lhe as _write
    from higgsflow.eft.weights import quadratic_design

    pz = events.p_lminus + events.p_lplus
    ph = events.p_b + events.p_bbar
    n = len(events)
    mom = np.stack(
        [events.p_q, events.p_qbar, pz, ph, events.p_lminus, events.p_lplus, events.p_b, events.p_bbar],
        axis=1,
    )
    pdg = np.column_stack(
        [
            events.quark_pdg,
            -events.quark_pdg,
            np.full(n, 23),
            np.full(n, 25),
            events.lepton_pdg,
            -events.lepton_pdg,
            np.full(n, 5),
            np.full(n, -5),
        ]
    )
    masses = np.column_stack(
        [np.zeros(n), np.zeros(n), np.sqrt(np.maximum(_dot(pz, pz), 0)), np.sqrt(np.maximum(_dot(ph, ph), 0))]
        + [np.zeros(n)] * 2
        + [np.full(n, M_B)] * 2
    )
    colors = np.zeros((n, 8, 2), int)
    colors[:, 0, 0] = 501
    colors[:, 1, 1] = 501
    colors[:, 6, 0] = 502
    colors[:, 7, 1] = 502
    mothers = np.array([[0, 0], [0, 0], [1, 2], [1, 2], [3, 3], [3, 3], [4, 4], [4, 4]])
    ids, theta = lhe_basis_points()
    named = events.coeffs @ quadratic_design(theta).T
    return _write(
        path,
        pdg=pdg,
        status=np.array([-1, -1, 2, 2, 1, 1, 1, 1]),
        mothers=mothers,
        momenta=mom,
        masses=masses,
        colors=colors,
        event_weights=events.coeffs[:, 0],
        weight_ids=ids,
        named_weights=named,
        beam_energy=SQRT_S / 2,
        cross_section_pb=float(events.coeffs[:, 0].sum()),
        comment=f"higgsflow.eft.zh settings: {events.settings}; weight theta_MM = w(theta_m), "
        f"coefficients {list(COEFFICIENTS)}, points {theta.tolist()}",
        overwrite=overwrite,
    )
