"""AK8 (boosted) discriminants from the Global Particle Transformer's class scores, as CMS analyses build them:
a ratio of summed signal-class scores to themselves plus the QCD score,

    XVsQCD = S / (S + QCD),

with the class scores stored in CMS NanoAOD v15 as ``FatJet_globalParT3_<class>``. NanoAOD stores a subset of the
37 GloParT-3 classes, already merged where several classes share a decay (``QCD`` is the sum of the QCD classes):
Xbb, Xcc, Xcs, Xqq (q = u, d), Xtauhtaue, Xtauhtaum, Xtauhtauh, XWW4q, XWW3q, XWWqqev, XWWqqmv, TopbWqq, TopbWq,
TopbWev, TopbWmv, TopbWtauhv and QCD (plus the mass regressions ``massCorrX2p``/``massCorrGeneric`` and the
mass-aware ``withMass*vsQCD``). The stored scores of a jet do not sum to one (the other classes are not stored; on
the NanoAOD v15 test file the sum ranges 0.3–1.1), so only ratios are meaningful.

Numerators (:data:`AK8_DISCRIMINANTS`; the names follow NanoAOD's ``FatJet_particleNet_*VsQCD``):

- XbbVsQCD: Xbb; XccVsQCD: Xcc; XqqVsQCD: Xqq;
- WVsQCD: Xcs + Xqq (hadronic W → cs, ud; this reproduces the stored ``FatJet_globalParT3_WvsQCD`` to 3e-4, the
  stored precision, on the test file);
- TopVsQCD: TopbWqq + TopbWq (hadronic top, fully or partly merged).

A jet whose denominator is zero (all stored scores 0: the tagger did not run) gets -1, NanoAOD's "not computed".
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import awkward as ak
import numpy as np

from higgsflow.errors import SchemaError

__all__ = ["AK8_DISCRIMINANTS", "GLOPART3_CLASSES", "ak8_discriminants", "read_glopart_scores"]

#: GloParT-3 class scores stored in NanoAOD v15 (``FatJet_globalParT3_<class>``)
GLOPART3_CLASSES = (
    "Xbb",
    "Xcc",
    "Xcs",
    "Xqq",
    "Xtauhtaue",
    "Xtauhtaum",
    "Xtauhtauh",
    "XWW4q",
    "XWW3q",
    "XWWqqev",
    "XWWqqmv",
    "TopbWqq",
    "TopbWq",
    "TopbWev",
    "TopbWmv",
    "TopbWtauhv",
    "QCD",
)
#: discriminant → the classes summed in its numerator (denominator: numerator + QCD)
AK8_DISCRIMINANTS: dict[str, tuple[str, ...]] = {
    "XbbVsQCD": ("Xbb",),
    "XccVsQCD": ("Xcc",),
    "XqqVsQCD": ("Xqq",),
    "TopVsQCD": ("TopbWqq", "TopbWq"),
    "WVsQCD": ("Xcs", "Xqq"),
}


def ak8_discriminants(scores: Mapping[str, np.ndarray], *, file=None) -> dict[str, np.ndarray]:
    """The :data:`AK8_DISCRIMINANTS` from per-jet class scores keyed by class name (flat or jagged arrays)."""
    need = sorted({c for cls in AK8_DISCRIMINANTS.values() for c in cls} | {"QCD"})
    for c in need:
        if c not in scores:
            raise SchemaError("class score missing", file=file, field=c, expected="GloParT class scores")
    qcd = scores["QCD"]
    out = {}
    for name, classes in AK8_DISCRIMINANTS.items():
        num = sum(scores[c] for c in classes)
        den = num + qcd
        out[name] = ak.where(den > 0, num / ak.where(den > 0, den, 1.0), -1.0)
        if not isinstance(den, ak.Array):
            out[name] = np.asarray(out[name], dtype=np.float64)
    return out


def read_glopart_scores(path: str | os.PathLike[str], *, tree: str = "Events") -> dict[str, np.ndarray]:
    """Flat per-FatJet arrays from NanoAOD: the stored GloParT-3 class scores (by class name), ``pt``, ``eta``,
    ``msoftdrop`` and, where stored, ``WvsQCD_stored`` (``FatJet_globalParT3_WvsQCD``). A missing branch →
    SchemaError naming it."""
    from higgsflow.data.io import list_columns, read_table

    have = set(list_columns(path, tree=tree))
    branches = {c: f"FatJet_globalParT3_{c}" for c in GLOPART3_CLASSES}
    branches |= {"pt": "FatJet_pt", "eta": "FatJet_eta", "msoftdrop": "FatJet_msoftdrop"}
    for b in branches.values():
        if b not in have:
            raise SchemaError(
                "branch missing", file=path, field=b, expected="NanoAOD v15 FatJet GloParT-3 scores"
            )
    if "FatJet_globalParT3_WvsQCD" in have:
        branches["WvsQCD_stored"] = "FatJet_globalParT3_WvsQCD"
    table = read_table(path, list(branches.values()), tree=tree)
    return {k: np.asarray(ak.to_numpy(ak.flatten(table[b])), dtype=np.float64) for k, b in branches.items()}
