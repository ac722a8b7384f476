"""Event-level objects of the ttH(cc) search: reading an event file, attaching the AK4 tagger's discriminants to its
jets, the object selection, the 0L/1L/2L channels and the high-level features of the DNN baseline.

An event file is the output of ``higgsflow generate events`` (one row per event, jagged ``jet_*``/``lep_*``
columns, ``met_pt``/``met_phi``, ``weight`` in pb, the one-hot ``label_*`` classes; docs/tthcc.md). The same
columns come from CMS NanoAOD through :func:`higgsflow.events.nano.read_nanoaod_events`.

**Tagger scores.** ``higgsflow predict RUN EVENTS_jets.parquet`` writes ``score_<class>`` per jet of the companion
jets file (``event_id``, ``jet_index`` point back to the event's jet). :func:`attach_scores` turns them into the four
discriminants NanoAOD stores (:func:`higgsflow.tagging.formulas`): ``jet_btagB`` = BvsAll,
``jet_btagCvL`` = CvsL, ``jet_btagCvB`` = CvsB, ``jet_btagQvG`` = QvsG.

**Objects** (:class:`Selection`, all cuts configurable):

- leptons: electrons p_T > 15 GeV, |η| < 2.5; muons p_T > 10 GeV, |η| < 2.4 (the event file's leptons are
  already isolated, I_rel < 0.15 in a cone 0.4);
- jets: p_T > 25 GeV, |η| < 2.5, and ΔR > 0.4 from every selected lepton; a jet is b-tagged if
  ``jet_btagB`` > ``btag_wp`` (0.245, near PNet's medium working point of 2022) and c-tagged if
  ``jet_btagCvL`` > ``ctag_cvl_wp`` (0.16) and ``jet_btagCvB`` > ``ctag_cvb_wp`` (0.3);
- H_T = scalar sum of the selected jets' p_T.

**Channels** (``channel`` 0, 1, 2; -1 for an event in none), mutually exclusive by the lepton count:

- 2L: exactly two leptons of opposite charge, the leading one with p_T > 25 GeV; m_ll > 20 GeV and, for two
  leptons of the same flavour, |m_ll − m_Z| > 15 GeV; ≥ 2 jets, ≥ 1 b tag;
- 1L: exactly one lepton, with p_T > 30 GeV; ≥ 4 jets, ≥ 1 b tag;
- 0L: no lepton; ≥ 6 jets, H_T > 500 GeV, ≥ 1 b tag.

CMS (PAS-HIG-24-018) also requires triggers, MET > 20/40 GeV in 1L/2L, tight lepton IDs and ≥ 2 b or c tags in
the channel selections; those are not modelled here (docs/tthcc.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import awkward as ak
import numpy as np

from higgsflow.errors import ConfigError, DataError, SchemaError
from higgsflow.physics.constants import M_Z

__all__ = [
    "CHANNELS",
    "CLASSES",
    "EVENT_FEATURES",
    "LABELS",
    "REQUIRED",
    "TAGGER_FIELDS",
    "Selection",
    "attach_scores",
    "event_features",
    "prepare_events",
    "read_events",
    "select",
]

#: the one-hot label columns of an event file, in order
LABELS = (
    "label_ttHcc",
    "label_ttHbb",
    "label_ttZcc",
    "label_ttZbb",
    "label_ttlf",
    "label_ttb",
    "label_tt2b",
    "label_ttc",
    "label_tt2c",
    "label_QCD",
    "label_HH4b",
)
#: the classes of the event classifier (QCD optional, for the 0L channel)
CLASSES = ("ttHcc", "ttHbb", "ttZcc", "ttZbb", "ttlf", "ttb", "tt2b", "ttc", "tt2c")
#: the channel numbers by name
CHANNELS = {"0L": 0, "1L": 1, "2L": 2}
#: discriminant of :func:`higgsflow.tagging.formulas` → the event file's jet column
TAGGER_FIELDS = {"BvsAll": "jet_btagB", "CvsL": "jet_btagCvL", "CvsB": "jet_btagCvB", "QvsG": "jet_btagQvG"}
_JET = ("jet_pt", "jet_eta", "jet_phi", "jet_mass")
_LEP = ("lep_pt", "lep_eta", "lep_phi", "lep_mass", "lep_charge", "lep_pdgId")
#: the columns every event file has
REQUIRED = ("event_id", "weight", *_JET, *_LEP, "met_pt", "met_phi")


def read_events(
    path: str | os.PathLike[str],
    columns: list[str] | None = None,
    *,
    tree: str = "events",
    entry_stop: int | None = None,
) -> ak.Array:
    """The events of an event file (all columns, or ``columns``): one :class:`SchemaError` naming the file and the
    missing branch(es) if one of :data:`REQUIRED` (or of ``columns``) is absent."""
    from higgsflow.data.io import list_columns, read_table

    available = set(list_columns(path, tree=tree))
    need = list(dict.fromkeys([*REQUIRED, *(columns or [])]))
    missing = [c for c in need if c not in available]
    if missing:
        raise SchemaError(
            "not an event file: branch missing",
            file=path,
            field=", ".join(missing),
            expected="the columns of higgsflow generate events (docs/tthcc.md)",
        )
    return read_table(path, columns, tree=tree, entry_stop=entry_stop)


# --------------------------------------------------------------------------------------------- tagger scores
def _event_jet_keys(event_id: np.ndarray, jet_index: np.ndarray, *, file: Any) -> np.ndarray:
    """One int64 key per (event, jet) pair."""
    if jet_index.size and (jet_index.min() < 0 or jet_index.max() >= 1 << 12):
        raise DataError("jet index outside [0, 4096)", file=file, field="jet_index")
    if event_id.size and np.abs(event_id).max() >= 1 << 50:
        raise DataError("event id beyond 2^50", file=file, field="event_id")
    return event_id.astype(np.int64) * (1 << 12) + jet_index.astype(np.int64)


def attach_scores(
    events: ak.Array,
    jets: str | os.PathLike[str] | ak.Array | Mapping[str, Any],
    *,
    tree: str | None = None,
    sum_to_one: bool = True,
    missing: str = "error",
    file: Any = None,
) -> ak.Array:
    """``events`` with ``jet_btagB``, ``jet_btagCvL``, ``jet_btagCvB``, ``jet_btagQvG`` from the class scores
    (``score_b``, ``score_bb``, ``score_c`` ... as ``higgsflow predict`` writes them) of the companion jets file
    ``jets`` (a path, or columns), matched by (``event_id``, ``jet_index``).

    The discriminants are :func:`higgsflow.tagging.formulas` of the scores (BvsAll, CvsL, CvsB, QvsG).
    A jet of ``events`` without a scored row raises :class:`DataError` (``missing="error"``) or gets -1, NanoAOD's
    "not computed" (``missing="fill"``); a (event, jet) pair scored twice raises :class:`DataError`.
    """
    from higgsflow.tagging.formulas import discriminants

    if missing not in ("error", "fill"):
        raise ConfigError("unknown option", field="missing", expected="error or fill")
    if isinstance(jets, (str, os.PathLike)):
        from higgsflow.data.io import list_columns, read_table

        file = jets
        cols = list_columns(jets, tree=tree or "tree")
        scores = [c for c in cols if c.startswith("score_")]
        need = [c for c in ("event_id", "jet_index") if c not in cols]
        if need or not scores:
            raise SchemaError(
                "not a scored jets file",
                file=jets,
                field=", ".join(need) or "score_*",
                expected="event_id, jet_index and score_<class> (higgsflow predict on the events' jets file)",
            )
        table = read_table(jets, ["event_id", "jet_index", *scores], tree=tree or "tree")
        cols_map = {c: table[c] for c in table.fields}
    else:
        cols_map = {c: jets[c] for c in (jets.fields if isinstance(jets, ak.Array) else jets)}
        for c in ("event_id", "jet_index"):
            if c not in cols_map:
                raise SchemaError("column missing", file=file, field=c, expected="event_id and jet_index")
    scores = {c: np.asarray(cols_map[c], dtype=np.float64) for c in cols_map if c.startswith("score_")}
    if not scores:
        raise SchemaError("no class scores", file=file, field="score_*", expected="score_<class> columns")
    disc = discriminants(scores, sum_to_one=sum_to_one, file=file)
    key = _event_jet_keys(np.asarray(cols_map["event_id"]), np.asarray(cols_map["jet_index"]), file=file)
    order = np.argsort(key, kind="stable")
    skey = key[order]
    dup = np.flatnonzero(np.diff(skey) == 0)
    if dup.size:
        k = int(skey[dup[0]])
        raise DataError(
            f"{dup.size} jet(s) scored twice (first: event {k >> 12}, jet {k & 4095})",
            file=file,
            field="event_id, jet_index",
        )
    counts = ak.to_numpy(ak.num(events["jet_pt"]))
    eid = np.repeat(np.asarray(events["event_id"], dtype=np.int64), counts)
    jidx = (
        ak.to_numpy(ak.flatten(events["jet_index"])).astype(np.int64)
        if "jet_index" in events.fields
        else ak.to_numpy(ak.flatten(ak.local_index(events["jet_pt"]))).astype(np.int64)
    )
    want = _event_jet_keys(eid, jidx, file=file)
    pos = np.clip(np.searchsorted(skey, want), 0, max(skey.size - 1, 0))
    found = skey[pos] == want if skey.size else np.zeros(want.size, bool)
    if not found.all() and missing == "error":
        first = int(np.flatnonzero(~found)[0])
        raise DataError(
            f"{int((~found).sum())} jet(s) of the events have no scored row (first: event {int(eid[first])}, "
            f"jet {int(jidx[first])})",
            file=file,
            field="event_id, jet_index",
            expected="the jets file written with the event file, scored by higgsflow predict",
        )
    out = events
    for key_name, column in TAGGER_FIELDS.items():
        if key_name not in disc:
            continue
        values = (
            np.asarray(disc[key_name], dtype=np.float64)[order][pos] if skey.size else np.zeros(want.size)
        )
        values = np.where(found, values, -1.0).astype(np.float32)
        out = ak.with_field(out, ak.unflatten(values, counts), column)
    return out


# --------------------------------------------------------------------------------------------- selection
@dataclass(frozen=True)
class Selection:
    """The object and channel cuts (GeV); see the module docstring."""

    jet_pt: float = 25.0
    jet_abs_eta: float = 2.5
    jet_lepton_dr: float = 0.4
    electron_pt: float = 15.0
    electron_abs_eta: float = 2.5
    muon_pt: float = 10.0
    muon_abs_eta: float = 2.4
    btag_wp: float = 0.245
    ctag_cvl_wp: float = 0.16
    ctag_cvb_wp: float = 0.3
    # 0L
    min_jets_0l: int = 6
    min_ht_0l: float = 500.0
    # 1L
    lepton_pt_1l: float = 30.0
    min_jets_1l: int = 4
    # 2L
    lepton_pt_2l: float = 25.0
    min_mll_2l: float = 20.0
    z_window_2l: float = 15.0
    min_jets_2l: int = 2
    # every channel
    min_btag: int = 1

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any] | None, *, file: Any = None) -> Selection:
        """A selection from a mapping of cut names (unknown names raise :class:`ConfigError`)."""
        known = {f.name: f.type for f in fields(cls)}
        bad = [k for k in (options or {}) if k not in known]
        if bad:
            raise ConfigError(
                f"unknown selection cut {bad[0]!r}", file=file, field=bad[0], expected=", ".join(known)
            )
        return cls(**dict(options or {}))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _dphi(a: Any, b: Any) -> Any:
    return (a - b + np.pi) % (2 * np.pi) - np.pi


def _require(events: ak.Array, names: tuple[str, ...], what: str) -> None:
    missing = [n for n in names if n not in events.fields]
    if missing:
        raise SchemaError(f"column missing for {what}", field=", ".join(missing))


def select(events: ak.Array, selection: Selection | None = None) -> ak.Array:
    """``events`` with the selected objects and the channel: ``jet_*`` and ``lep_*`` keep only the selected
    jets and leptons (order kept), new fields ``n_jets``, ``n_lep``, ``n_btag``, ``n_ctag``, ``ht`` and
    ``channel`` (0, 1, 2, or -1 outside every channel). Every event is kept (filter on ``channel >= 0``).

    Needs the tagger columns (:func:`attach_scores`, or NanoAOD's stored scores) for the b-tag count."""
    sel = selection or Selection()
    _require(events, (*_JET, *_LEP[:4], "lep_charge", "lep_pdgId"), "the object selection")
    _require(events, ("jet_btagB", "jet_btagCvL", "jet_btagCvB"), "the b-tag count (attach_scores first)")
    apdg = abs(events["lep_pdgId"])
    is_e, is_mu = apdg == 11, apdg == 13
    lep_ok = (
        is_e & (events["lep_pt"] > sel.electron_pt) & (abs(events["lep_eta"]) < sel.electron_abs_eta)
    ) | (is_mu & (events["lep_pt"] > sel.muon_pt) & (abs(events["lep_eta"]) < sel.muon_abs_eta))
    lep_fields = [f for f in events.fields if f.startswith("lep_")]
    out = events
    for f in lep_fields:
        out = ak.with_field(out, events[f][lep_ok], f)
    # jets: kinematics and ΔR to every selected lepton
    jet_ok = (out["jet_pt"] > sel.jet_pt) & (abs(out["jet_eta"]) < sel.jet_abs_eta)
    pairs_eta = ak.cartesian([out["jet_eta"], out["lep_eta"]], nested=True)
    pairs_phi = ak.cartesian([out["jet_phi"], out["lep_phi"]], nested=True)
    deta = pairs_eta["0"] - pairs_eta["1"]
    dphi = _dphi(pairs_phi["0"], pairs_phi["1"])
    dr_min = ak.fill_none(ak.min(np.hypot(deta, dphi), axis=2), np.inf)
    jet_ok = jet_ok & (dr_min > sel.jet_lepton_dr)
    for f in [f for f in events.fields if f.startswith("jet_")]:
        out = ak.with_field(out, out[f][jet_ok], f)
    n_jets = ak.to_numpy(ak.num(out["jet_pt"]))
    n_lep = ak.to_numpy(ak.num(out["lep_pt"]))
    n_btag = ak.to_numpy(ak.sum(out["jet_btagB"] > sel.btag_wp, axis=1))
    ctag = (out["jet_btagCvL"] > sel.ctag_cvl_wp) & (out["jet_btagCvB"] > sel.ctag_cvb_wp)
    n_ctag = ak.to_numpy(ak.sum(ctag, axis=1))
    ht = ak.to_numpy(ak.sum(out["jet_pt"], axis=1)).astype(np.float64)
    # lepton kinematics for the channel cuts
    lpt = ak.to_numpy(ak.fill_none(ak.pad_none(out["lep_pt"], 2, clip=True), 0.0)).astype(np.float64)
    leta = ak.to_numpy(ak.fill_none(ak.pad_none(out["lep_eta"], 2, clip=True), 0.0)).astype(np.float64)
    lphi = ak.to_numpy(ak.fill_none(ak.pad_none(out["lep_phi"], 2, clip=True), 0.0)).astype(np.float64)
    lm = ak.to_numpy(ak.fill_none(ak.pad_none(out["lep_mass"], 2, clip=True), 0.0)).astype(np.float64)
    lq = ak.to_numpy(ak.fill_none(ak.pad_none(out["lep_charge"], 2, clip=True), 0)).astype(np.int64)
    lid = ak.to_numpy(ak.fill_none(ak.pad_none(abs(out["lep_pdgId"]), 2, clip=True), 0)).astype(np.int64)
    mll = _mass2(lpt, leta, lphi, lm)
    lead = lpt.max(axis=1) if lpt.size else np.zeros(0)
    btag_ok = n_btag >= sel.min_btag
    ch2 = (
        (n_lep == 2)
        & (lq[:, 0] * lq[:, 1] < 0)
        & (lead > sel.lepton_pt_2l)
        & (mll > sel.min_mll_2l)
        & ~((lid[:, 0] == lid[:, 1]) & (np.abs(mll - M_Z) < sel.z_window_2l))
        & (n_jets >= sel.min_jets_2l)
        & btag_ok
    )
    ch1 = (n_lep == 1) & (lpt[:, 0] > sel.lepton_pt_1l) & (n_jets >= sel.min_jets_1l) & btag_ok
    ch0 = (n_lep == 0) & (n_jets >= sel.min_jets_0l) & (ht > sel.min_ht_0l) & btag_ok
    channel = np.full(len(n_jets), -1, dtype=np.int32)
    channel[ch0] = 0
    channel[ch1] = 1
    channel[ch2] = 2
    for name, values in (
        ("n_jets", n_jets.astype(np.int32)),
        ("n_lep", n_lep.astype(np.int32)),
        ("n_btag", n_btag.astype(np.int32)),
        ("n_ctag", n_ctag.astype(np.int32)),
        ("ht", ht.astype(np.float32)),
        ("channel", channel),
    ):
        out = ak.with_field(out, values, name)
    return out


def _p4(pt: Any, eta: Any, phi: Any, mass: Any) -> tuple[Any, Any, Any, Any]:
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return px, py, pz, np.sqrt(px**2 + py**2 + pz**2 + mass**2)


def _mass2(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """Invariant mass (GeV) of the first two columns of (N, 2) arrays (0 where a slot is empty)."""
    if pt.shape[0] == 0:
        return np.zeros(0)
    px, py, pz, e = _p4(pt, eta, phi, mass)
    m2 = e.sum(1) ** 2 - px.sum(1) ** 2 - py.sum(1) ** 2 - pz.sum(1) ** 2
    return np.sqrt(np.maximum(m2, 0.0))


#: the high-level features of :func:`event_features`, in order
EVENT_FEATURES = (
    "ht",
    "n_jets",
    "n_btag",
    "n_ctag",
    "n_lep",
    "met_pt",
    "btag_1",
    "btag_2",
    "cvl_1",
    "cvl_2",
    "cvb_of_cvl_1",
    "m_cc",
    "dr_cc",
    "m_bb",
    "dr_bb",
    "lep1_pt",
)


def _two_best(events: ak.Array, by: str) -> tuple[ak.Array, ak.Array]:
    """Indices of the jets with the highest and second-highest ``by`` (None where the event has fewer)."""
    order = ak.argsort(events[by], axis=1, ascending=False)
    padded = ak.pad_none(order, 2, clip=True)
    return padded[:, 0], padded[:, 1]


def _pair(events: ak.Array, i: ak.Array, j: ak.Array) -> tuple[np.ndarray, np.ndarray]:
    """Invariant mass (GeV) and ΔR of jets ``i``, ``j`` per event (0 where missing)."""

    def take(name: str, idx: ak.Array) -> np.ndarray:
        vals = ak.firsts(events[name][ak.singletons(idx)])
        return ak.to_numpy(ak.fill_none(vals, 0.0)).astype(np.float64)

    pt = np.stack([take("jet_pt", i), take("jet_pt", j)], 1)
    eta = np.stack([take("jet_eta", i), take("jet_eta", j)], 1)
    phi = np.stack([take("jet_phi", i), take("jet_phi", j)], 1)
    m = np.stack([take("jet_mass", i), take("jet_mass", j)], 1)
    both = (pt > 0).all(axis=1)
    mass = np.where(both, _mass2(pt, eta, phi, m), 0.0)
    dr = np.where(both, np.hypot(eta[:, 0] - eta[:, 1], _dphi(phi[:, 0], phi[:, 1])), 0.0)
    return mass, dr


def event_features(events: ak.Array) -> dict[str, np.ndarray]:
    """The high-level features of the DNN baseline (float32 per event, :data:`EVENT_FEATURES`) of selected
    events (:func:`select`): H_T, the jet, lepton, b-tag and c-tag counts, MET; the two highest BvsAll and CvsL
    of the jets and the CvsB of the jet with the highest CvsL; m_jj and ΔR of the two jets with the highest CvsL
    (``m_cc``, ``dr_cc``) and of the two with the highest BvsAll (``m_bb``, ``dr_bb``); the leading lepton's
    p_T. A missing jet or lepton gives 0 (a missing score -1)."""
    _require(events, ("n_jets", "n_btag", "n_ctag", "n_lep", "ht"), "the high-level features (select first)")

    def rank(name: str, k: int) -> np.ndarray:
        s = ak.sort(events[name], axis=1, ascending=False)
        return ak.to_numpy(ak.fill_none(ak.pad_none(s, k + 1, clip=True)[:, k], -1.0)).astype(np.float64)

    c1, c2 = _two_best(events, "jet_btagCvL")
    b1, b2 = _two_best(events, "jet_btagB")
    m_cc, dr_cc = _pair(events, c1, c2)
    m_bb, dr_bb = _pair(events, b1, b2)
    cvb = ak.to_numpy(ak.fill_none(ak.firsts(events["jet_btagCvB"][ak.singletons(c1)]), -1.0))
    lead = ak.to_numpy(ak.fill_none(ak.max(events["lep_pt"], axis=1), 0.0))
    out = {
        "ht": np.asarray(events["ht"]),
        "n_jets": np.asarray(events["n_jets"]),
        "n_btag": np.asarray(events["n_btag"]),
        "n_ctag": np.asarray(events["n_ctag"]),
        "n_lep": np.asarray(events["n_lep"]),
        "met_pt": np.asarray(events["met_pt"]),
        "btag_1": rank("jet_btagB", 0),
        "btag_2": rank("jet_btagB", 1),
        "cvl_1": rank("jet_btagCvL", 0),
        "cvl_2": rank("jet_btagCvL", 1),
        "cvb_of_cvl_1": cvb,
        "m_cc": m_cc,
        "dr_cc": dr_cc,
        "m_bb": m_bb,
        "dr_bb": dr_bb,
        "lep1_pt": lead,
    }
    return {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}


def prepare_events(
    events_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    jets: str | os.PathLike[str] | None = None,
    selection: Selection | None = None,
    channels: tuple[int, ...] = (0, 1, 2),
    tree: str = "events",
    overwrite: bool = False,
) -> int:
    """Write the selected events of ``events_path`` in ``channels`` to ``out``: the event file's columns with
    the selected objects, the tagger discriminants from the scored jets file ``jets`` (unless the event file has
    them already), the :func:`select` fields and the high-level features as ``hl_<name>``
    (:data:`EVENT_FEATURES`). This is the file the event classifier and the DNN baseline train on
    (examples/tthcc/). Returns the number of events written."""
    from higgsflow.data.io import read_metadata, write_table
    from higgsflow.outputs import check_output

    check_output(out, overwrite=overwrite)
    events = read_events(events_path, tree=tree)
    if jets is not None:
        events = attach_scores(events, jets)
    missing = [c for c in TAGGER_FIELDS.values() if c not in events.fields]
    if missing:
        raise SchemaError(
            "no tagger discriminants on the jets",
            file=events_path,
            field=", ".join(missing),
            expected="jets=<the scored jets file> (higgsflow predict on the events' jets file)",
        )
    events = select(events, selection)
    events = events[np.isin(np.asarray(events["channel"]), np.asarray(channels))]
    feats = event_features(events)
    cols = {f: events[f] for f in events.fields}
    cols.update({f"hl_{k}": v for k, v in feats.items()})
    try:
        meta = read_metadata(events_path)
    except Exception:
        meta = {}
    meta = {**meta, "selection": (selection or Selection()).as_dict(), "channels": list(channels)}
    write_table(out, cols, metadata=meta, tree="events", overwrite=overwrite)
    return len(events)
