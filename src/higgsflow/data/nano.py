"""CMS PFNano jets as higgsflow jets: the particle clouds of ``JetPFCands``/``JetSVs`` in the generator's schema.

PFNano stores the PF candidates of an event once (``PFCands_*``) and, per jet collection, a link table
(``JetPFCands_jetIdx`` → jet, ``JetPFCands_pFCandsIdx`` → candidate) with per-candidate b-tagging inputs
(``JetPFCands_btag*``), and the same for secondary vertices (``JetSVs_jetIdx``, ``JetSVs_sVIdx`` → ``SV_*``,
with per-jet-vertex quantities ``JetSVs_*``). :func:`read_pfnano_jets` turns that into one row per jet with the
columns of ``higgsflow generate jets`` (docs/generate.md), so a data config written for generated jets scores
real CMS jets unchanged:

- ``part_px, part_py, part_pz, part_energy`` from the candidate's (pT, η, φ, mass); ``part_deta``, ``part_dphi``
  relative to the jet axis; sorted by decreasing pT as the generator writes them;
- ``part_d0val, part_d0err, part_dzval, part_dzerr`` (CMS stores cm; here mm, as the generator) and 0 for neutral
  candidates; ``part_charge`` and the PF-type flags from ``pdgId`` (±211 charged hadron, 130 neutral hadron,
  22 photon, ±11 electron, ±13 muon);
- the b-tagging inputs where the file has them (``part_btagEtaRel``, ``part_btagPtRatio``,
  ``part_btagPParRatio``, ``part_btagSip3dVal`` (mm), ``part_btagSip3dSig``, ``part_btagJetDistVal`` (mm));
- ``sv_pt, sv_mass, sv_ntracks, sv_dxy, sv_dxysig, sv_d3d, sv_d3dsig, sv_costhetasvpv`` (lengths in mm) and
  ``sv_deta, sv_dphi`` from the vertex's (η, φ) in the event's ``SV`` collection, sorted by decreasing pT. A jet
  vertex that is not in that collection (``JetSVs_sVIdx`` = −1: PFNano gives it no direction) is left out and
  counted in ``aux_n_sv_unlisted``;
- ``jet_pt, jet_eta, jet_phi, jet_energy, jet_nparticles``, ``aux_hadron_flavour`` (``Jet_hadronFlavour``),
  ``aux_event`` and ``aux_jet_index``.
"""

from __future__ import annotations

import os
from typing import Any

import awkward as ak
import numpy as np

from higgsflow.data.io import list_columns, read_table
from higgsflow.errors import SchemaError

__all__ = ["read_pfnano_jets"]

_CM_TO_MM = 10.0
_BTAG = {
    "btagEtaRel": ("part_btagEtaRel", 1.0),
    "btagPtRatio": ("part_btagPtRatio", 1.0),
    "btagPParRatio": ("part_btagPParRatio", 1.0),
    "btagSip3dVal": ("part_btagSip3dVal", _CM_TO_MM),
    "btagSip3dSig": ("part_btagSip3dSig", 1.0),
    "btagJetDistVal": ("part_btagJetDistVal", _CM_TO_MM),
}
_SV = {
    "pt": ("sv_pt", 1.0),
    "mass": ("sv_mass", 1.0),
    "ntracks": ("sv_ntracks", 1.0),
    "dxy": ("sv_dxy", _CM_TO_MM),
    "dxysig": ("sv_dxysig", 1.0),
    "d3d": ("sv_d3d", _CM_TO_MM),
    "d3dsig": ("sv_d3dsig", 1.0),
    "costhetasvpv": ("sv_costhetasvpv", 1.0),
}


def _dphi(a: Any, b: Any) -> Any:
    return (a - b + np.pi) % (2 * np.pi) - np.pi


def _group(values: Any, jet_idx: Any, n_jets: np.ndarray) -> Any:
    """Per-event link rows (a value and the index of its jet in the event) → one list per jet, over all events."""
    first = np.concatenate(
        [[0], np.cumsum(n_jets)[:-1]]
    )  # the first jet of each event, counted over the file
    gid = ak.to_numpy(ak.flatten(jet_idx + first)).astype(np.int64)
    order = np.argsort(gid, kind="stable")
    counts = np.bincount(gid, minlength=int(n_jets.sum()))
    return ak.unflatten(ak.flatten(values)[order], counts)


def read_pfnano_jets(
    path: str | os.PathLike[str],
    *,
    jets: str = "Jet",
    tree: str = "Events",
    entry_stop: int | None = None,
) -> dict[str, Any]:
    """The jets of collection ``jets`` (``Jet`` for AK4, ``FatJet`` for AK8) of a PFNano file, one row per jet, in
    the generator's schema (see the module docstring); columns as numpy (per jet) or awkward (per particle)."""
    path = os.fspath(path)
    cands, svs = f"{jets}PFCands", f"{jets}SVs"
    available = set(list_columns(path, tree=tree))
    need = [f"{cands}_jetIdx", f"{cands}_pFCandsIdx", f"{jets}_pt"]
    missing = [c for c in need if c not in available]
    if missing:
        raise SchemaError(
            "not a PFNano file with the particles of this jet collection",
            file=path,
            field=", ".join(missing),
            expected=f"{cands}_jetIdx and {cands}_pFCandsIdx (PFNano)",
        )
    btag = [k for k in _BTAG if f"{cands}_{k}" in available]
    has_sv = {f"{svs}_jetIdx", f"{svs}_sVIdx", "SV_eta", "SV_phi"} <= available
    sv_cols = [k for k in _SV if f"{svs}_{k}" in available] if has_sv else []
    columns = [
        *need,
        f"{jets}_eta",
        f"{jets}_phi",
        f"{jets}_mass",
        *[
            f"PFCands_{k}"
            for k in ("pt", "eta", "phi", "mass", "pdgId", "charge", "d0", "d0Err", "dz", "dzErr")
        ],
        *[f"{cands}_{k}" for k in btag],
        *(
            [f"{svs}_jetIdx", f"{svs}_sVIdx", "SV_eta", "SV_phi", *[f"{svs}_{k}" for k in sv_cols]]
            if has_sv
            else []
        ),
    ]
    if f"{jets}_hadronFlavour" in available:
        columns.append(f"{jets}_hadronFlavour")
    if "event" in available:
        columns.append("event")
    t = read_table(path, [c for c in columns if c in available], tree=tree, entry_stop=entry_stop)
    n_jets = ak.to_numpy(ak.num(t[f"{jets}_pt"]))
    jidx = t[f"{cands}_jetIdx"]
    cidx = t[f"{cands}_pFCandsIdx"]

    def cand(name: str) -> Any:
        return _group(t[f"PFCands_{name}"][cidx], jidx, n_jets)

    pt, eta, phi, mass = cand("pt"), cand("eta"), cand("phi"), cand("mass")
    pdg, charge = cand("pdgId"), cand("charge")
    extra = {k: _group(t[f"{cands}_{k}"], jidx, n_jets) for k in btag}
    # one row per jet
    flat = lambda x: ak.flatten(x, axis=1)  # noqa: E731  (per event → per jet)
    jet_pt, jet_eta = ak.to_numpy(flat(t[f"{jets}_pt"])), ak.to_numpy(flat(t[f"{jets}_eta"]))
    jet_phi, jet_mass = ak.to_numpy(flat(t[f"{jets}_phi"])), ak.to_numpy(flat(t[f"{jets}_mass"]))
    order = ak.argsort(pt, axis=1, ascending=False)
    pt, eta, phi, mass, pdg, charge = (x[order] for x in (pt, eta, phi, mass, pdg, charge))
    extra = {k: v[order] for k, v in extra.items()}
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    energy = np.sqrt(px**2 + py**2 + pz**2 + mass**2)
    apdg = abs(pdg)
    is_charged = charge != 0
    out: dict[str, Any] = {
        "part_px": px,
        "part_py": py,
        "part_pz": pz,
        "part_energy": energy,
        "part_deta": eta - jet_eta,
        "part_dphi": _dphi(phi, jet_phi),
        "part_charge": ak.values_astype(charge, np.float32),
        "part_isChargedHadron": ak.values_astype(apdg == 211, np.float32),
        "part_isNeutralHadron": ak.values_astype(apdg == 130, np.float32),
        "part_isPhoton": ak.values_astype(apdg == 22, np.float32),
        "part_isElectron": ak.values_astype(apdg == 11, np.float32),
        "part_isMuon": ak.values_astype(apdg == 13, np.float32),
    }
    for name, key in (
        ("d0", "part_d0val"),
        ("d0Err", "part_d0err"),
        ("dz", "part_dzval"),
        ("dzErr", "part_dzerr"),
    ):
        v = cand(name)[order] * _CM_TO_MM
        out[key] = ak.where(is_charged, v, 0.0)
    for k, v in extra.items():
        name, scale = _BTAG[k]
        out[name] = v * scale
    if has_sv:
        sjidx, sidx = t[f"{svs}_jetIdx"], t[f"{svs}_sVIdx"]
        # a jet vertex outside the event's SV collection (sVIdx -1) has no direction in the file: left out, and
        # counted per jet in aux_n_sv_unlisted
        listed = sidx >= 0
        out["aux_n_sv_unlisted"] = ak.to_numpy(ak.sum(_group(~listed, sjidx, n_jets), axis=1)).astype(
            np.int32
        )
        sv = {k: t[f"{svs}_{k}"][listed] for k in sv_cols}
        sjidx, sidx = sjidx[listed], sidx[listed]
        sv_pt = _group(sv["pt"], sjidx, n_jets) if "pt" in sv_cols else None
        sorder = ak.argsort(sv_pt, axis=1, ascending=False) if sv_pt is not None else None
        for k in sv_cols:
            name, scale = _SV[k]
            v = _group(sv[k], sjidx, n_jets)
            out[name] = (v[sorder] if sorder is not None else v) * scale
        seta = _group(t["SV_eta"][sidx], sjidx, n_jets)
        sphi = _group(t["SV_phi"][sidx], sjidx, n_jets)
        if sorder is not None:
            seta, sphi = seta[sorder], sphi[sorder]
        out["sv_deta"] = seta - jet_eta
        out["sv_dphi"] = _dphi(sphi, jet_phi)
    out.update(
        {
            "jet_pt": jet_pt.astype(np.float32),
            "jet_eta": jet_eta.astype(np.float32),
            "jet_phi": jet_phi.astype(np.float32),
            "jet_energy": np.sqrt((jet_pt * np.cosh(jet_eta)) ** 2 + jet_mass**2).astype(np.float32),
            "jet_nparticles": ak.to_numpy(ak.num(pt)).astype(np.float32),
            "aux_jet_index": ak.to_numpy(flat(ak.local_index(t[f"{jets}_pt"], axis=1))).astype(np.int32),
        }
    )
    if f"{jets}_hadronFlavour" in t.fields:
        out["aux_hadron_flavour"] = ak.to_numpy(flat(t[f"{jets}_hadronFlavour"])).astype(np.int32)
    if "event" in t.fields:
        out["aux_event"] = np.repeat(ak.to_numpy(t["event"]), n_jets).astype(np.int64)
    return out
