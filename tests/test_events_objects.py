"""The events package: the tt+jets truth split, tagger scores on the event's jets, the object selection and the
0L/1L/2L channels, and the NanoAOD reader agreeing with the event-file reader (docs/tthcc.md)."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from higgsflow.data.io import write_table
from higgsflow.errors import DataError, SchemaError
from higgsflow.events import (
    LABELS,
    attach_scores,
    event_features,
    read_events,
    read_nanoaod_events,
    select,
    ttbar_category,
)
from higgsflow.physics.constants import M_Z

NANO = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real" / "nano_tt_v15.root"
if not NANO.is_file():
    NANO = Path("/work/shared/data/real/nano_tt_v15.root")


# ------------------------------------------------------------------------------------------------ truth
def test_ttbar_category_hand_built_truth_records():
    # per event: (nb_extra, nc_extra, pt, eta) of its gen jets
    events = {
        "no extra hadron": ([0, 0], [0, 0], [60, 40], [0.1, -1.0], "ttlf"),
        "one b jet, one b hadron": ([1, 0], [0, 0], [60, 40], [0.1, -1.0], "ttb"),
        "one b jet with two b hadrons": ([2], [0], [60], [0.3], "tt2b"),
        "two b jets": ([1, 1], [0, 0], [60, 30], [0.3, 1.0], "tt2b"),
        "b beats c": ([1, 0], [0, 3], [60, 30], [0.3, 1.0], "ttb"),
        "one c jet": ([0, 0], [0, 1], [60, 30], [0.3, 1.0], "ttc"),
        "two c jets": ([0, 0], [1, 1], [60, 30], [0.3, 1.0], "tt2c"),
        "one c jet with two c hadrons": ([0], [2], [60], [0.3], "tt2c"),
        "b jet below 20 GeV ignored": ([1], [0], [19], [0.3], "ttlf"),
        "b jet at |eta| 2.6 ignored, c counts": ([1, 0], [0, 1], [60, 40], [2.6, 0.0], "ttc"),
        "second b jet out of acceptance": ([1, 1], [0, 0], [60, 40], [0.0, -2.45], "ttb"),
        "no gen jet": ([], [], [], [], "ttlf"),
    }
    cols = list(zip(*events.values(), strict=True))
    got = ttbar_category(*(ak.Array(list(c)) for c in cols[:4]))
    assert dict(zip(events, got, strict=True)) == {k: v[4] for k, v in events.items()}


def test_ttbar_category_refuses_mismatched_lengths():
    with pytest.raises(DataError, match="genjet_pt"):
        ttbar_category([[1, 0]], [[0, 0]], [[50.0]], [[0.0, 0.0]])


# ------------------------------------------------------------------------------------------------ helpers
def _event(eid, jets, leps=(), met=(30.0, 0.0), label="label_ttlf"):
    """One hand-made event: jets (pt, eta, phi, BvsAll, CvsL, CvsB), leptons (pt, eta, phi, charge, pdgId)."""
    row = {
        "event_id": eid,
        "weight": 0.01,
        "jet_pt": [j[0] for j in jets],
        "jet_eta": [j[1] for j in jets],
        "jet_phi": [j[2] for j in jets],
        "jet_mass": [5.0 for _ in jets],
        "jet_hadronFlavour": [0 for _ in jets],
        "jet_index": list(range(len(jets))),
        "jet_btagB": [j[3] for j in jets],
        "jet_btagCvL": [j[4] for j in jets],
        "jet_btagCvB": [j[5] for j in jets],
        "jet_btagQvG": [0.5 for _ in jets],
        "lep_pt": [lep[0] for lep in leps],
        "lep_eta": [lep[1] for lep in leps],
        "lep_phi": [lep[2] for lep in leps],
        "lep_mass": [0.0 for _ in leps],
        "lep_charge": [lep[3] for lep in leps],
        "lep_pdgId": [lep[4] for lep in leps],
        "met_pt": met[0],
        "met_phi": met[1],
    }
    row.update({name: int(name == label) for name in LABELS})
    return row


def _jets(n, *, pt=60.0, btag=(0,), start_phi=0.0):
    """n well separated central jets (1.0 rad apart in φ), b-tagged at the positions ``btag``."""
    return [
        (pt - 2 * i, 0.3 * (-1) ** i, start_phi + 1.0 * i, 0.9 if i in btag else 0.05, 0.1, 0.2)
        for i in range(n)
    ]


def _mll_leptons(mll, flavour=(11, -11)):
    """Two back-to-back leptons (η = 0) with invariant mass ``mll`` (pT = mll/2 each)."""
    pt = mll / 2
    return [
        (pt, 0.0, 0.5, -1 if flavour[0] > 0 else 1, flavour[0]),
        (pt, 0.0, 0.5 + np.pi, 1 if flavour[1] < 0 else -1, flavour[1]),
    ]


# ------------------------------------------------------------------------------------------------ selection
def test_channels_on_hand_made_events():
    lep_far = (40.0, 1.5, 3.0 + 0.5, -1, 13)  # μ-, well away from every jet
    cases = {
        "1L, 4 jets, 1 b": (_event(1, _jets(4), [lep_far]), 1),
        "1L, lepton pT 25 < 30": (_event(2, _jets(4), [(25.0, 1.5, 3.5, -1, 13)]), -1),
        "1L, no b tag": (_event(3, _jets(4, btag=()), [lep_far]), -1),
        "1L, 3 jets": (_event(4, _jets(3), [lep_far]), -1),
        # the lepton sits on jet 1 (ΔR < 0.4): that jet is removed, 3 jets remain
        "1L, jet overlapping the lepton removed": (
            _event(5, _jets(4), [(40.0, -0.3 + 0.1, 1.0, -1, 13)]),
            -1,
        ),
        "1L, 5 jets, one overlapping the lepton": (_event(6, _jets(5), [(40.0, -0.3 + 0.1, 1.0, -1, 13)]), 1),
        "2L, e mu opposite sign": (_event(7, _jets(2), _mll_leptons(100.0, (11, -13))), 2),
        "2L, same sign": (_event(8, _jets(2), [(60.0, 1.5, 3.5, -1, 13), (30.0, -1.5, 2.8, -1, 11)]), -1),
        "2L, ee in the Z window": (_event(9, _jets(2), _mll_leptons(M_Z + 5.0)), -1),
        "2L, e mu in the Z window (different flavours pass)": (
            _event(10, _jets(2), _mll_leptons(M_Z, (11, -13))),
            2,
        ),
        "2L, m_ll < 20": (_event(11, _jets(2), _mll_leptons(18.0, (11, -13))), -1),
        "0L, 6 jets, HT > 500": (_event(12, _jets(6, pt=100.0)), 0),
        "0L, 6 jets, HT < 500": (_event(13, _jets(6, pt=60.0)), -1),
        "0L, 5 jets": (_event(14, _jets(5, pt=150.0)), -1),
        "3 leptons": (_event(15, _jets(6, pt=100.0), [lep_far, lep_far, lep_far]), -1),
        "a soft muon (8 GeV) is no lepton": (_event(16, _jets(6, pt=100.0), [(8.0, 1.5, 3.5, 1, 13)]), 0),
        "a forward jet (|eta| 2.6) is no jet": (
            _event(17, [*_jets(5, pt=150.0), (150.0, 2.6, 6.0, 0.0, 0.0, 0.0)]),
            -1,
        ),
    }
    events = ak.Array([c[0] for c in cases.values()])
    out = select(events)
    got = dict(zip(cases, np.asarray(out["channel"]).tolist(), strict=True))
    assert got == {k: v[1] for k, v in cases.items()}
    # object counts after the selection
    assert np.asarray(out["n_jets"]).tolist()[4:6] == [3, 4]
    assert np.asarray(out["n_lep"]).tolist()[15] == 0
    assert np.asarray(out["n_btag"]).tolist()[:3] == [1, 1, 0]
    assert float(out["ht"][11]) == pytest.approx(sum(100.0 - 2 * i for i in range(6)))


def test_event_features_by_hand():
    # jets: two c-like (highest CvL) at phi 0 and pi (back to back, eta 0), a b jet
    jets = [
        (50.0, 0.0, 0.0, 0.1, 0.9, 0.8),
        (50.0, 0.0, np.pi, 0.1, 0.7, 0.6),
        (80.0, 1.0, 1.5, 0.95, 0.05, 0.02),
    ]
    ev = select(ak.Array([_event(1, jets, [(40.0, -1.5, 4.5, -1, 13)])]))
    f = event_features(ev)
    # m of two massive (5 GeV) back-to-back jets of pT 50: E = sqrt(50² + 5²) each
    assert f["m_cc"][0] == pytest.approx(2 * np.sqrt(50**2 + 25), rel=1e-5)
    assert f["dr_cc"][0] == pytest.approx(np.pi, rel=1e-5)
    assert (f["cvl_1"][0], f["cvl_2"][0], f["cvb_of_cvl_1"][0]) == pytest.approx((0.9, 0.7, 0.8))
    assert (f["btag_1"][0], f["btag_2"][0]) == pytest.approx((0.95, 0.1))
    assert (f["ht"][0], f["n_jets"][0], f["n_btag"][0], f["lep1_pt"][0]) == pytest.approx((180.0, 3, 1, 40.0))


# ------------------------------------------------------------------------------------------------ scores
def _scored_jets(events, rng):
    """A companion jets file (shuffled rows) with 8-class softmax scores."""
    counts = ak.to_numpy(ak.num(events["jet_pt"]))
    n = int(counts.sum())
    raw = rng.dirichlet(np.ones(8), size=n)
    names = ["score_b", "score_bb", "score_c", "score_cc", "score_s", "score_ud", "score_g", "score_tauh"]
    cols = {k: raw[:, i] for i, k in enumerate(names)}
    cols["event_id"] = np.repeat(np.asarray(events["event_id"]), counts)
    cols["jet_index"] = ak.to_numpy(ak.flatten(events["jet_index"])).astype(np.int32)
    perm = rng.permutation(n)
    return {k: np.asarray(v)[perm] for k, v in cols.items()}, raw


def test_attach_scores_matches_by_event_and_jet(tmp_path):
    rng = np.random.default_rng(3)
    events = ak.Array([_event(10 + i, _jets(int(k))) for i, k in enumerate(rng.integers(0, 6, size=30))])
    events = events[[f for f in events.fields if not f.startswith("jet_btag")]]
    jets, raw = _scored_jets(events, rng)
    path = tmp_path / "ev_jets.parquet"
    write_table(path, jets)
    out = attach_scores(events, path)
    b = raw[:, 0] + raw[:, 1]
    c = raw[:, 2] + raw[:, 3]
    uds = raw[:, 4] + raw[:, 5]
    g = raw[:, 6]
    # the expected values in event order (the jets file rows were built in event order before the shuffle)
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(out["jet_btagB"])), b / (b + c + uds + g), rtol=1e-6)
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(out["jet_btagCvL"])), c / (c + uds + g), rtol=1e-6)
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(out["jet_btagCvB"])), c / (c + b), rtol=1e-6)
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(out["jet_btagQvG"])), uds / (uds + g), rtol=1e-6)
    assert ak.all(ak.num(out["jet_btagB"]) == ak.num(out["jet_pt"]))


def test_attach_scores_missing_and_duplicated_jets():
    rng = np.random.default_rng(4)
    events = ak.Array([_event(1, _jets(3)), _event(2, _jets(2))])
    jets, _ = _scored_jets(events, rng)
    short = {k: v[1:] for k, v in jets.items()}
    with pytest.raises(DataError, match="1 jet\\(s\\) of the events have no scored row"):
        attach_scores(events, short)
    filled = attach_scores(events, short, missing="fill")
    assert (ak.to_numpy(ak.flatten(filled["jet_btagB"])) == -1).sum() == 1
    doubled = {k: np.concatenate([v, v[:1]]) for k, v in jets.items()}
    with pytest.raises(DataError, match="scored twice"):
        attach_scores(events, doubled)


def test_read_events_names_the_missing_branch(tmp_path):
    ev = ak.Array([_event(1, _jets(2))])
    path = tmp_path / "ev.parquet"
    write_table(path, {f: ev[f] for f in ev.fields if f != "met_phi"})
    with pytest.raises(SchemaError) as err:
        read_events(path)
    assert str(path) in str(err.value) and "met_phi" in str(err.value)


def test_prepare_events_needs_the_tagger_scores_and_writes_nothing_without(tmp_path):
    from higgsflow.events import prepare_events

    ev = ak.Array([_event(1, _jets(4), [(40.0, 1.5, 3.5, -1, 13)]), _event(2, _jets(2))])
    raw = tmp_path / "ev.parquet"
    write_table(raw, {f: ev[f] for f in ev.fields if not f.startswith("jet_btag")})
    out = tmp_path / "prepared.parquet"
    with pytest.raises(SchemaError) as err:
        prepare_events(raw, out)
    assert str(raw) in str(err.value) and "jet_btagB" in str(err.value)
    assert not out.exists()
    # with the scored jets: the 1L event is kept, the other (2 jets, no lepton) is not
    jets, _ = _scored_jets(ev, np.random.default_rng(0))
    jets["score_b"] = np.where(jets["jet_index"] == 0, 0.93, 0.01)  # the leading jets are b-tagged
    rest = [k for k in jets if k.startswith("score_") and k != "score_b"]
    for k in rest:
        jets[k] = (1 - jets["score_b"]) / len(rest)
    write_table(tmp_path / "ev_jets.parquet", jets)
    assert prepare_events(raw, out, jets=tmp_path / "ev_jets.parquet") == 1
    got = read_events(out)
    assert np.asarray(got["event_id"]).tolist() == [1] and np.asarray(got["channel"]).tolist() == [1]
    # BvsAll = (b + bb) / (b + bb + c + cc + s + ud + g), tau_h left out: each other class has 0.07 / 7
    assert float(got["hl_btag_1"][0]) == pytest.approx(0.94 / (0.94 + 0.05), rel=1e-5)


def test_selection_of_no_events():
    out = select(ak.Array([_event(1, _jets(2))])[:0])
    assert len(out) == 0 and all(v.shape == (0,) for v in event_features(out).values())


# ------------------------------------------------------------------------------------------------ NanoAOD
needs_nano = pytest.mark.skipif(not NANO.is_file(), reason=f"real NanoAOD test file absent ({NANO})")


@pytest.fixture(scope="module")
def nano_selected():
    return select(read_nanoaod_events(NANO))


@needs_nano
def test_nanoaod_lacking_the_tagger_branches(tmp_path):
    import uproot

    with uproot.open(NANO) as f:
        t = f["Events"].arrays(
            [
                "event", "Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass", "Jet_btagPNetB", "Jet_btagPNetCvB",
                "Jet_btagPNetQvG", "PuppiMET_pt", "PuppiMET_phi",
                *[f"Electron_{k}" for k in ("pt", "eta", "phi", "mass", "charge", "pdgId", "cutBased", "pfRelIso03_all")],
                *[f"Muon_{k}" for k in ("pt", "eta", "phi", "mass", "charge", "pdgId", "looseId", "pfRelIso04_all")],
            ],
            entry_stop=5,
        )  # fmt: skip
    path = tmp_path / "nano_no_cvl.root"
    write_table(path, {k: t[k] for k in t.fields}, tree="Events")
    with pytest.raises(DataError) as err:
        read_nanoaod_events(path)
    msg = str(err.value)
    assert str(path) in msg and "Jet_btagPNetCvL" in msg and "Jet_btagPNetB" not in msg.split(":")[1]


@needs_nano
def test_nanoaod_and_event_file_readers_agree(tmp_path, nano_selected):
    """An event file built by hand from the NanoAOD arrays (independent code) read by read_events gives the same
    objects, channels and high-level features as read_nanoaod_events."""
    import uproot

    with uproot.open(NANO) as f:
        t = f["Events"].arrays(
            filter_name=["event", "genWeight", "Jet_*", "Electron_*", "Muon_*", "PuppiMET_*"], library="ak"
        )
    jet_ok = (t.Jet_pt > 20) & (abs(t.Jet_eta) < 2.5)
    e_ok = (t.Electron_pt > 10) & (abs(t.Electron_eta) < 2.5) & (t.Electron_cutBased >= 2)
    e_ok = e_ok & (t.Electron_pfRelIso03_all < 0.15)
    m_ok = (t.Muon_pt > 10) & (abs(t.Muon_eta) < 2.5) & t.Muon_looseId & (t.Muon_pfRelIso04_all < 0.15)
    cols = {
        "event_id": np.asarray(t.event, dtype=np.int64),
        "weight": np.asarray(t.genWeight, dtype=np.float64),
        **{name: np.zeros(len(t), np.int32) for name in LABELS},
        "jet_pt": t.Jet_pt[jet_ok],
        "jet_eta": t.Jet_eta[jet_ok],
        "jet_phi": t.Jet_phi[jet_ok],
        "jet_mass": t.Jet_mass[jet_ok],
        "jet_hadronFlavour": t.Jet_hadronFlavour[jet_ok],
        "jet_index": ak.local_index(t.Jet_pt)[jet_ok],
        "jet_btagB": t.Jet_btagPNetB[jet_ok],
        "jet_btagCvL": t.Jet_btagPNetCvL[jet_ok],
        "jet_btagCvB": t.Jet_btagPNetCvB[jet_ok],
        "jet_btagQvG": t.Jet_btagPNetQvG[jet_ok],
        "met_pt": t.PuppiMET_pt,
        "met_phi": t.PuppiMET_phi,
    }
    for k in ("pt", "eta", "phi", "mass", "charge", "pdgId"):
        both = ak.concatenate([t[f"Electron_{k}"][e_ok], t[f"Muon_{k}"][m_ok]], axis=1)
        order = ak.argsort(ak.concatenate([t.Electron_pt[e_ok], t.Muon_pt[m_ok]], axis=1), ascending=False)
        cols[f"lep_{k}"] = both[order]
    path = tmp_path / "by_hand.parquet"
    write_table(path, cols)
    a = select(read_events(path))
    b = nano_selected
    for field in ("jet_pt", "jet_eta", "jet_phi", "jet_mass", "jet_btagB", "jet_btagCvL", "jet_btagCvB",
                  "jet_btagQvG", "jet_hadronFlavour", "lep_pt", "lep_pdgId", "met_pt", "channel", "n_btag"):  # fmt: skip
        if a[field].ndim > 1:
            assert ak.to_list(ak.num(a[field])) == ak.to_list(ak.num(b[field])), field
        np.testing.assert_allclose(
            ak.to_numpy(ak.flatten(a[field], axis=None)).astype(float),
            ak.to_numpy(ak.flatten(b[field], axis=None)).astype(float),
            rtol=1e-6,
            err_msg=field,
        )
    fa, fb = event_features(a), event_features(b)
    for k in fa:
        np.testing.assert_allclose(fa[k], fb[k], rtol=1e-5, err_msg=k)
    # the file holds jets at all: the check above is not vacuous
    assert ak.sum(ak.num(b["jet_pt"])) > 1000


@needs_nano
def test_channel_counts_on_real_all_hadronic_tt(capsys, nano_selected):
    ev = nano_selected
    ch = np.asarray(ev["channel"])
    counts = {name: int((ch == k).sum()) for name, k in (("0L", 0), ("1L", 1), ("2L", 2), ("none", -1))}
    with capsys.disabled():
        print(f"\nchannel counts of {NANO.name} (200 all-hadronic tt events): {counts}")
    # all-hadronic tt: (almost) no isolated lepton, so no 1L/2L; a good part has >= 6 jets and HT > 500 GeV
    assert counts["1L"] + counts["2L"] <= 2
    assert 10 <= counts["0L"] <= 100
    n_jets = np.asarray(ev["n_jets"])
    assert np.median(n_jets) >= 4  # six quarks at LO: most events keep >= 4 jets above 25 GeV
    assert (np.asarray(ev["n_btag"])[ch == 0] >= 1).all()
