"""Tokens of an event (jets, leptons, MET) as four-vectors, and the ParT pair features of every pair of them.

The event classifier sees each selected jet, lepton and the MET as a token with a four-vector (px, py, pz, E) in
GeV: jets and leptons from (p_T, η, φ, m); the MET as a massless object with η = 0, i.e.
(MET cos φ, MET sin φ, 0, MET). For two tokens a, b (rapidity y, azimuth φ) the pair features are those of ParT
(:mod:`higgsflow.physics.pairs`, the same code the event ParT's attention bias uses):

    ln Δ  with Δ = sqrt((y_a − y_b)² + (φ_a − φ_b)²)
    ln k_T with k_T = min(p_T,a, p_T,b) · Δ
    ln z  with z = min(p_T,a, p_T,b) / (p_T,a + p_T,b)
    ln m² with m² = (E_a + E_b)² − |p_a + p_b|²

returned in the order (ln k_T, ln z, ln Δ, ln m²) of weaver-core's ``pairwise_lv_fts``.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np

from higgsflow.errors import SchemaError

__all__ = ["event_pair_features", "event_tokens"]


def _padded(x: ak.Array, n: int) -> np.ndarray:
    return ak.to_numpy(ak.fill_none(ak.pad_none(x, n, clip=True), 0.0)).astype(np.float64)


def event_tokens(
    events: ak.Array, *, max_jets: int = 10, max_leptons: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Four-vectors ``(N, T, 4)`` (px, py, pz, E) of the tokens [jets (``max_jets``), leptons (``max_leptons``),
    MET] of each event, T = max_jets + max_leptons + 1, and the mask ``(N, T)`` of the real ones."""
    need = [f"{p}_{k}" for p in ("jet", "lep") for k in ("pt", "eta", "phi", "mass")] + ["met_pt", "met_phi"]
    missing = [c for c in need if c not in events.fields]
    if missing:
        raise SchemaError("column missing for the event's tokens", field=", ".join(missing))
    out, masks = [], []
    for prefix, n in (("jet", max_jets), ("lep", max_leptons)):
        pt = _padded(events[f"{prefix}_pt"], n)
        eta = _padded(events[f"{prefix}_eta"], n)
        phi = _padded(events[f"{prefix}_phi"], n)
        m = _padded(events[f"{prefix}_mass"], n)
        px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
        out.append(np.stack([px, py, pz, np.sqrt(px**2 + py**2 + pz**2 + m**2)], axis=-1))
        masks.append(pt > 0)
    met = np.asarray(events["met_pt"], dtype=np.float64)
    phi = np.asarray(events["met_phi"], dtype=np.float64)
    out.append(np.stack([met * np.cos(phi), met * np.sin(phi), np.zeros_like(met), met], axis=-1)[:, None, :])
    masks.append((met > 0)[:, None])
    return np.concatenate(out, axis=1), np.concatenate(masks, axis=1)


def event_pair_features(events: ak.Array, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
    """The pair features ``(N, T, T, 4)`` (ln k_T, ln z, ln Δ, ln m²) of every pair of the tokens of
    :func:`event_tokens` (``kwargs`` go to it) and the pair mask ``(N, T, T)`` (both tokens real, a ≠ b)."""
    import torch

    from higgsflow.physics.pairs import pair_features

    p4, mask = event_tokens(events, **kwargs)
    v = torch.as_tensor(p4)
    feats = pair_features(v.unsqueeze(2), v.unsqueeze(1)).numpy()
    pair_mask = mask[:, :, None] & mask[:, None, :] & ~np.eye(mask.shape[1], dtype=bool)[None]
    return feats, pair_mask
