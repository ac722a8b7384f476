"""Pairwise features of particles inside a jet, as used by the Particle Transformer's interaction matrix.

For two particles a, b with transverse momenta p_T, rapidities y and azimuths φ (Qu, Li, Qian,
arXiv:2202.03772):

    Δ   = sqrt((y_a − y_b)² + (φ_a − φ_b)²)
    k_T = min(p_T,a, p_T,b) · Δ
    z   = min(p_T,a, p_T,b) / (p_T,a + p_T,b)
    m²  = (E_a + E_b)² − |p_a + p_b|²

and the features are their logarithms ``(ln k_T, ln z, ln Δ, ln m²)`` in this order (the order of
weaver-core's
``pairwise_lv_fts``), with every argument clamped to ``eps`` before the log. Momenta in GeV, angles in rad.
"""

from __future__ import annotations

import math

import torch

__all__ = ["PAIR_FEATURE_NAMES", "delta_phi", "pair_features", "pt_rapidity_phi"]

PAIR_FEATURE_NAMES = ("ln_kt", "ln_z", "ln_delta", "ln_m2")


def delta_phi(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """φ_a − φ_b wrapped into [−π, π) (rad)."""
    return torch.remainder(a - b + math.pi, 2 * math.pi) - math.pi


def pt_rapidity_phi(p4: torch.Tensor, eps: float = 1e-8) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Transverse momentum (GeV), rapidity and azimuth (rad) of four-vectors ``(..., 4)`` = (px, py, pz,
    E)."""
    px, py, pz, energy = p4.unbind(-1)
    pt = torch.sqrt((px * px + py * py).clamp(min=eps))
    rapidity = 0.5 * torch.log(1 + (2 * pz) / (energy - pz).clamp(min=1e-20))
    phi = torch.atan2(py, px)
    return pt, rapidity, phi


def pair_features(
    p4_a: torch.Tensor, p4_b: torch.Tensor, *, num_features: int = 4, eps: float = 1e-8
) -> torch.Tensor:
    """The ParT pair features of four-vectors ``p4_a``, ``p4_b`` (broadcastable, last axis (px, py, pz, E)
    in GeV).

    Returns ``(..., num_features)`` with ``(ln k_T, ln z, ln Δ, ln m²)`` (``num_features`` = 1 gives ln Δ
    only, as
    in weaver-core). Symmetric in a ↔ b.
    """
    if num_features not in (1, 3, 4):
        raise ValueError(f"num_features must be 1, 3 or 4, got {num_features}")
    pt_a, y_a, phi_a = pt_rapidity_phi(p4_a, eps=0.0)
    pt_b, y_b, phi_b = pt_rapidity_phi(p4_b, eps=0.0)
    delta = torch.sqrt((y_a - y_b) ** 2 + delta_phi(phi_a, phi_b) ** 2)
    ln_delta = torch.log(delta.clamp(min=eps))
    if num_features == 1:
        return ln_delta.unsqueeze(-1)
    ptmin = torch.minimum(pt_a, pt_b)
    ln_kt = torch.log((ptmin * delta).clamp(min=eps))
    ln_z = torch.log((ptmin / (pt_a + pt_b).clamp(min=eps)).clamp(min=eps))
    out = [ln_kt, ln_z, ln_delta]
    if num_features == 4:
        s = p4_a + p4_b
        m2 = s[..., 3] ** 2 - (s[..., :3] ** 2).sum(-1)
        out.append(torch.log(m2.clamp(min=eps)))
    return torch.stack(out, dim=-1)
