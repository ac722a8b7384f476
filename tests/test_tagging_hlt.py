"""HLT trigger emulation (tagging.hlt), AK8 GloParT discriminants (tagging.ak8) and ``higgsflow tag hlt``."""

from __future__ import annotations

import json

import awkward as ak
import numpy as np
import pytest

from higgsflow.cli import main
from higgsflow.errors import ConfigError, SchemaError
from higgsflow.tagging import hlt
from higgsflow.tagging.hlt import (
    NANOAOD_PATHS,
    TALK_PATHS,
    agreement,
    btag_value,
    emulate,
    emulate_nanoaod,
    load_paths,
    rate_hz,
    threshold_for_rate,
)


def _ev(pt, eta=None, pnet=None, deepjet=None):
    n = len(pt)
    eta = [0.0] * n if eta is None else eta
    pnet = [0.0] * n if pnet is None else pnet
    deepjet = [0.0] * n if deepjet is None else deepjet
    return [
        {"pt": float(a), "eta": float(b), "btagPNetB": float(c), "btagDeepFlavB": float(d)}
        for a, b, c, d in zip(pt, eta, pnet, deepjet, strict=True)
    ]


#: hand-made events and the decisions of (HH2022, HH2023, legacy) worked out by hand
HAND = [
    # mean of the top-2 PNet (0.9, 0.5) = 0.70 > 0.65, 4 jets above 70/50/40/35; HT 225 < 280 and < 330
    (_ev([80, 60, 45, 40], pnet=[0.9, 0.5, 0.3, 0.1]), (True, False, False)),
    # 4th jet 34 GeV < 35 GeV
    (_ev([80, 60, 45, 34], pnet=[0.9, 0.9, 0.9, 0.9]), (False, False, False)),
    # second jet at |η| = 2.6 does not count: only 3 jets
    (_ev([80, 60, 45, 40], eta=[0, 2.6, 0, 0], pnet=[0.9, 0.9, 0.9, 0.9]), (False, False, False)),
    # mean (0.75 + 0.5)/2 = 0.625 < 0.65
    (_ev([80, 60, 45, 40], pnet=[0.75, 0.5, 0.0, 0.0]), (False, False, False)),
    # the 0.99 jet has 20 GeV: not considered, top-2 = (0.8, 0.1) → 0.45
    (_ev([80, 60, 45, 40, 20], pnet=[0.1, 0.1, 0.1, 0.8, 0.99]), (False, False, False)),
    # HT = 321 > 280, 5 jets > 30 GeV; 2023: top-2 over pT > 30 = (0.7, 0.5) → 0.6 > 0.55;
    # 2022: jets > 35 GeV only → (0.5, 0.2) → 0.35
    (_ev([100, 90, 60, 40, 31], pnet=[0.2, 0.1, 0.1, 0.5, 0.7]), (False, True, False)),
    # HT counts |η| < 2.5 only: 275 < 280; 2022: 4th jet 35 is not > 35
    (_ev([100, 100, 40, 35, 50], eta=[0, 0, 0, 0, 2.7], pnet=[0.9] * 5), (False, False, False)),
    # no jets at all
    ([], (False, False, False)),
    # legacy: HT 340 > 330, 120/90/70/60 > 75/60/45/40, DeepJet 0.9, 0.5, 0.4 > 0.3086: 3 tags
    (_ev([120, 90, 70, 60], pnet=[0.1] * 4, deepjet=[0.9, 0.5, 0.4, 0.1]), (False, False, True)),
    # only 2 DeepJet tags (0.30 < 0.3086)
    (_ev([120, 90, 70, 60], pnet=[0.1] * 4, deepjet=[0.9, 0.5, 0.30, 0.1]), (False, False, False)),
    # everything passes the PNet paths: HT 360, mean (0.9 + 0.8)/2 = 0.85
    (_ev([150, 100, 60, 50], pnet=[0.9, 0.8, 0.1, 0.1]), (True, True, False)),
]


def _hand_jets():
    return ak.Array([e for e, _ in HAND])


def test_talk_paths_match_the_talk():
    p22, p23, leg = TALK_PATHS["HH2022"], TALK_PATHS["HH2023"], TALK_PATHS["legacy"]
    assert p22.jet_pt == (70, 50, 40, 35) and p22.ht is None and p22.btag.threshold == 0.65
    assert p23.jet_pt == (30,) * 4 and p23.ht == 280 and p23.btag.threshold == 0.55
    assert p22.btag.aggregate == p23.btag.aggregate == "mean" and p22.btag.n == p23.btag.n == 2
    assert leg.ht == 330 and leg.jet_pt == (75, 60, 45, 40)
    assert leg.btag.aggregate == "count" and leg.btag.n == 3 and leg.btag.score == "btagDeepFlavB"


@pytest.mark.parametrize("k,name", list(enumerate(["HH2022", "HH2023", "legacy"])))
def test_emulation_equals_hand_computed_decisions(k, name):
    expected = np.array([want[k] for _, want in HAND])
    got = emulate(_hand_jets(), TALK_PATHS[name])
    np.testing.assert_array_equal(got, expected)


def test_btag_value_and_jet_id():
    jets = _hand_jets()
    v = btag_value(jets, TALK_PATHS["HH2022"])
    assert v[0] == pytest.approx(0.7) and v[4] == pytest.approx(0.45) and v[7] == -np.inf
    # a jet failing the ID is ignored: event 0 loses its 0.9 jet (and its leading jet) → fails
    ids = ak.Array([[i != 0 for i in range(len(e))] for e, _ in HAND])
    with_id = ak.with_field(jets, ids, "id")
    assert emulate(jets, TALK_PATHS["HH2022"])[0] and not emulate(with_id, TALK_PATHS["HH2022"])[0]


def test_threshold_for_rate_keeps_the_rate():
    # 10 events passing the kinematics of HH2023 with PNet means 0.05, 0.15, ..., 0.95
    means = np.arange(10) / 10 + 0.05
    jets = ak.Array([_ev([100, 100, 50, 50], pnet=[m, m, 0, 0]) for m in means])
    sigma_pb, lumi = 1.0e6, 2.0e34  # σL = 2e4 Hz
    assert rate_hz(1.0, sigma_pb, lumi) == pytest.approx(2.0e4)
    thr = threshold_for_rate(jets, TALK_PATHS["HH2023"], 0.3 * 2.0e4, sigma_pb, lumi)
    passed = emulate(jets, TALK_PATHS["HH2023"].with_threshold(thr))
    assert passed.sum() == 3 and thr == pytest.approx(0.65)
    # a looser rate → a lower threshold, never more events than allowed
    thr2 = threshold_for_rate(jets, TALK_PATHS["HH2023"], 0.55 * 2.0e4, sigma_pb, lumi)
    assert thr2 < thr and emulate(jets, TALK_PATHS["HH2023"].with_threshold(thr2)).sum() == 5


def test_efficiency_interval():
    e = hlt.efficiency(np.array([True] * 30 + [False] * 70))
    assert e["efficiency"] == pytest.approx(0.3) and e["low"] < 0.3 < e["high"] and e["n"] == 100


def test_agreement_table():
    a = agreement(np.array([1, 1, 0, 0, 1], bool), np.array([1, 0, 1, 0, 1], bool))
    assert (a["both"], a["only_emulation"], a["only_hlt"], a["neither"]) == (2, 1, 1, 1)
    assert a["agreement"] == pytest.approx(0.6)


def test_yaml_config(tmp_path):
    cfg = tmp_path / "paths.yaml"
    cfg.write_text(
        "paths:\n  tight2023:\n    ht: 280\n    jet_pt: [30, 30, 30, 30]\n"
        "    btag: {score: btagPNetB, aggregate: mean, n: 2, threshold: 0.8}\n",
        encoding="utf-8",
    )
    p = load_paths(cfg)["tight2023"]
    assert p.btag.threshold == 0.8
    got = emulate(_hand_jets(), p)
    np.testing.assert_array_equal(np.flatnonzero(got), [10])  # only the 0.85 event


@pytest.mark.parametrize(
    "spec,field",
    [
        ({"object": "muon", "jet_pt": [30]}, "paths.p.object"),
        ({"jet_pt": [30, -5]}, "paths.p.jet_pt[1]"),
        ({"jet_pt": [30], "ht": -1}, "paths.p.ht"),
        (
            {"jet_pt": [30, 30], "btag": {"score": "btagPNetB", "aggregate": "mean", "threshold": -0.1}},
            "threshold",
        ),
        (
            {"jet_pt": [30], "btag": {"score": "b", "aggregate": "max", "threshold": 0.5}},
            "paths.p.btag.aggregate",
        ),
        ({"jet_pt": [30], "htt": 3}, "paths.p.htt"),
        ({"jet_pt": []}, "paths.p.jet_pt"),
    ],
)
def test_bad_config_names_the_field(spec, field):
    with pytest.raises(ConfigError) as err:
        load_paths({"paths": {"p": spec}})
    assert field in str(err.value) and "\n" not in str(err.value)


def test_missing_jet_field():
    jets = ak.Array([[{"pt": 50.0, "eta": 0.0}]])
    with pytest.raises(SchemaError, match="btagPNetB"):
        emulate(jets, TALK_PATHS["HH2023"])


# ------------------------------------------------------------------------------------------- real NanoAOD
def test_real_event_emulation_agrees_with_stored_bits(real_data_dir, capsys):
    report = emulate_nanoaod(real_data_dir / "nano_tt_v15.root")
    print(report.format())
    assert report.n_events == 200
    rows = report.rows
    assert set(rows) == set(NANOAOD_PATHS)
    main23 = rows["HLT_PFHT280_QuadPFJet30_PNet2BTagMean0p55"]["agreement"]
    assert main23["n"] == 200 and main23["both"] > 20
    # offline vs online jets and scores: most but not all decisions agree (82.5% when written)
    for r in rows.values():
        assert r["agreement"]["agreement"] > 0.7
    # the b tag removes events: the PNet path fires in a subset of the events of its kinematic parent, online too
    parent = rows["HLT_PFHT280_QuadPFJet30"]
    assert (
        main23["both"] + main23["only_hlt"] <= parent["agreement"]["both"] + parent["agreement"]["only_hlt"]
    )
    out = capsys.readouterr().out
    assert "HLT_PFHT280_QuadPFJet30_PNet2BTagMean0p55" in out and "agree" in out


def test_cli_hlt_on_real_file(real_data_dir, tmp_path, capsys):
    out = tmp_path / "table.json"
    assert main(["tag", "hlt", str(real_data_dir / "nano_tt_v15.root"), "--out", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert payload["n_events"] == 200 and "HH2023" in payload["paths"]
    assert payload["paths"]["HLT_PFHT280_QuadPFJet30_PNet2BTagMean0p55"]["agreement"]["n"] == 200
    assert "only" in capsys.readouterr().out


def test_cli_missing_score_branch(real_data_dir, tmp_path, capsys):
    cfg = tmp_path / "p.yaml"
    cfg.write_text(
        "paths:\n  x:\n    jet_pt: [30, 30]\n    btag: {score: btagNoSuch, aggregate: mean, threshold: 0.5}\n",
        encoding="utf-8",
    )
    assert main(["tag", "hlt", str(real_data_dir / "nano_tt_v15.root"), "--paths", str(cfg)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "Jet_btagNoSuch" in err[0]


def _events_file(tmp_path):
    from higgsflow.data.io import write_table

    jets = _hand_jets()
    cols = {
        "Jet_pt": jets.pt,
        "Jet_eta": jets.eta,
        "Jet_btagPNetB": jets.btagPNetB,
        "Jet_btagDeepFlavB": jets.btagDeepFlavB,
    }
    return write_table(tmp_path / "events.root", cols, tree="Events")


def test_cli_on_events_file_and_errors(tmp_path, capsys):
    f = _events_file(tmp_path)
    out = tmp_path / "t.json"
    assert main(["tag", "hlt", str(f), "--out", str(out)]) == 0
    eff = json.loads(out.read_text())["paths"]
    assert eff["HH2022"]["efficiency"]["efficiency"] == pytest.approx(2 / 11)
    assert eff["legacy"]["efficiency"]["efficiency"] == pytest.approx(1 / 11)
    capsys.readouterr()
    bad = tmp_path / "bad.yaml"
    bad.write_text("paths:\n  x:\n    object: photon\n    jet_pt: [30]\n", encoding="utf-8")
    assert main(["tag", "hlt", str(f), "--paths", str(bad)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "paths.x.object" in err[0] and "photon" in err[0]
    bad.write_text("paths:\n  x:\n    jet_pt: [30, -40]\n", encoding="utf-8")
    assert main(["tag", "hlt", str(f), "--paths", str(bad)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "paths.x.jet_pt[1]" in err[0] and "negative" in err[0]
    # the output cannot be written (its parent is a file): refused before reading
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["tag", "hlt", str(f), "--out", str(afile / "t.json")]) == 1
    assert capsys.readouterr().err.startswith("error:")
    assert main(["tag", "hlt", str(tmp_path / "none.root")]) == 1


# --------------------------------------------------------------------------------------------------- AK8
def test_ak8_discriminants_definitions():
    from higgsflow.tagging.ak8 import AK8_DISCRIMINANTS, ak8_discriminants

    s = {c: np.array([0.0, 0.1]) for c in ("Xbb", "Xcc", "Xcs", "Xqq", "TopbWqq", "TopbWq", "QCD")}
    s["Xbb"] = np.array([0.0, 0.3])
    s["QCD"] = np.array([0.0, 0.1])
    d = ak8_discriminants(s)
    assert d["XbbVsQCD"][1] == pytest.approx(0.75) and d["XbbVsQCD"][0] == -1  # 0.3 / 0.4; not computed
    assert d["WVsQCD"][1] == pytest.approx(0.2 / 0.3) and d["TopVsQCD"][1] == pytest.approx(0.2 / 0.3)
    assert AK8_DISCRIMINANTS["TopVsQCD"] == ("TopbWqq", "TopbWq")
    with pytest.raises(SchemaError, match="Xcs"):
        ak8_discriminants({k: v for k, v in s.items() if k != "Xcs"})


def test_ak8_on_real_glopart_scores(real_data_dir):
    from higgsflow.tagging.ak8 import ak8_discriminants, read_glopart_scores

    s = read_glopart_scores(real_data_dir / "nano_tt_v15.root")
    d = ak8_discriminants(s)
    assert s["pt"].size == 64
    ok = d["WVsQCD"] >= 0
    assert ok.sum() == 63  # one FatJet has no GloParT scores (all 0 → -1, like the stored WvsQCD)
    # our WVsQCD = (Xcs + Xqq)/(Xcs + Xqq + QCD) reproduces CMS's stored one to its precision
    np.testing.assert_allclose(d["WVsQCD"][ok], s["WvsQCD_stored"][ok], atol=1e-3)
    for v in d.values():
        assert np.all((v[ok] >= 0) & (v[ok] <= 1))
    # all-hadronic tt̄: jets with a top-like soft-drop mass are top-tagged far more often than light ones
    m, top = s["msoftdrop"], d["TopVsQCD"]
    top_window = (m > 140) & (m < 200)
    light = (m < 50) & ok
    frac_top, frac_light = (top[top_window] > 0.8).mean(), (top[light] > 0.8).mean()
    assert top_window.sum() >= 3 and frac_top == 1.0 and frac_light < 0.4  # 3/3 and 10/34 when written


def test_ak8_missing_branch(tmp_path):
    from higgsflow.tagging.ak8 import read_glopart_scores

    f = _events_file(tmp_path)
    with pytest.raises(SchemaError, match="FatJet_globalParT3_Xbb"):
        read_glopart_scores(f)


def test_legacy_deepjet_cut_is_a_one_percent_mistag_working_point_on_real_cms_jets(real_data_dir):
    # docs/tagging.md: CMS's legacy triple-b path cuts DeepJet BvsAll at 0.24; on CMS's own simulated tt jets the
    # offline DeepJet keeps ~1% of light jets there (the light-mistag working point the benchmark's legacy path uses)
    import awkward as ak
    import uproot

    ev = uproot.open(real_data_dir / "nano_tt_v15.root")["Events"].arrays(
        ["Jet_pt", "Jet_eta", "Jet_hadronFlavour", "Jet_btagDeepFlavB"]
    )
    sel = (ev.Jet_pt > 30) & (abs(ev.Jet_eta) < 2.4)
    flav = ak.to_numpy(ak.flatten(ev.Jet_hadronFlavour[sel]))
    passed = ak.to_numpy(ak.flatten(ev.Jet_btagDeepFlavB[sel])) > 0.24
    assert (flav == 0).sum() == 461 and passed[flav == 0].sum() == 5  # 1.1% light mistag
    assert 0.15 < passed[flav == 4].mean() < 0.20 and 0.80 < passed[flav == 5].mean() < 0.86
