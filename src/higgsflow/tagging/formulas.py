"""Flavour discriminants from per-class scores, as CMS builds them (BvsAll, CvsL, CvsB, QvsG) and as the ttH(cc)
search does (p_B+C, p_BvsC, CMS-PAS-HIG-24-018).

Class groups (names are matched without a ``score_``/``prob``/``label_`` prefix, case-insensitive):

- B = b + bb + lepb (leptonic b decays where a tagger has that class),
- C = c + cc,
- UDS = uds, or ud + s, or u + d + s,
- G = g;

every other class (τh, e, μ, undefined) is left out of every discriminant, as CMSSW does, but counts when the
scores are checked to sum to one. The discriminants are

- BvsAll = B / (B + C + UDS + G)
- CvsL = C / (C + UDS + G)
- CvsB = C / (C + B)
- QvsG = UDS / (UDS + G)
- p_B+C = (B + C) / (B + C + UDS + G) (key ``pBplusC``)
- p_BvsC = B / (B + C) (key ``pBvsC``)

A discriminant whose denominator is zero is -1, the NanoAOD value of "not computed".

CMS NanoAOD stores discriminants, not the class probabilities (``PhysicsTools/NanoAOD/python/jetsAK4_Puppi_cff.py``
and the ``BTagProbabilityToDiscriminator`` configurations of ``RecoBTag/ONNXRuntime``):

- ``Jet_btagPNetB`` = BvsAll with B = b (ParticleNet-AK4 has one b class), ``Jet_btagPNetCvL`` = CvsL,
  ``Jet_btagPNetCvB`` = CvsB, ``Jet_btagPNetQvG`` = QvsG (forward jets: q / (q + g) of the forward model);
- ``Jet_btagUParTAK4B`` = BvsAll with B = b + bb + lepb, C = c, UDS = u + d + s; ``Jet_btagUParTAK4CvL``,
  ``...CvB``, ``...QvG`` likewise; ``Jet_btagUParTAK4probb/probbb`` are two raw class probabilities;
- ``Jet_btagDeepFlavB`` = b + bb + lepb (DeepJet's six classes sum to one, so this is BvsAll),
  ``Jet_btagDeepFlavCvL`` = CvsL, ``...CvB`` = CvsB, ``Jet_btagDeepFlavQG`` = G / (G + UDS) = 1 − QvsG;
- -1 (UParT's UDG also -3) marks a jet the tagger did not run on (pT < 15 GeV, |η| > 2.5 for the b/c taggers).

Since BvsAll, CvsL and CvsB share the denominators above, the ttH(cc) discriminants follow from the stored three
without the class probabilities (:func:`from_stored`): with B + C + L = 1 (L = UDS + G),
p_B+C = B + C = BvsAll + (1 − BvsAll)·CvsL and p_BvsC = 1 − CvsB. On the NanoAOD v15 test file the redundancy
CvsB = CvsL(1 − BvsAll) / (CvsL(1 − BvsAll) + BvsAll) holds to 3e-4 (the stored precision) for both PNet and UParT,
which confirms these denominators (a CMSSW configuration of the PNet discriminators lists b in the denominator of
CvsL as well; the stored values do not follow it). ``Jet_btagPNetQvG`` is taken as stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import awkward as ak
import numpy as np

from higgsflow.errors import DataError, SchemaError

__all__ = [
    "DISCRIMINANTS",
    "LABELS",
    "NANOAOD_TAGGERS",
    "check_scores",
    "class_groups",
    "discriminants",
    "from_stored",
]

#: discriminant keys (branch-safe) in output order
DISCRIMINANTS = ("BvsAll", "CvsL", "CvsB", "QvsG", "pBplusC", "pBvsC")
#: how each key is written in tables and plots
LABELS = {
    "BvsAll": "BvsAll",
    "CvsL": "CvsL",
    "CvsB": "CvsB",
    "QvsG": "QvsG",
    "pBplusC": "p_B+C",
    "pBvsC": "p_BvsC",
}

_GROUP_OF = {
    "b": "B",
    "bb": "B",
    "lepb": "B",
    "blep": "B",
    "leptonicb": "B",
    "c": "C",
    "cc": "C",
    "uds": "UDS",
    "ud": "UDS",
    "u": "UDS",
    "d": "UDS",
    "s": "UDS",
    "g": "G",
}

#: NanoAOD tagger prefix → the stored branch of each discriminant (``None``: not stored); ``QG`` is G/(G+UDS)
NANOAOD_TAGGERS: dict[str, dict[str, str]] = {
    "PNet": {
        "BvsAll": "Jet_btagPNetB",
        "CvsL": "Jet_btagPNetCvL",
        "CvsB": "Jet_btagPNetCvB",
        "QvsG": "Jet_btagPNetQvG",
    },
    "UParTAK4": {
        "BvsAll": "Jet_btagUParTAK4B",
        "CvsL": "Jet_btagUParTAK4CvL",
        "CvsB": "Jet_btagUParTAK4CvB",
        "QvsG": "Jet_btagUParTAK4QvG",
    },
    "DeepFlav": {
        "BvsAll": "Jet_btagDeepFlavB",
        "CvsL": "Jet_btagDeepFlavCvL",
        "CvsB": "Jet_btagDeepFlavCvB",
        "GvsQ": "Jet_btagDeepFlavQG",
    },
}

_PREFIX = re.compile(r"^(score_|label_|prob_?)", re.I)


def _class_name(key: str) -> str:
    return _PREFIX.sub("", key).lower()


def class_groups(names: list[str] | tuple[str, ...]) -> dict[str, list[str]]:
    """The keys of ``names`` in each group B, C, UDS, G (and ``other``); raise :class:`SchemaError` if B, C or no
    light class is missing.

    >>> class_groups(["score_b", "score_bb", "score_c", "score_ud", "score_s", "score_g", "score_tauh"])["UDS"]
    ['score_ud', 'score_s']
    """
    groups: dict[str, list[str]] = {"B": [], "C": [], "UDS": [], "G": [], "other": []}
    for key in names:
        groups[_GROUP_OF.get(_class_name(key), "other")].append(key)
    lower = [_class_name(k) for k in groups["UDS"]]
    if "uds" in lower and len(lower) > 1:
        raise SchemaError(
            "light classes counted twice",
            field=", ".join(groups["UDS"]),
            expected="either uds, or ud + s, or u + d + s",
        )
    for group, what in (("B", "a b class (b, bb, lepb)"), ("C", "a c class (c, cc)")):
        if not groups[group]:
            raise SchemaError(
                "no class of this group", field=group, expected=f"{what} among: {', '.join(names)}"
            )
    if not groups["UDS"] and not groups["G"]:
        raise SchemaError(
            "no light class", field="UDS, G", expected=f"uds/ud/s or g among: {', '.join(names)}"
        )
    return groups


def _flat(x: Any) -> np.ndarray:
    if isinstance(x, ak.Array):
        return np.asarray(ak.to_numpy(ak.flatten(x, axis=None)), dtype=np.float64)
    return np.asarray(x, dtype=np.float64).ravel()


def check_scores(
    scores: Mapping[str, Any], *, sum_to_one: bool = True, atol: float = 1e-3, file: Any = None
) -> None:
    """Raise :class:`DataError` naming the field if a score is NaN/inf or outside [0, 1], or (``sum_to_one``)
    if the scores of a jet do not add up to one within ``atol``."""
    total = None
    for key, values in scores.items():
        x = _flat(values)
        bad = np.flatnonzero(~np.isfinite(x))
        if bad.size:
            raise DataError(
                f"{bad.size} NaN/inf score(s), first at jet {int(bad[0])}",
                file=file,
                field=key,
                expected="finite class probabilities",
            )
        bad = np.flatnonzero((x < -1e-6) | (x > 1 + 1e-6))
        if bad.size:
            raise DataError(
                f"score {x[bad[0]]:.4g} outside [0, 1] at jet {int(bad[0])}",
                file=file,
                field=key,
                expected="class probabilities in [0, 1]",
            )
        if total is not None and x.size != total.size:
            raise DataError(f"{x.size} values but the first score has {total.size}", file=file, field=key)
        total = x if total is None else total + x
    if sum_to_one and total is not None and total.size:
        bad = np.flatnonzero(np.abs(total - 1.0) > atol)
        if bad.size:
            raise DataError(
                f"the class scores of {bad.size} jet(s) do not sum to one (jet {int(bad[0])}: "
                f"{total[bad[0]]:.4g})",
                file=file,
                field=", ".join(scores),
                expected="every class of the tagger (a softmax), or sum_to_one=False / --no-sum-check",
            )


def _ratio(num: Any, den: Any) -> Any:
    """num / den, -1 where den is zero (numpy or awkward, same structure as the inputs)."""
    if isinstance(num, ak.Array) or isinstance(den, ak.Array):
        return ak.where(den > 0, num / ak.where(den > 0, den, 1.0), -1.0)
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, -1.0)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _sum(scores: Mapping[str, Any], keys: list[str]) -> Any:
    if not keys:
        return 0.0
    total = scores[keys[0]]
    if not isinstance(total, ak.Array):
        total = np.asarray(total, dtype=np.float64)
    for k in keys[1:]:
        v = scores[k]
        total = total + (v if isinstance(v, ak.Array) else np.asarray(v, dtype=np.float64))
    return total


def discriminants(
    scores: Mapping[str, Any], *, sum_to_one: bool = True, atol: float = 1e-3, file: Any = None
) -> dict[str, Any]:
    """The discriminants of :data:`DISCRIMINANTS` from per-class scores (a mapping class → per-jet scores, numpy
    or awkward, flat or jagged): BvsAll = B/(B+C+UDS+G), CvsL = C/(C+UDS+G), CvsB = C/(C+B), QvsG = UDS/(UDS+G),
    p_B+C = (B+C)/(B+C+UDS+G), p_BvsC = B/(B+C), with B = b+bb+lepb, C = c+cc, UDS = uds (or ud+s), G = g.

    The scores are checked first (:func:`check_scores`): NaN or out-of-range values, and (``sum_to_one``) jets whose
    scores do not add up to one, raise :class:`DataError` naming the field. QvsG is left out when the tagger has no
    g or no light-quark class.

    >>> d = discriminants({"b": [0.5], "c": [0.2], "uds": [0.2], "g": [0.1]})
    >>> [round(float(d[k][0]), 4) for k in ("BvsAll", "CvsL", "CvsB", "QvsG", "pBplusC", "pBvsC")]
    [0.5, 0.4, 0.2857, 0.6667, 0.7, 0.7143]
    """
    groups = class_groups(list(scores))
    check_scores(scores, sum_to_one=sum_to_one, atol=atol, file=file)
    b, c = _sum(scores, groups["B"]), _sum(scores, groups["C"])
    uds, g = _sum(scores, groups["UDS"]), _sum(scores, groups["G"])
    light = uds + g
    out = {
        "BvsAll": _ratio(b, b + c + light),
        "CvsL": _ratio(c, c + light),
        "CvsB": _ratio(c, c + b),
    }
    if groups["UDS"] and groups["G"]:
        out["QvsG"] = _ratio(uds, uds + g)
    out["pBplusC"] = _ratio(b + c, b + c + light)
    out["pBvsC"] = _ratio(b, b + c)
    return out


def from_stored(stored: Mapping[str, Any]) -> dict[str, Any]:
    """The discriminants from the ones CMS NanoAOD stores: ``stored`` maps BvsAll, CvsL, CvsB and optionally QvsG
    (or ``GvsQ``, DeepJet's ``QG``) to per-jet values.

    p_B+C = BvsAll + (1 − BvsAll)·CvsL and p_BvsC = 1 − CvsB (module docstring). A jet with a negative stored value
    (the tagger did not run) gets -1 in every output.

    >>> d = from_stored({"BvsAll": [0.5, -1.0], "CvsL": [0.4, -1.0], "CvsB": [2 / 7, -1.0]})
    >>> [round(float(x), 4) for x in (d["pBplusC"][0], d["pBvsC"][0], d["pBvsC"][1])]
    [0.7, 0.7143, -1.0]
    """
    for key in ("BvsAll", "CvsL", "CvsB"):
        if key not in stored:
            raise SchemaError("stored discriminant missing", field=key, expected="BvsAll, CvsL and CvsB")
    jagged = any(isinstance(v, ak.Array) for v in stored.values())
    lib = ak if jagged else np

    def arr(key: str) -> Any:
        v = stored[key]
        return v if isinstance(v, ak.Array) else np.asarray(v, dtype=np.float64)

    bvsall, cvsl, cvsb = arr("BvsAll"), arr("CvsL"), arr("CvsB")
    for key in ("BvsAll", "CvsL", "CvsB"):
        x = _flat(stored[key])
        if np.isnan(x).any():
            raise DataError(
                f"{int(np.isnan(x).sum())} NaN value(s)", field=key, expected="a stored score or -1"
            )
    ok = (bvsall >= 0) & (cvsl >= 0) & (cvsb >= 0)
    out = {
        "BvsAll": lib.where(ok, bvsall, -1.0),
        "CvsL": lib.where(ok, cvsl, -1.0),
        "CvsB": lib.where(ok, cvsb, -1.0),
    }
    if "QvsG" in stored:
        q = arr("QvsG")
        out["QvsG"] = lib.where(q >= 0, q, -1.0)
    elif "GvsQ" in stored:
        q = arr("GvsQ")
        out["QvsG"] = lib.where(q >= 0, 1.0 - q, -1.0)
    out["pBplusC"] = lib.where(ok, bvsall + (1.0 - bvsall) * cvsl, -1.0)
    out["pBvsC"] = lib.where(ok, 1.0 - cvsb, -1.0)
    return out
