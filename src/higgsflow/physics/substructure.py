"""Jet substructure over many jets at once: soft-drop mass and N-subjettiness.

Both take the jets' constituents as an awkward array of records with fields ``px, py, pz, E``
(GeV), one list per
jet, and return numpy arrays with one entry per jet. Clustering is done by FastJet's awkward
interface, which treats
each list as one "event", so a whole batch of jets is reclustered in one C++ call.
"""

from __future__ import annotations

import warnings

import awkward as ak
import numpy as np

from higgsflow.physics.kinematics import delta_phi, eta_phi

__all__ = ["nsubjettiness", "softdrop_mass"]

# Reclustering radius large enough that every pair of constituents of an R ≤ 0.8 jet merges
# pairwise (never with
# the beam), so that exclusive clustering down to one or N subjets is well defined.
_RECLUSTER_R = 2.0


def _as_fastjet_input(constituents: ak.Array) -> ak.Array:
    return ak.zip(
        {k: ak.values_astype(constituents[k], np.float64) for k in ("px", "py", "pz", "E")},
        with_name="Momentum4D",
    )


def softdrop_mass(
    constituents: ak.Array, *, beta: float = 0.0, z_cut: float = 0.1, r0: float = 0.8
) -> np.ndarray:
    """Soft-drop groomed mass (GeV) of each jet (Larkoski et al., arXiv:1402.2657).

    The constituents are reclustered with Cambridge/Aachen and declustered from the top: the softer branch is
    dropped while min(pT1, pT2)/(pT1 + pT2) < z_cut (ΔR12/r0)^β. JetClass uses β = 0, z_cut = 0.1 on AK8 jets.
    Jets with fewer than two constituents get their plain mass.
    """
    import fastjet

    n = len(constituents)
    out = np.zeros(n, dtype=np.float64)
    if n == 0:
        return out
    counts = ak.to_numpy(ak.num(constituents, axis=1))
    ok = counts >= 2
    if ok.any():
        cs = fastjet.ClusterSequence(
            _as_fastjet_input(constituents[ok]),
            fastjet.JetDefinition(fastjet.cambridge_algorithm, _RECLUSTER_R),
        )
        with (
            warnings.catch_warnings()
        ):  # fastjet's python layer warns about exclusive C/A, which is well defined
            warnings.simplefilter("ignore", UserWarning)
            groomed = cs.exclusive_jets_softdrop_grooming(njets=1, beta=beta, symmetry_cut=z_cut, R0=r0)
        out[ok] = ak.to_numpy(groomed.msoftdrop)
    if (~ok).any():
        c = constituents[~ok]
        e, px, py, pz = (ak.to_numpy(ak.sum(c[k], axis=1)) for k in ("E", "px", "py", "pz"))
        out[~ok] = np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0.0))
    return np.maximum(np.nan_to_num(out, nan=0.0), 0.0)


def nsubjettiness(
    constituents: ak.Array, *, n_max: int = 4, r0: float = 0.8, beta: float = 1.0
) -> np.ndarray:
    """N-subjettiness τ_N for N = 1..n_max (Thaler and Van Tilburg, arXiv:1011.2268), shape (n_jets, n_max).

    τ_N = Σ_i pT_i min_k ΔR(i, a_k)^β / Σ_i pT_i r0^β with axes a_k the exclusive-kT subjets (β =
    1, r0 = 0.8 as
    the JetClass AK8 jets). A jet with at most N constituents has τ_N = 0.
    """
    import fastjet

    n_jets = len(constituents)
    out = np.zeros((n_jets, n_max), dtype=np.float64)
    if n_jets == 0:
        return out
    counts = ak.to_numpy(ak.num(constituents, axis=1))
    flat = {k: ak.to_numpy(ak.flatten(constituents[k])).astype(np.float64) for k in ("px", "py", "pz", "E")}
    jet_of = np.repeat(np.arange(n_jets), counts)
    c_pt = np.hypot(flat["px"], flat["py"])
    c_eta, c_phi = eta_phi(flat["px"], flat["py"], flat["pz"])
    norm = np.bincount(jet_of, weights=c_pt, minlength=n_jets) * r0**beta

    # jets with fewer than n_max constituents get soft "ghosts" (1e-9 GeV) so exclusive clustering to n_max
    # subjets exists; their weight in τ_N is negligible
    n_ghost = np.maximum(n_max - counts, 0)
    padded = constituents
    if n_ghost.any():
        g_counts = n_ghost
        ghost_idx = np.arange(int(g_counts.sum())) - np.repeat(np.cumsum(g_counts) - g_counts, g_counts)
        ghost = {
            "px": 1e-9 * np.cos(ghost_idx + 1.0),
            "py": 1e-9 * np.sin(ghost_idx + 1.0),
            "pz": np.zeros(ghost_idx.size),
            "E": 1e-9 * np.ones(ghost_idx.size),
        }
        ghosts = ak.unflatten(ak.zip(ghost), g_counts)
        padded = ak.concatenate([_as_fastjet_input(constituents), ghosts], axis=1)
    cs = fastjet.ClusterSequence(
        _as_fastjet_input(padded), fastjet.JetDefinition(fastjet.kt_algorithm, _RECLUSTER_R)
    )
    for n in range(1, n_max + 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            axes = cs.exclusive_jets(n_jets=n)
        a_eta, a_phi = eta_phi(
            ak.to_numpy(ak.flatten(axes.px)),
            ak.to_numpy(ak.flatten(axes.py)),
            ak.to_numpy(ak.flatten(axes.pz)),
        )
        a_eta, a_phi = a_eta.reshape(n_jets, n), a_phi.reshape(n_jets, n)
        dr = np.hypot(c_eta[:, None] - a_eta[jet_of], delta_phi(c_phi[:, None], a_phi[jet_of]))
        num = np.bincount(jet_of, weights=c_pt * dr.min(axis=1) ** beta, minlength=n_jets)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, n - 1] = np.where(norm > 0, num / np.where(norm > 0, norm, 1.0), 0.0)
        out[counts <= n, n - 1] = 0.0
    return out
