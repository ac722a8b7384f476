"""CMS NanoAOD events as higgsflow event files: the same columns as ``higgsflow generate events`` writes, so that
the event selection and the event classifier run on real CMS events.

From the ``Events`` tree:

- jets: ``Jet_pt, Jet_eta, Jet_phi, Jet_mass`` with p_T > 20 GeV and |η| < 2.5 (the event file's jets) →
  ``jet_pt ...``; ``Jet_hadronFlavour`` → ``jet_hadronFlavour`` (0 in data); ``jet_index`` = the jet's position
  in NanoAOD's ``Jet`` collection;
- the tagger's stored discriminants (``tagger`` ``PNet``: ``Jet_btagPNetB/CvL/CvB/QvG``; ``UParTAK4``;
  ``DeepFlav`` with QvsG = 1 − ``Jet_btagDeepFlavQG``) → ``jet_btagB, jet_btagCvL, jet_btagCvB, jet_btagQvG``;
- leptons: electrons (``Electron_*``) with ``Electron_cutBased`` ≥ ``electron_id`` (2 = loose) and
  ``Electron_pfRelIso03_all`` < 0.15; muons (``Muon_*``) with ``Muon_looseId`` and ``Muon_pfRelIso04_all``
  < 0.15; both p_T > 10 GeV, |η| < 2.5, merged and p_T-ordered → ``lep_pt, lep_eta, lep_phi, lep_mass,
  lep_charge, lep_pdgId``;
- MET: ``PuppiMET_pt``, ``PuppiMET_phi`` → ``met_pt``, ``met_phi``;
- ``event`` → ``event_id``; ``genWeight`` (1 where absent) → ``weight`` (NOT a cross section in pb: normalise
  it to σ·L yourself); every ``label_*`` column is 0 (no truth class).
"""

from __future__ import annotations

import os
from typing import Any

import awkward as ak
import numpy as np

from higgsflow.errors import DataError, SchemaError
from higgsflow.events.objects import LABELS

__all__ = ["read_nanoaod_events"]

_JET = ("Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass")
_ELE = ("Electron_pt", "Electron_eta", "Electron_phi", "Electron_mass", "Electron_charge", "Electron_pdgId")
_MU = ("Muon_pt", "Muon_eta", "Muon_phi", "Muon_mass", "Muon_charge", "Muon_pdgId")
_MET = ("PuppiMET_pt", "PuppiMET_phi")
_ELE_SEL = ("Electron_cutBased", "Electron_pfRelIso03_all")
_MU_SEL = ("Muon_looseId", "Muon_pfRelIso04_all")


def read_nanoaod_events(
    path: str | os.PathLike[str],
    *,
    tagger: str = "PNet",
    tree: str = "Events",
    entry_stop: int | None = None,
    jet_pt: float = 20.0,
    jet_abs_eta: float = 2.5,
    lepton_pt: float = 10.0,
    lepton_abs_eta: float = 2.5,
    lepton_iso: float = 0.15,
    electron_id: int = 2,
) -> ak.Array:
    """The events of a NanoAOD file in the columns of an event file (module docstring). A file lacking a needed
    branch (the tagger's stored scores among them) raises one :class:`DataError` naming the file and the
    branch(es)."""
    from higgsflow.data.io import list_columns, read_table
    from higgsflow.tagging.formulas import NANOAOD_TAGGERS, from_stored

    if tagger not in NANOAOD_TAGGERS:
        raise SchemaError(
            f"unknown NanoAOD tagger {tagger!r}",
            field="tagger",
            expected="one of: " + ", ".join(NANOAOD_TAGGERS),
        )
    branches = NANOAOD_TAGGERS[tagger]
    available = set(list_columns(path, tree=tree))
    need = [*_JET, *branches.values(), *_ELE, *_MU, *_MET, *_ELE_SEL, *_MU_SEL, "event"]
    missing = [b for b in need if b not in available]
    if missing:
        tag = [b for b in missing if b in branches.values()]
        raise SchemaError(
            "NanoAOD branch missing" + (f" (the stored {tagger} tagger scores)" if tag else ""),
            file=path,
            field=", ".join(missing),
            expected=f"a NanoAOD file with jets, leptons, PuppiMET and the {tagger} discriminants",
        )
    optional = [b for b in ("Jet_hadronFlavour", "genWeight") if b in available]
    t = read_table(path, [*need, *optional], tree=tree, entry_stop=entry_stop)
    stored = {key: t[b] for key, b in branches.items()}
    for key, b in branches.items():
        if np.isnan(ak.to_numpy(ak.flatten(stored[key]))).any():
            raise DataError("NaN stored score", file=path, field=b, expected="a score or -1")
    disc = from_stored(stored)
    jet_ok = (t["Jet_pt"] > jet_pt) & (abs(t["Jet_eta"]) < jet_abs_eta)
    out: dict[str, Any] = {
        "event_id": ak.values_astype(t["event"], np.int64),
        "weight": (
            ak.values_astype(t["genWeight"], np.float64) if "genWeight" in t.fields else np.ones(len(t))
        ),
    }
    for name in LABELS:
        out[name] = np.zeros(len(t), dtype=np.int32)
    for b in _JET:
        out["jet_" + b.split("_", 1)[1]] = ak.values_astype(t[b][jet_ok], np.float32)
    flav = (
        t["Jet_hadronFlavour"]
        if "Jet_hadronFlavour" in t.fields
        else ak.zeros_like(t["Jet_pt"], dtype=np.int32)
    )
    out["jet_hadronFlavour"] = ak.values_astype(flav[jet_ok], np.int32)
    out["jet_index"] = ak.values_astype(ak.local_index(t["Jet_pt"])[jet_ok], np.int32)
    for key, column in (
        ("BvsAll", "jet_btagB"),
        ("CvsL", "jet_btagCvL"),
        ("CvsB", "jet_btagCvB"),
        ("QvsG", "jet_btagQvG"),
    ):
        if key in disc:
            out[column] = ak.values_astype(disc[key][jet_ok], np.float32)
    ele_ok = (
        (t["Electron_pt"] > lepton_pt)
        & (abs(t["Electron_eta"]) < lepton_abs_eta)
        & (t["Electron_cutBased"] >= electron_id)
        & (t["Electron_pfRelIso03_all"] < lepton_iso)
    )
    mu_ok = (
        (t["Muon_pt"] > lepton_pt)
        & (abs(t["Muon_eta"]) < lepton_abs_eta)
        & t["Muon_looseId"]
        & (t["Muon_pfRelIso04_all"] < lepton_iso)
    )
    lep = {}
    for field in ("pt", "eta", "phi", "mass", "charge", "pdgId"):
        merged = ak.concatenate([t[f"Electron_{field}"][ele_ok], t[f"Muon_{field}"][mu_ok]], axis=1)
        lep[field] = merged
    order = ak.argsort(lep["pt"], axis=1, ascending=False)
    for field, dtype in (("pt", np.float32), ("eta", np.float32), ("phi", np.float32), ("mass", np.float32),
                         ("charge", np.int32), ("pdgId", np.int32)):  # fmt: skip
        out["lep_" + field] = ak.values_astype(lep[field][order], dtype)
    out["met_pt"] = ak.values_astype(t["PuppiMET_pt"], np.float32)
    out["met_phi"] = ak.values_astype(t["PuppiMET_phi"], np.float32)
    return ak.Array({k: v if isinstance(v, ak.Array) else ak.Array(v) for k, v in out.items()})
