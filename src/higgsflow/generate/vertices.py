"""Secondary vertices inside jets, parametrised on the generator's true decay vertices.

A real secondary-vertex finder (CMS's inclusive vertex finder) fits displaced tracks together.
Here the tracks of a jet that were really produced at the same displaced point (more than 1 µm
from the origin; Pythia decays B, D, τ, K⁰_S, Λ at their lifetimes, and all daughters of one decay
share the production vertex) form a vertex candidate when:

- at least two of them are reconstructed tracks with pT > 0.8 GeV;
- the vertex is resolved from the primary one: measured dxy / σ(dxy) > 3;
- it is not a K⁰_S: two opposite-charge tracks with a π⁺π⁻ mass within 0.45–0.55 GeV are dropped.

The measured position is the true one smeared with a resolution built from the card's track resolutions:
σ(x) = σ(y) = sqrt(mean σ(d0)²)/sqrt(n_tracks), σ(z) = sqrt(mean σ(dz)²)/sqrt(n_tracks). Units: GeV, mm.
"""

from __future__ import annotations

import numpy as np

from higgsflow.physics.kinematics import delta_phi, eta_phi

__all__ = ["SV_FIELDS", "secondary_vertices"]

SV_FIELDS = ("pt", "mass", "ntracks", "dxy", "dxysig", "d3d", "d3dsig", "costhetasvpv", "deta", "dphi")
_EXTRA = ("x", "y", "z", "px", "py", "pz")
_PION_MASS = 0.13957
_TRACK_PT_MIN = 0.8
_DXYSIG_MIN = 3.0
#: true displacement (mm) above which a production point counts as a decay vertex; Pythia gives the hadrons of
#: string fragmentation femtometre-scale production points, which are prompt
_DISPLACED_MM = 1e-3


def secondary_vertices(
    jet: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
    pz: np.ndarray,
    charge: np.ndarray,
    d0err: np.ndarray,
    dzerr: np.ndarray,
    vertex: np.ndarray,
    jet_eta: np.ndarray,
    jet_phi: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Secondary vertices of many jets from their tracks.

    ``jet``: jet number of each track; ``vertex``: (n, 3) true production points (mm); the rest per track.
    Returns the jet number of each vertex (sorted by jet, then decreasing pT) and the vertex features
    ``SV_FIELDS``, plus the measured position ``x, y, z`` (mm) and momentum ``px, py, pz`` (GeV) of each vertex
    (not written to files; the per-candidate ``drminsv``/``distminsv`` use them).
    """
    pt = np.hypot(px, py)
    use = (pt > _TRACK_PT_MIN) & (np.linalg.norm(vertex, axis=1) > _DISPLACED_MM)
    empty = {k: np.zeros(0) for k in (*SV_FIELDS, *_EXTRA)}
    if not use.any():
        return np.zeros(0, dtype=np.int64), empty
    keys = np.column_stack([jet[use].astype(np.float64), vertex[use]])
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    inv = inv.ravel()
    n = np.bincount(inv)
    e_trk = np.sqrt(px[use] ** 2 + py[use] ** 2 + pz[use] ** 2 + _PION_MASS**2)
    sums = {
        k: np.bincount(inv, weights=v)
        for k, v in (("px", px[use]), ("py", py[use]), ("pz", pz[use]), ("e", e_trk), ("q", charge[use]))
    }
    s_xy = np.sqrt(np.bincount(inv, weights=d0err[use] ** 2) / n) / np.sqrt(n)
    s_z = np.sqrt(np.bincount(inv, weights=dzerr[use] ** 2) / n) / np.sqrt(n)
    pos = uniq[:, 1:] + rng.standard_normal((uniq.shape[0], 3)) * np.column_stack([s_xy, s_xy, s_z])
    mass = np.sqrt(np.maximum(sums["e"] ** 2 - sums["px"] ** 2 - sums["py"] ** 2 - sums["pz"] ** 2, 0.0))
    dxy = np.hypot(pos[:, 0], pos[:, 1])
    d3d = np.linalg.norm(pos, axis=1)
    dxysig = dxy / s_xy
    d3dsig = d3d / np.sqrt(s_xy**2 + s_z**2)
    p_abs = np.sqrt(sums["px"] ** 2 + sums["py"] ** 2 + sums["pz"] ** 2)
    cos = (pos[:, 0] * sums["px"] + pos[:, 1] * sums["py"] + pos[:, 2] * sums["pz"]) / np.maximum(
        d3d * p_abs, 1e-12
    )
    k0s = (n == 2) & (sums["q"] == 0) & (mass > 0.45) & (mass < 0.55)
    good = (n >= 2) & (dxysig > _DXYSIG_MIN) & ~k0s
    sv_jet = uniq[good, 0].astype(np.int64)
    sv_pt = np.hypot(sums["px"], sums["py"])[good]
    order = np.lexsort((-sv_pt, sv_jet))
    eta, phi = eta_phi(sums["px"][good], sums["py"][good], sums["pz"][good])
    feats = {
        "pt": sv_pt,
        "mass": mass[good],
        "ntracks": n[good].astype(np.float64),
        "dxy": dxy[good],
        "dxysig": dxysig[good],
        "d3d": d3d[good],
        "d3dsig": d3dsig[good],
        "costhetasvpv": cos[good],
        "deta": eta - jet_eta[sv_jet],
        "dphi": delta_phi(phi, jet_phi[sv_jet]),
        "x": pos[good, 0],
        "y": pos[good, 1],
        "z": pos[good, 2],
        "px": sums["px"][good],
        "py": sums["py"][good],
        "pz": sums["pz"][good],
    }
    return sv_jet[order], {k: v[order] for k, v in feats.items()}
