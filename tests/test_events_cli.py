"""`higgsflow events prepare` and `higgsflow events fit`: the chain's command line, its one-line errors (file and
field named, exit code 1) and that a failing command leaves no output behind; the weights of split and stitched
samples still add up to the cross sections."""

from __future__ import annotations

import json
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from higgsflow.cli import main
from higgsflow.data.io import read_metadata, read_table, write_table
from higgsflow.errors import ConfigError
from higgsflow.events import toy_events
from higgsflow.events.chain import parse_split, stitch_factors
from higgsflow.events.objects import LABELS

AK4 = ("b", "bb", "c", "cc", "s", "ud", "g", "tauh")


def _one_line_error(capsys, *names: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err, err
    for n in names:
        assert n in err, (n, err)
    return err


def _unscored(n: int, seed: int, classes=("ttHcc", "ttlf")) -> dict:
    """Toy event columns without the tagger discriminants (as the generator writes them)."""
    cols = toy_events(n, classes=classes, seed=seed)
    return {k: v for k, v in cols.items() if not k.startswith("jet_btag")}


def _scored_jets(events: dict, seed: int) -> dict:
    """A scored jets file for the events: one row per jet, shuffled, b-like scores for the leading two jets."""
    rng = np.random.default_rng(seed)
    counts = ak.to_numpy(ak.num(events["jet_pt"]))
    n = int(counts.sum())
    raw = rng.dirichlet(np.ones(len(AK4)), size=n)
    first = ak.to_numpy(ak.flatten(events["jet_index"])) < 2
    raw[first, 0] += 3.0
    raw /= raw.sum(1, keepdims=True)
    cols = {f"score_{c}": raw[:, i] for i, c in enumerate(AK4)}
    cols["event_id"] = np.repeat(np.asarray(events["event_id"]), counts)
    cols["jet_index"] = ak.to_numpy(ak.flatten(events["jet_index"])).astype(np.int32)
    perm = rng.permutation(n)
    return {k: np.asarray(v)[perm] for k, v in cols.items()}


@pytest.fixture
def generated(tmp_path):
    """Two event files with their scored jets files, as `predict` writes them into a folder."""
    (tmp_path / "scored").mkdir()
    files = []
    for name, seed, classes in (("sig", 1, ("ttHcc", "ttHbb")), ("bkg", 2, ("ttlf", "ttc"))):
        ev = _unscored(60, seed, classes)
        write_table(tmp_path / f"{name}.parquet", ev, metadata={"process": name})
        write_table(tmp_path / "scored" / f"{name}_jets.parquet", _scored_jets(ev, seed))
        files.append(tmp_path / f"{name}.parquet")
    return files


def test_prepare_split_keeps_the_cross_sections_and_fit_writes_a_workspace(generated, tmp_path, capsys):
    out = tmp_path / "prep.parquet"
    args = ["events", "prepare", *map(str, generated), "--scores", str(tmp_path / "scored"), "-o", str(out),
            "--split", "0.5,0.5"]  # fmt: skip
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "(train)" in text and "(test)" in text
    parts = {p: read_table(tmp_path / f"prep_{p}.parquet") for p in ("train", "test")}
    assert not out.exists()
    # every part, selected events only, estimates the same selected cross section per class: each part's sum
    # of weights is its share of the full sample's selected sum, scaled by N / N_part
    full = tmp_path / "full.parquet"
    assert (
        main(["events", "prepare", *map(str, generated), "-s", str(tmp_path / "scored"), "-o", str(full)])
        == 0
    )
    all_events = read_table(full)
    assert len(parts["train"]) + len(parts["test"]) == len(all_events)
    for p, t in parts.items():
        # the toy files hold 120 events each (60 per class): half of each goes to each part
        np.testing.assert_allclose(np.asarray(t["weight"]), 2 * _weights_by_id(all_events, t), rtol=1e-6)
        assert {"hl_ht", "jet_btagB", "channel"} <= set(t.fields)
        assert read_metadata(tmp_path / f"prep_{p}.parquet")["part"] == p
    # a scored copy (here: perfect scores from the labels) → the regions → the workspace
    t = read_table(full)
    scored = {f: t[f] for f in t.fields}
    labels = np.stack([np.asarray(t[f"label_{c}"]) for c in ("ttHcc", "ttHbb", "ttZcc", "ttZbb", "ttlf", "ttb",
                                                              "tt2b", "ttc", "tt2c")], 1)  # fmt: skip
    probs = 0.3 * labels + 0.7 * np.random.default_rng(4).dirichlet(np.ones(9), size=len(labels))
    for i, c in enumerate(("ttHcc", "ttHbb", "ttZcc", "ttZbb", "ttlf", "ttb", "tt2b", "ttc", "tt2c")):
        scored[f"score_{c}"] = probs[:, i]
    write_table(tmp_path / "scored_events.parquet", scored)
    ws = tmp_path / "ws.json"
    args = [
        "events",
        "fit",
        str(tmp_path / "scored_events.parquet"),
        "-o",
        str(ws),
        "--drop-empty",
        "--mu-max",
        "200",
    ]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "regions at 138 fb⁻¹" in captured.out
    assert "0L_SR_ttHcc (no events)" in captured.err  # the toy events are all 1L
    spec = json.loads(ws.read_text())
    names = {c["name"] for c in spec["channels"]}
    assert {"1L_SR_ttHcc", "1L_SR_ttHbb", "1L_CR_ttlf", "1L_CR_ttc"} <= names
    assert all(n.startswith("1L_") for n in names)
    assert ws.with_suffix(".meta.json").is_file()
    mu = [p for p in spec["measurements"][0]["config"]["parameters"] if p["name"] == "mu_ttHcc"]
    assert mu[0]["bounds"] == [[-20.0, 200.0]]
    # the stats commands read it
    assert main(["stats", "fit", str(ws)]) == 0


def _weights_by_id(full, part) -> np.ndarray:
    """The weights of ``full``'s events matched to ``part`` by (label, event id)."""

    def key(t):
        return np.asarray(t["event_id"]) * 100 + np.argmax(np.stack([np.asarray(t[x]) for x in LABELS], 1), 1)

    lookup = dict(zip(key(full).tolist(), np.asarray(full["weight"]).tolist(), strict=True))
    return np.array([lookup[k] for k in key(part).tolist()])


def test_event_file_without_a_required_branch(tmp_path, capsys):
    ev = _unscored(10, 3)
    del ev["met_phi"]
    path = tmp_path / "no_met_phi.parquet"
    write_table(path, ev)
    out = tmp_path / "prep.parquet"
    assert main(["events", "prepare", str(path), "-o", str(out)]) == 1
    _one_line_error(capsys, str(path), "met_phi")
    assert not out.exists()


def test_event_file_without_scores_and_no_scored_jets(tmp_path, capsys):
    path = tmp_path / "ev.parquet"
    write_table(path, _unscored(10, 3))
    assert main(["events", "prepare", str(path), "-o", str(tmp_path / "p.parquet")]) == 1
    _one_line_error(capsys, str(path), "jet_btagB", "--scores")


def test_a_failing_input_leaves_no_split_output_behind(generated, tmp_path, capsys):
    """The second event file lacks its scored jets: no part of the split is written."""
    write_table(
        tmp_path / "scored2" / "sig_jets.parquet", read_table(tmp_path / "scored" / "sig_jets.parquet")
    )
    out = tmp_path / "prep.parquet"
    args = ["events", "prepare", *map(str, generated), "-s", str(tmp_path / "scored2"), "-o", str(out),
            "--split", "0.6,0.2,0.2"]  # fmt: skip
    assert main(args) == 1
    _one_line_error(capsys, "bkg_jets.parquet", "--scores")
    assert not list(tmp_path.glob("prep*"))
    # a scored jets file that misses jets of the events: named, nothing written
    short = read_table(tmp_path / "scored" / "bkg_jets.parquet")
    write_table(tmp_path / "scored2" / "bkg_jets.parquet", {f: short[f][5:] for f in short.fields})
    assert main(args) == 1
    _one_line_error(capsys, "bkg_jets.parquet", "event_id, jet_index")
    assert not list(tmp_path.glob("prep*"))


def test_region_config_with_overlapping_selections(tmp_path, capsys):
    cols = {f"score_{c}": np.full(20, 1 / 9) for c in ("ttHcc", "ttHbb", "ttZcc", "ttZbb", "ttlf", "ttb", "tt2b",
                                                         "ttc", "tt2c")}  # fmt: skip
    cols.update(channel=np.ones(20, np.int32), weight=np.full(20, 0.1))
    cols.update({lab: np.zeros(20, np.int32) for lab in LABELS})
    write_table(tmp_path / "scored.parquet", cols)
    regions = tmp_path / "regions.yaml"
    regions.write_text(
        "Regions:\n"
        "  - {Name: high, Selection: D_ttX > 0.4, Variable: D_ttX, Binning: [0, 1]}\n"
        "  - {Name: low, Selection: D_ttX < 0.6, Variable: D_ttX, Binning: [0, 1]}\n"
    )
    ws = tmp_path / "ws.json"
    args = ["events", "fit", str(tmp_path / "scored.parquet"), "--regions", str(regions), "-o", str(ws)]
    assert main(args) == 1
    _one_line_error(capsys, str(regions), "high", "low", "overlap")
    assert not ws.exists() and not ws.with_suffix(".meta.json").exists()


def test_fit_of_events_the_classifier_did_not_score(generated, tmp_path, capsys):
    ws = tmp_path / "ws.json"
    assert main(["events", "fit", str(generated[0]), "-o", str(ws)]) == 1
    _one_line_error(capsys, str(generated[0]), "score_ttHcc")
    assert not ws.exists()


def _nano(path: Path, *, with_cvl: bool) -> None:
    """A small NanoAOD-like file: 3 events, with or without Jet_btagPNetCvL."""
    jets = ak.Array([[60.0, 40.0], [80.0], []])
    cols = {"event": np.array([1, 2, 3], np.uint64)}
    for k, v in (("pt", jets), ("eta", jets * 0), ("phi", jets * 0 + 0.5), ("mass", jets * 0 + 5)):
        cols[f"Jet_{k}"] = ak.values_astype(v, np.float32)
    for k in ("B", "CvL", "CvB", "QvG"):
        if k != "CvL" or with_cvl:
            cols[f"Jet_btagPNet{k}"] = ak.values_astype(jets * 0 + 0.5, np.float32)
    for coll, extra in (
        ("Electron", ("cutBased", "pfRelIso03_all")),
        ("Muon", ("looseId", "pfRelIso04_all")),
    ):
        for k in ("pt", "eta", "phi", "mass", "charge", "pdgId", *extra):
            dtype = (
                np.int32 if k in ("charge", "pdgId", "cutBased") else bool if k == "looseId" else np.float32
            )
            cols[f"{coll}_{k}"] = ak.unflatten(np.zeros(0, dtype), [0, 0, 0])
    cols["PuppiMET_pt"] = np.array([30.0, 40.0, 50.0], np.float32)
    cols["PuppiMET_phi"] = np.zeros(3, np.float32)
    write_table(path, cols, tree="Events")


def test_nanoaod_without_the_tagger_branches(tmp_path, capsys):
    nano = tmp_path / "nano.root"
    _nano(nano, with_cvl=False)
    out = tmp_path / "prep.parquet"
    assert main(["events", "prepare", str(nano), "-o", str(out)]) == 1
    err = _one_line_error(capsys, str(nano), "Jet_btagPNetCvL", "PNet")
    assert "Jet_btagPNetB," not in err
    assert not out.exists()
    # with the stored scores it is read as an event file (no event passes the selection here: said so)
    _nano(tmp_path / "nano_ok.root", with_cvl=True)
    assert main(["events", "prepare", str(tmp_path / "nano_ok.root"), "-o", str(out)]) == 1
    _one_line_error(capsys, "nano_ok.root", "no selected event")
    assert not out.exists()


def test_split_and_channel_options(tmp_path, capsys):
    assert parse_split("0.6,0.2,0.2") == {"train": 0.6, "val": 0.2, "test": 0.2}
    assert parse_split("a=0.25,b=0.75") == {"a": 0.25, "b": 0.75}
    with pytest.raises(ConfigError):
        parse_split("0.6,0.6")
    path = tmp_path / "ev.parquet"
    write_table(path, toy_events(5, classes=("ttlf",), seed=1))
    assert (
        main(["events", "prepare", str(path), "-o", str(tmp_path / "p.parquet"), "--split", "0.7,0.7"]) == 1
    )
    _one_line_error(capsys, "split")
    assert main(["events", "prepare", str(path), "-o", str(tmp_path / "p.parquet"), "--channels", "3L"]) == 1
    _one_line_error(capsys, "--channels")
    # an output under a regular file: refused before anything is read
    (tmp_path / "afile").write_text("x")
    assert main(["events", "prepare", str(path), "-o", str(tmp_path / "afile" / "p.parquet")]) == 1
    _one_line_error(capsys, "not a folder")


def test_stitching_counts_each_tt_category_once():
    """An inclusive tt̄ file (80 ttlf, 10 ttb, 10 ttc) and a b-enriched one (30 ttb): the ttb events of the two
    are weighted 10/40 and 30/40; the other categories keep their weights; ttH files are left alone."""

    def labels(**n):
        cats = [k for k in n for _ in range(n[k])]
        return {
            f"label_{c}": np.array([int(x == c) for x in cats])
            for c in ("ttlf", "ttb", "tt2b", "ttc", "tt2c")
        }

    f = stitch_factors(
        {"incl": labels(ttlf=80, ttb=10, ttc=10), "enr": labels(ttb=30), "tth": labels(ttlf=5)},
        ["tt", "tt", "ttHcc"],
    )
    assert f[0]["label_ttb"] == pytest.approx(0.25) and f[1]["label_ttb"] == pytest.approx(0.75)
    assert f[0]["label_ttlf"] == 1.0 and f[0]["label_ttc"] == 1.0
    assert all(v == 1.0 for v in f[2].values())


def test_prepare_stitches_an_inclusive_and_an_enriched_tt_file(tmp_path):
    incl = toy_events({"ttlf": 40, "ttb": 10}, seed=5)
    enr = toy_events({"ttb": 30}, seed=6)
    enr["weight"] = np.full(30, 6.0 / 30 * 1.2)  # the enriched file's own estimate of σ(ttb): 7.2 pb
    write_table(tmp_path / "incl.parquet", incl, metadata={"process": "tt", "tt_enrich": None})
    write_table(tmp_path / "enr.parquet", enr, metadata={"process": "tt", "tt_enrich": "b"})
    out = tmp_path / "p.parquet"
    assert main(["events", "prepare", str(tmp_path / "incl.parquet"), str(tmp_path / "enr.parquet"), "-o",
                 str(out), "--channels", "0L,1L,2L"]) == 0  # fmt: skip
    t = read_table(out)
    ttb = np.asarray(t["label_ttb"]) == 1
    # every ttb event of the inclusive file (6 pb / 10) now counts 10/40, every enriched one (7.2 pb / 30) 30/40
    w = np.asarray(t["weight"])[ttb]
    assert set(np.round(w, 6)) <= {round(0.6 * 0.25, 6), round(0.24 * 0.75, 6)}
    meta = read_metadata(out)
    assert meta["inputs"][1]["stitch"] == {"ttb": 0.75}


NANO = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real" / "nano_tt_v15.root"
if not NANO.is_file():
    NANO = Path("/work/shared/data/real/nano_tt_v15.root")


@pytest.mark.skipif(not NANO.is_file(), reason=f"real NanoAOD test file absent ({NANO})")
def test_prepare_reads_real_nanoaod_with_its_stored_scores(tmp_path, capsys):
    out = tmp_path / "nano.parquet"
    assert main(["events", "prepare", str(NANO), "-o", str(out)]) == 0
    assert "27 selected events" in capsys.readouterr().out  # the all-hadronic tt̄ events: 0L only
    t = read_table(out)
    assert set(np.asarray(t["channel"]).tolist()) == {0}
    assert np.all(np.asarray(t["hl_n_jets"]) >= 6) and np.all(np.asarray(t["hl_ht"]) > 500)
    assert read_metadata(out)["inputs"][0]["process"] == "NanoAOD"
