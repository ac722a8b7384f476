"""The shape systematics of the ttH(cc) fit (higgsflow.events.systematics): the jet energy scale (every jet's p_T
× (1 ± δ), MET recomputed from the jets' change, the selection redone so that events migrate), the per-flavour
tagger-score variations (only jets of one flavour move, each score vector stays normalised), and both as
histosys modifiers of the pyhf workspace with an Asimov fit still recovering μ = 1."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from higgsflow.errors import ConfigError
from higgsflow.events import select
from higgsflow.events.systematics import (
    JES_UNCERTAINTY,
    TAGGER_SHIFTS,
    VARIATIONS,
    parse_variation,
    shift_tagger,
    vary,
)


def _event(jet_pts, *, lep_pt=40.0, met=(50.0, 0.3), eid=0, label="label_ttlf"):
    """One hand-made 1L event: jets spread in φ at |η| < 2, b-tagged leading jet, one muon far from the jets."""
    from higgsflow.events.objects import LABELS

    n = len(jet_pts)
    row = {
        "event_id": eid,
        "weight": 0.01,
        "jet_pt": list(jet_pts),
        "jet_eta": [0.3 * k - 1.0 for k in range(n)],
        "jet_phi": [-2.5 + 1.1 * k for k in range(n)],
        "jet_mass": [5.0 + k for k in range(n)],
        "jet_hadronFlavour": [5] + [0] * (n - 1),
        "jet_index": list(range(n)),
        "jet_btagB": [0.9] + [0.02] * (n - 1),
        "jet_btagCvL": [0.2] + [0.05] * (n - 1),
        "jet_btagCvB": [0.1] + [0.5] * (n - 1),
        "jet_btagQvG": [0.5] * n,
        "lep_pt": [lep_pt],
        "lep_eta": [2.3],
        "lep_phi": [3.0],
        "lep_mass": [0.105],
        "lep_charge": [1],
        "lep_pdgId": [-13],
        "met_pt": met[0],
        "met_phi": met[1],
    }
    row.update({lab: int(lab == label) for lab in LABELS})
    return row


def _events(rows):
    arr = ak.Array(rows)
    for f in ("jet_hadronFlavour", "jet_index", "lep_charge", "lep_pdgId"):
        arr = ak.with_field(arr, ak.values_astype(arr[f], np.int32), f)
    for f in ("jet_pt", "jet_eta", "jet_phi", "jet_mass", "jet_btagB", "jet_btagCvL", "jet_btagCvB"):
        arr = ak.with_field(arr, ak.values_astype(arr[f], np.float32), f)
    return arr


def test_jes_up_scales_every_selected_jet_by_one_plus_delta_and_met_takes_the_jets_change():
    ev = _events(
        [_event([120.0, 80.0, 45.0, 33.0, 22.0]), _event([60.0, 50.0, 40.0, 30.0, 28.0], met=(20, -2))]
    )
    up = vary(ev, "jes", "up")
    nom_sel, up_sel = select(ev), select(up)
    # every jet selected in both: p_T (and mass) × exactly 1 + δ, η and φ untouched
    for k in range(len(ev)):
        idx_nom = ak.to_list(nom_sel["jet_index"][k])
        idx_up = ak.to_list(up_sel["jet_index"][k])
        common = [i for i in idx_nom if i in idx_up]
        assert len(common) >= 4
        pt_nom = dict(zip(idx_nom, ak.to_list(nom_sel["jet_pt"][k]), strict=True))
        pt_up = dict(zip(idx_up, ak.to_list(up_sel["jet_pt"][k]), strict=True))
        for i in common:
            assert pt_up[i] == pytest.approx(pt_nom[i] * (1 + JES_UNCERTAINTY), rel=1e-6)
    np.testing.assert_allclose(
        ak.to_numpy(ak.flatten(up["jet_mass"])), ak.to_numpy(ak.flatten(ev["jet_mass"])) * 1.02, rtol=1e-6
    )
    np.testing.assert_array_equal(
        ak.to_numpy(ak.flatten(up["jet_phi"])), ak.to_numpy(ak.flatten(ev["jet_phi"]))
    )
    # MET: the old vector minus the vector sum of every jet's change
    for k in range(len(ev)):
        pt = np.asarray(ev["jet_pt"][k], dtype=np.float64)
        phi = np.asarray(ev["jet_phi"][k], dtype=np.float64)
        dx, dy = (0.02 * pt * np.cos(phi)).sum(), (0.02 * pt * np.sin(phi)).sum()
        mx = float(ev["met_pt"][k]) * np.cos(float(ev["met_phi"][k])) - dx
        my = float(ev["met_pt"][k]) * np.sin(float(ev["met_phi"][k])) - dy
        assert float(up["met_pt"][k]) == pytest.approx(np.hypot(mx, my), rel=1e-5)
        assert float(up["met_phi"][k]) == pytest.approx(np.arctan2(my, mx), abs=1e-5)
    # down: the opposite, and H_T follows
    down = select(vary(ev, "jes", "down"))
    assert float(down["ht"][0]) == pytest.approx(float(nom_sel["ht"][0]) * 0.98, rel=1e-5)


def test_an_event_whose_fourth_jet_crosses_the_threshold_migrates(tmp_path):
    from higgsflow.data.io import write_table
    from higgsflow.events.chain import prepare_files

    rows = [
        _event([90.0, 70.0, 50.0, 24.8], eid=1),  # 4th jet below 25 GeV: 3 jets, not 1L; JES up → 25.3: 1L
        _event([90.0, 70.0, 50.0, 25.3], eid=2),  # 4th jet above: 1L; JES down → 24.8: out
        _event([90.0, 70.0, 50.0, 40.0], eid=3),  # in every variation
    ]
    ev = _events(rows)
    assert list(select(ev)["channel"]) == [-1, 1, 1]
    assert list(select(vary(ev, "jes", "up"))["channel"]) == [1, 1, 1]
    assert list(select(vary(ev, "jes", "down"))["channel"]) == [-1, -1, 1]
    # through the preparation step, as the fit's inputs are made
    path = tmp_path / "ev.parquet"
    write_table(path, {f: ev[f] for f in ev.fields}, tree="events")
    ids = {}
    for var in (None, "jes:up", "jes:down"):
        ((out, n),) = prepare_files(
            [path], tmp_path / f"p_{var}.parquet".replace(":", "_"), variation=var
        ).values()
        from higgsflow.data.io import read_metadata, read_table

        ids[var] = sorted(np.asarray(read_table(out, ["event_id"])["event_id"]).tolist())
        assert read_metadata(out).get("variation") == var
        assert n == len(ids[var])
    assert ids == {None: [2, 3], "jes:up": [1, 2, 3], "jes:down": [3]}
    with pytest.raises(ConfigError, match="variation"):
        prepare_files([path], tmp_path / "bad.parquet", variation="jes:sideways")
    with pytest.raises(ConfigError, match="unknown variation 'jec:up'"):
        parse_variation("jec:up", field="--variation")


def _three_class(ev):
    b = ak.to_numpy(ak.flatten(ev["jet_btagB"])).astype(np.float64)
    cvl = ak.to_numpy(ak.flatten(ev["jet_btagCvL"])).astype(np.float64)
    cvb = ak.to_numpy(ak.flatten(ev["jet_btagCvB"])).astype(np.float64)
    c = (1 - b) * cvl
    return b, c, 1 - b - c, cvb


def test_tagger_variations_move_only_jets_of_their_flavour_and_keep_the_scores_normalised():
    from higgsflow.events import toy_events

    ev = ak.Array(toy_events(40, seed=3))
    flav = ak.to_numpy(ak.flatten(ev["jet_hadronFlavour"]))
    b0, c0, l0, _ = _three_class(ev)
    for name, (flavour, delta) in TAGGER_SHIFTS.items():
        mine = flav == flavour
        assert mine.sum() > 20
        for direction, sign in (("up", 1), ("down", -1)):
            out = vary(ev, name, direction)
            b, c, light, cvb = _three_class(out)
            # the others untouched, bit for bit, in every discriminant (QvsG never moves)
            for col in ("jet_btagB", "jet_btagCvL", "jet_btagCvB", "jet_btagQvG"):
                new, old = (ak.to_numpy(ak.flatten(x[col])) for x in (out, ev))
                np.testing.assert_array_equal(new[~mine], old[~mine])
                if col == "jet_btagQvG":
                    np.testing.assert_array_equal(new, old)
            # (B, C, L) a probability vector; CvsB consistent with it
            vec = np.stack([b, c, light], axis=1)
            assert (vec > -1e-6).all()
            np.testing.assert_allclose(vec.sum(axis=1), 1.0, atol=1e-6)
            np.testing.assert_allclose(cvb[mine], (c / (c + b))[mine], rtol=1e-5, atol=1e-6)
            # its own class's odds against each other class × e^{±δ}
            own = {5: b, 4: c, 0: light}[flavour][mine]
            own0 = {5: b0, 4: c0, 0: l0}[flavour][mine]
            for other, other0 in ((b, b0), (c, c0), (light, l0)):
                if other is {5: b, 4: c, 0: light}[flavour]:
                    continue
                ok = (other0[mine] > 1e-3) & (own0 > 1e-3)
                ratio = (own[ok] / other[mine][ok]) / (own0[ok] / other0[mine][ok])
                np.testing.assert_allclose(ratio, np.exp(sign * delta), rtol=2e-4)
            # "up" makes the jets look more like their flavour
            moved = np.mean(own - own0)
            assert moved * sign > 0, (name, direction)
    # b up (δ = 1 here): b jets' BvsAll rises, so the b-tag count cannot fall; light up: no more mistags
    n0 = np.asarray(select(ev)["n_btag"])
    n_up = np.asarray(select(vary(ev, "tag_b", "up", sizes={"tag_b": 1.0}))["n_btag"])
    n_light = np.asarray(select(vary(ev, "tag_light", "up", sizes={"tag_light": 1.0}))["n_btag"])
    assert (n_light <= n0).all() and (n_light < n0).any()
    assert (n_up >= n0).all() and (n_up > n0).any()
    # a jet the tagger did not run on (-1) stays -1
    bad = ak.with_field(
        ev, ak.where(ak.local_index(ev["jet_btagB"]) == 0, -1.0, ev["jet_btagB"]), "jet_btagB"
    )
    first = ak.to_numpy(ak.firsts(shift_tagger(bad, 5, 0.5)["jet_btagB"]))
    assert (first == -1).all()


def _score(events):
    """A fixed stand-in for the event classifier: a softmax of a linear function of the high-level features."""
    from higgsflow.events import CLASSES, event_features

    f = event_features(events)
    x = np.stack(
        [
            f["ht"] / 400.0 - 1.0,
            f["n_jets"] / 5.0 - 1.0,
            f["n_btag"] / 2.0 - 1.0,
            f["btag_2"] * 2 - 1,
            f["cvl_1"] * 2 - 1,
            f["cvl_2"] * 2 - 1,
            f["m_cc"] / 100.0 - 1.0,
            f["m_bb"] / 100.0 - 1.0,
            f["met_pt"] / 60.0 - 1.0,
        ],
        axis=1,
    ).astype(np.float64)
    w = np.random.default_rng(11).normal(0.0, 1.5, size=(x.shape[1], len(CLASSES)))
    z = x @ w
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    cols = {f"score_{c}": p[:, i] for i, c in enumerate(CLASSES)}
    for k in ("channel", "weight", *[f"label_{c}" for c in CLASSES]):
        cols[k] = np.asarray(events[k])
    return cols


def test_both_variations_become_shape_modifiers_and_the_asimov_fit_recovers_mu_one():
    from higgsflow.events import build_fit, default_regions, toy_events
    from higgsflow.events.chain import fillable_regions
    from higgsflow.stats import StatModel, fit

    ev = ak.Array(toy_events(150, seed=5))

    def scored(e):
        s = select(e)
        return _score(s[np.asarray(s["channel"]) >= 0])

    nominal = scored(ev)
    variations = {name: tuple(scored(vary(ev, name, d)) for d in ("up", "down")) for name in VARIATIONS}
    # every variation changes the scores (or the selected events)
    for name, (up, down) in variations.items():
        for shifted in (up, down):
            same = len(shifted["weight"]) == len(nominal["weight"]) and np.allclose(
                shifted["score_ttHcc"], nominal["score_ttHcc"]
            )
            assert not same, name
    regions, _ = fillable_regions(nominal, [r for r in default_regions(0.5) if r["Name"].startswith("1L_")])
    assert len(regions) >= 4
    _, spec = build_fit(nominal, regions, variations=variations, qcd=False)
    changed: dict[str, int] = dict.fromkeys(VARIATIONS, 0)
    for ch in spec["channels"]:
        for smp in ch["samples"]:
            mods = {m["name"]: m for m in smp["modifiers"]}
            for name in VARIATIONS:
                m = mods[name]  # every sample of every region has each nuisance
                assert m["type"] == "histosys"
                hi, lo = np.asarray(m["data"]["hi_data"]), np.asarray(m["data"]["lo_data"])
                if not (np.allclose(hi, smp["data"]) and np.allclose(lo, smp["data"])):
                    changed[name] += 1
    assert all(n > 0 for n in changed.values()), changed
    sm = StatModel(spec, tolerance=1e-4)
    result = fit(sm, asimov=True)
    assert result["mu_ttHcc"][0] == pytest.approx(1.0, abs=1e-3)
    for name in VARIATIONS:
        assert result[name][0] == pytest.approx(0.0, abs=1e-3), name


def test_the_demo_summary_gives_each_nuisance_its_size_and_yield_change():
    from higgsflow.events import default_regions
    from higgsflow.train.tthcc_demo import tthcc_summary_lines, variation_yields

    rng = np.random.default_rng(4)
    n = 600
    s = rng.dirichlet(np.ones(9), size=n)
    from higgsflow.events import CLASSES

    nominal = {f"score_{c}": s[:, i] for i, c in enumerate(CLASSES)}
    nominal.update(channel=np.ones(n, int), weight=np.full(n, 0.01))
    up = {**nominal, "weight": nominal["weight"][:-60]}  # 10% of the events leave the selection
    up.update({k: v[:-60] for k, v in nominal.items() if k.startswith("score_") or k == "channel"})
    # down: the same events, but the ttHcc score moved onto ttlf: events change region, not the total
    down = {
        **nominal,
        "score_ttHcc": np.zeros(n),
        "score_ttlf": nominal["score_ttlf"] + nominal["score_ttHcc"],
    }
    regions = [r for r in default_regions(0.5) if r["Name"].startswith("1L_")]
    rows = variation_yields(nominal, {"jes": (up, down)}, regions)
    assert rows["jes"]["size"] == JES_UNCERTAINTY
    assert rows["jes"]["up"]["yield_change"] == pytest.approx(-0.1)
    assert rows["jes"]["down"]["yield_change"] == pytest.approx(0.0, abs=1e-12)
    assert rows["jes"]["down"]["region_change"] > 0.05
    fit = {
        "regions": 9, "xsec_tth_pb": 0.5071, "br_hcc": 0.02884, "mu_limit": {"expected": 10.0},
        "sigma_br_limit_pb": {"expected": 0.146}, "tthbb_significance": {"expected_z": 1.0},
        "kappa_c": {"interval95": [0.0, 4.0], "scan_max": 10.0},
        "systematics": {**rows, "tag_c": {"size": 0.2, "up": {"yield_change": 0.03}, "down": {"yield_change": -0.02}}},
    }  # fmt: skip
    text = "\n".join(tthcc_summary_lines({"fit": fit, "timings_s": {}}))
    line = next(x for x in text.splitlines() if "shape systematics" in x)
    assert "jes ±2%: -10.0%/+0.0% (10.0%/" in line and "tag_c logit ±0.2: +3.0%/-2.0%" in line


def test_the_command_line_prepares_shifted_events_and_fits_them_as_shape_systematics(tmp_path, capsys):
    import json
    from pathlib import Path

    import torch

    from higgsflow.cli import main
    from higgsflow.data.io import write_table
    from higgsflow.events import CLASSES, toy_events

    examples = Path(__file__).resolve().parents[1] / "examples" / "tthcc"
    raw = tmp_path / "raw.parquet"
    write_table(raw, toy_events(25, seed=8), tree="events")
    prep = tmp_path / "prep.parquet"
    assert main(["events", "prepare", str(raw), "-o", str(prep)]) == 0
    for var in ("jes:up", "jes:down", "tag_c:up", "tag_c:down"):
        out = tmp_path / f"prep_{var.replace(':', '_')}.parquet"
        assert main(["events", "prepare", str(raw), "-o", str(out), "--variation", var]) == 0
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run = tmp_path / "run"
        args = ["train", "-c", str(examples / "dnn.yaml"), "-n", "dnn", "--train", str(prep), "--val", str(prep),
                "-o", str(run), "--epochs", "1", "--batch-size", "64"]  # fmt: skip
        assert main(args) == 0
        assert main(["predict", str(run), str(prep), "-o", str(tmp_path / "scored")]) == 0
        capsys.readouterr()
        ws = tmp_path / "ws.json"
        args = ["events", "fit", str(tmp_path / "scored" / "prep.parquet"), "-o", str(ws), "--drop-empty",
                "--mu-max", "1000", "--classifier", str(run),
                "--variation", f"jes={tmp_path / 'prep_jes_up.parquet'},{tmp_path / 'prep_jes_down.parquet'}",
                "--variation", f"tag_c={tmp_path / 'prep_tag_c_up.parquet'},{tmp_path / 'prep_tag_c_down.parquet'}"]  # fmt: skip
        assert main(args) == 0
    finally:
        torch.set_num_threads(threads)
    assert "shape systematics jes, tag_c" in capsys.readouterr().out
    spec = json.loads(ws.read_text())
    mods = {(m["name"], m["type"]) for ch in spec["channels"] for s in ch["samples"] for m in s["modifiers"]}
    assert {("jes", "histosys"), ("tag_c", "histosys")} <= mods
    assert {s["name"] for ch in spec["channels"] for s in ch["samples"]} <= set(CLASSES)
    # one-line errors naming the option
    bad = tmp_path / "bad.parquet"
    assert main(["events", "prepare", str(raw), "-o", str(bad), "--variation", "jes:sideways"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and "--variation" in err and "jes:sideways" in err
    assert not bad.exists()
    ws2 = tmp_path / "ws2.json"
    for value, needle in (
        ("jes=only_one.parquet", "--variation"),
        (f"jes={raw},{tmp_path / 'nope.parquet'}", "nope"),
    ):
        args = [
            "events",
            "fit",
            str(tmp_path / "scored" / "prep.parquet"),
            "-o",
            str(ws2),
            "--variation",
            value,
        ]
        assert main(args) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "\n" not in err and needle in err, err
    # an unscored variation without --classifier: the file and the missing score named
    args = ["events", "fit", str(tmp_path / "scored" / "prep.parquet"), "-o", str(ws2), "--drop-empty",
            "--variation", f"jes={tmp_path / 'prep_jes_up.parquet'},{tmp_path / 'prep_jes_down.parquet'}"]  # fmt: skip
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err
    assert "prep_jes_up.parquet" in err and "--variation jes" in err and "--classifier" in err
    assert not ws2.exists()
