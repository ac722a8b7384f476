"""higgsflow.tagging: discriminants, working points, categories, NanoAOD scores, and `higgsflow tag`."""

from __future__ import annotations

import json

import awkward as ak
import numpy as np
import pytest

from higgsflow.cli import main
from higgsflow.errors import ConfigError, DataError, SchemaError

tg = pytest.importorskip("higgsflow.tagging")

CLASSES = ("b", "bb", "c", "cc", "s", "ud", "g", "tauh")
# two jets, each row sums to one
FIXED = np.array(
    [
        [0.30, 0.10, 0.10, 0.05, 0.05, 0.15, 0.20, 0.05],
        [0.02, 0.01, 0.40, 0.07, 0.10, 0.10, 0.25, 0.05],
    ]
)


def _scores(prefix: str = "score_") -> dict[str, np.ndarray]:
    return {f"{prefix}{c}": FIXED[:, i] for i, c in enumerate(CLASSES)}


def test_discriminants_equal_their_formulas():
    d = tg.discriminants(_scores())
    p = dict(zip(CLASSES, FIXED.T, strict=True))
    B, C, UDS, G = p["b"] + p["bb"], p["c"] + p["cc"], p["s"] + p["ud"], p["g"]
    np.testing.assert_allclose(d["BvsAll"], B / (B + C + UDS + G))
    np.testing.assert_allclose(d["CvsL"], C / (C + UDS + G))
    np.testing.assert_allclose(d["CvsB"], C / (C + B))
    np.testing.assert_allclose(d["QvsG"], UDS / (UDS + G))
    np.testing.assert_allclose(d["pBplusC"], (B + C) / (B + C + UDS + G))
    np.testing.assert_allclose(d["pBvsC"], B / (B + C))
    # first jet by hand: B = 0.4, C = 0.15, UDS = 0.2, G = 0.2 (τh left out of every denominator)
    assert d["BvsAll"][0] == pytest.approx(0.4 / 0.95)
    assert d["pBplusC"][0] == pytest.approx(0.55 / 0.95)
    assert d["pBvsC"][0] == pytest.approx(0.4 / 0.55)
    assert d["CvsB"][0] == pytest.approx(0.15 / 0.55)
    assert d["QvsG"][0] == pytest.approx(0.5)


def test_discriminants_of_jagged_awkward_scores_match_flat():
    jagged = {k: ak.unflatten(v, [1, 1]) for k, v in _scores().items()}
    d = tg.discriminants(jagged)
    flat = tg.discriminants(_scores())
    for key, values in d.items():
        assert isinstance(values, ak.Array) and ak.num(values).tolist() == [1, 1]
        np.testing.assert_allclose(ak.to_numpy(ak.flatten(values)), flat[key])


def test_stored_nanoaod_discriminants_rebuild_the_tthcc_ones():
    """BvsAll, CvsL, CvsB as CMS stores them give p_B+C and p_BvsC of the class probabilities exactly."""
    p = dict(zip(CLASSES, FIXED.T, strict=True))
    B, C, L = p["b"] + p["bb"], p["c"] + p["cc"], p["s"] + p["ud"] + p["g"]
    stored = {"BvsAll": B / (B + C + L), "CvsL": C / (C + L), "CvsB": C / (C + B), "GvsQ": p["g"] / L}
    rebuilt = tg.from_stored(stored)
    truth = tg.discriminants(_scores())
    for key in ("pBplusC", "pBvsC", "QvsG"):
        np.testing.assert_allclose(rebuilt[key], truth[key], rtol=1e-12)
    # the NanoAOD default -1 (tagger not run) stays -1
    d = tg.from_stored({"BvsAll": [-1.0], "CvsL": [-1.0], "CvsB": [-1.0]})
    assert d["pBplusC"][0] == -1 and d["pBvsC"][0] == -1


def test_bad_scores_are_refused_naming_the_field():
    s = _scores()
    s["score_g"] = s["score_g"].copy()
    s["score_g"][1] = np.nan
    with pytest.raises(DataError, match=r"score_g.*NaN"):
        tg.discriminants(s)
    s = _scores()
    s["score_b"] = s["score_b"] * 2
    with pytest.raises(DataError, match="do not sum to one"):
        tg.discriminants(s)
    tg.discriminants(s | {"score_b": np.array([0.3, 0.02])}, sum_to_one=True)  # restored: fine
    # a subset of the classes sums to less than one: refused unless asked not to check
    partial = {k: v for k, v in _scores().items() if k != "score_tauh"}
    with pytest.raises(DataError, match="sum to one"):
        tg.discriminants(partial)
    assert tg.discriminants(partial, sum_to_one=False)["BvsAll"].shape == (2,)
    with pytest.raises(SchemaError, match="C: no class"):
        tg.discriminants({"score_b": [0.5], "score_g": [0.5]})


def _toy(n_light=20000, n_c=4000, n_b=4000, seed=1):
    rng = np.random.default_rng(seed)
    flavour = np.r_[np.zeros(n_light, int), np.full(n_c, 4), np.full(n_b, 5)]
    # b-tag-like score: light jets low, c jets in between, b jets high
    x = np.r_[rng.beta(1, 8, n_light), rng.beta(2, 3, n_c), rng.beta(6, 1.5, n_b)]
    # p_BvsC-like: b jets high, c jets low, light anywhere
    y = np.r_[rng.uniform(0, 1, n_light), rng.beta(1.5, 5, n_c), rng.beta(5, 1.5, n_b)]
    return x, y, flavour


def test_working_points_hit_the_mistag_targets():
    x, _, flavour = _toy()
    wps = tg.working_points(x, flavour)
    assert [wp.name for wp in wps] == ["L", "M", "T"]
    for wp, target in zip(wps, (0.1, 0.01, 0.001), strict=True):
        assert wp.eff_light == pytest.approx(target, abs=0.5 / 20000)
        assert wp.eff_b > wp.eff_c > wp.eff_light
        assert wp.interval_b[0] <= wp.eff_b <= wp.interval_b[1]
        assert wp.reliable
    # tighter points keep fewer b jets
    assert wps[0].eff_b > wps[1].eff_b > wps[2].eff_b
    with pytest.raises(DataError, match="mistags"):
        tg.working_points(x, flavour, mistags=[1.5])


def test_efficiency_maps_are_hist_objects_with_the_right_efficiency():
    rng = np.random.default_rng(3)
    n = 4000
    pt = rng.uniform(20, 200, n)
    eta = rng.uniform(-2.5, 2.5, n)
    flavour = rng.choice([0, 4, 5], n)
    # b jets pass more often at high pT, everything else 10%
    passed = np.where(flavour == 5, pt > 100, rng.uniform(size=n) < 0.1)
    h = tg.efficiency_maps(pt, eta, flavour, passed, pt_edges=[20, 100, 200], abseta_edges=[0, 2.5])
    import hist

    assert isinstance(h, hist.Hist)
    assert [a.name for a in h.axes] == ["flavour", "pt", "abseta", "passed"]
    eff_b = tg.map_efficiency(h, 5)
    np.testing.assert_allclose(eff_b[:, 0], [0.0, 1.0])
    assert abs(tg.map_efficiency(h, 0).mean() - 0.1) < 0.03


def test_categories_are_mutually_exclusive_and_cover_every_jet():
    x, y, flavour = _toy()
    x = np.r_[x, 0.0, 1.0, 1.0, 0.0]  # the corners of the plane
    y = np.r_[y, 0.0, 1.0, 0.0, 1.0]
    flavour = np.r_[flavour, 0, 5, 4, 0]
    scheme = tg.derive_categories(x, y, flavour)
    assert scheme.names == ["L", "C1", "C2", "C3", "C4", "C5", "B1", "B2", "B3", "B4", "B5"]
    inside = np.stack([c.contains(x, y) for c in scheme.categories])
    assert (inside.sum(axis=0) == 1).all()  # every jet in exactly one category
    cat = tg.assign_categories(x, y, scheme)
    assert (cat >= 0).all() and (cat == np.argmax(inside, axis=0)).all()
    table = {r["category"]: r for r in tg.category_table(cat, flavour, scheme.names)}
    # the targets: 90% of the light jets in L, the c bins hold 20% each of the c-side c jets, b bins likewise
    assert table["L"]["eff_light"] == pytest.approx(0.9, abs=0.001)
    c_side = [table[f"C{i}"]["n_c"] for i in range(1, 6)]
    b_side = [table[f"B{i}"]["n_b"] for i in range(1, 6)]
    assert max(c_side) - min(c_side) <= 3 and max(b_side) - min(b_side) <= 3
    # decreasing purity: the tightest b bin is purer in b than the loosest, and likewise for c
    assert table["B1"]["purity_b"] > table["B5"]["purity_b"]
    assert table["C1"]["purity_c"] > table["C5"]["purity_c"]
    # jets without discriminants (NanoAOD's -1, NaN) get no category
    assert tg.assign_categories(np.array([-1.0, np.nan]), np.array([0.5, 0.5]), scheme).tolist() == [-1, -1]


def _rect(name, x, y):
    return {"name": name, "p_BplusC": list(x), "p_BvsC": list(y)}


def test_overlapping_or_gapped_categories_are_refused():
    good = [_rect("L", (0, 0.5), (0, 1)), _rect("C", (0.5, 1), (0, 0.5)), _rect("B", (0.5, 1), (0.5, 1))]
    scheme = tg.load_categories({"categories": good})["scheme"]
    assert scheme.names == ["L", "C", "B"]
    overlap = [*good[:2], _rect("B", (0.5, 1), (0.4, 1))]
    with pytest.raises(
        ConfigError, match=r"categories\.B: overlaps C in p_B\+C \[0\.5, 1\) × p_BvsC \[0\.4, 0\.5\)"
    ):
        tg.load_categories({"categories": overlap})
    gap = [*good[:2], _rect("B", (0.5, 1), (0.6, 1))]
    with pytest.raises(
        ConfigError, match=r"categories: gap: no category covers p_B\+C \[0\.5, 1\) × p_BvsC \[0\.5, 0\.6\)"
    ):
        tg.load_categories({"categories": gap})
    with pytest.raises(ConfigError, match=r"categories\.C\.p_BvsC: interval \[0\.5, 0\.5\] is empty"):
        tg.load_categories({"categories": [good[0], _rect("C", (0.5, 1), (0.5, 0.5))]})
    with pytest.raises(ConfigError, match=r"targets\.c_bins"):
        tg.load_categories({"targets": {"c_bins": [0.5, 0.2]}})


def test_example_category_config_gives_eleven_categories():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "tagging" / "categories.yaml"
    spec = tg.load_categories(path)
    x, y, flavour = _toy(seed=2)
    scheme = tg.derive_categories(x, y, flavour, spec["targets"])
    assert len(scheme.names) == 11


# --- real CMS NanoAOD (Run 3, v15, ttbar): the stored PNet / UParT scores -------------------------------------


@pytest.mark.parametrize("tagger", ["PNet", "UParTAK4"])
def test_real_nanoaod_discriminants_are_b_enriched(real_data_dir, tagger):
    jets = tg.read_nanoaod_jets(real_data_dir / "nano_tt_v15.root", tagger=tagger)
    assert len(jets) == 1636
    ev = jets.select(jets.evaluated)
    assert len(ev) == 1258  # the b/c taggers run on |η| < 2.5 only; the others hold -1
    assert np.abs(ev.eta).max() < 2.5
    counts = {f: int((ev.flavour == f).sum()) for f in (0, 4, 5)}
    assert counts == {0: 758, 4: 175, 5: 325}
    # the efficiency table at the light-jet mistag working points of BvsAll (measured: PNet / UParT)
    #   WP  mistag  ε_b          ε_c          ε_light
    #   L   10%     0.948/0.938  0.429/0.320  0.099
    #   M   1%      0.825/0.831  0.137/0.069  0.009
    #   T   0.1%    0.662/0.742  0.017/0.023  0.000
    loose, medium, tight = tg.working_points(ev.disc["BvsAll"], ev.flavour)
    assert loose.eff_b > 0.90 and loose.eff_c < 0.5 and loose.eff_light == pytest.approx(0.1, abs=0.002)
    assert medium.eff_b > 0.78 and medium.eff_c < 0.2 and medium.eff_light < 0.011
    assert medium.eff_b > 50 * medium.eff_light
    assert tight.eff_b > 0.6 and tight.eff_c < 0.05
    # p_B+C tags b and c jets against light ones; p_BvsC separates b from c
    x, y, f = ev.disc["pBplusC"], ev.disc["pBvsC"], ev.flavour
    assert np.median(x[f == 5]) > 0.95 and np.median(x[f == 4]) > 0.4 > np.median(x[f == 0])
    assert np.median(y[f == 5]) > 0.95 and np.median(y[f == 4]) < 0.3
    wp_bc = tg.working_points(x, f, mistags=[0.1])[0]
    assert wp_bc.eff_c > loose.eff_c  # at the same mistag p_B+C keeps more c jets than BvsAll


def test_real_nanoaod_stored_scores_follow_the_documented_denominators(real_data_dir):
    """CvsB = CvsL(1 − B)/(CvsL(1 − B) + B) holds if B, CvsL and CvsB share the documented denominators."""
    from higgsflow.data.io import read_table

    cols = [f"Jet_btag{t}{k}" for t in ("PNet", "UParTAK4") for k in ("B", "CvL", "CvB")]
    table = read_table(
        real_data_dir / "nano_tt_v15.root",
        [*cols, "Jet_btagUParTAK4probb", "Jet_btagUParTAK4probbb"],
        tree="Events",
    )
    v = {c: ak.to_numpy(ak.flatten(table[c])).astype(np.float64) for c in table.fields}
    for t in ("PNet", "UParTAK4"):
        b, cvl, cvb = v[f"Jet_btag{t}B"], v[f"Jet_btag{t}CvL"], v[f"Jet_btag{t}CvB"]
        ok = (b > 0) & (cvl > 0) & (cvb > 0)
        predicted = cvl * (1 - b) / (cvl * (1 - b) + b)
        assert np.percentile(np.abs(predicted - cvb)[ok], 99) < 1e-3  # measured 3e-4 (PNet), 7e-5 (UParT)
        wrong = cvl / (cvl + b)  # what CvsL = c/(b+c+l) would give
        assert (np.abs(wrong - cvb)[ok] > 0.01).mean() > 0.2  # measured 35% (PNet), 25% (UParT)
    ok = v["Jet_btagUParTAK4B"] >= 0
    # UParT's BvsAll = (b+bb+lepb)/(b, bb, lepb, c, s, u, d, g) is at least its raw b + bb probability
    assert (
        v["Jet_btagUParTAK4B"][ok] >= (v["Jet_btagUParTAK4probb"] + v["Jet_btagUParTAK4probbb"])[ok] - 2e-3
    ).all()


# --- the command line --------------------------------------------------------------------------------------------


def _scored_file(path, n=3000, seed=5, nan=False):
    from higgsflow.data.io import write_table

    rng = np.random.default_rng(seed)
    truth = rng.integers(0, len(CLASSES), n)
    logits = rng.normal(size=(n, len(CLASSES)))
    logits[np.arange(n), truth] += 2.5
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    cols = {f"score_{c}": p[:, i].astype(np.float32) for i, c in enumerate(CLASSES)}
    cols |= {f"label_{c}": (truth == i).astype(np.int32) for i, c in enumerate(CLASSES)}
    cols |= {
        "jet_pt": rng.uniform(20, 200, n).astype(np.float32),
        "jet_eta": rng.uniform(-2.4, 2.4, n).astype(np.float32),
    }
    if nan:
        cols["score_c"][7] = np.nan
    write_table(path, cols)
    return p, truth


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:"), err
    return err[0]


def test_cli_discriminants_on_a_higgsflow_file(tmp_path):
    from higgsflow.data.io import read_table

    src = tmp_path / "scored.parquet"
    p, _ = _scored_file(src)
    out = tmp_path / "disc.root"
    assert main(["tag", "discriminants", str(src), "--out", str(out)]) == 0
    t = read_table(out)
    B, C = p[:, 0] + p[:, 1], p[:, 2] + p[:, 3]
    L = p[:, 4] + p[:, 5] + p[:, 6]
    np.testing.assert_allclose(ak.to_numpy(t["disc_pBvsC"]), B / (B + C), rtol=1e-5)
    np.testing.assert_allclose(ak.to_numpy(t["disc_pBplusC"]), (B + C) / (B + C + L), rtol=1e-5)
    assert "score_b" in t.fields and "label_b" in t.fields  # the inputs are kept
    assert main(["tag", "discriminants", str(src), "--out", str(out)]) == 1  # exists without --overwrite


def test_cli_working_points_and_categories_on_a_higgsflow_file(tmp_path, capsys):
    src = tmp_path / "scored.parquet"
    _scored_file(src)
    wp_json = tmp_path / "wp.json"
    assert (
        main(["tag", "working-points", str(src), "-d", "BvsAll", "--mistag", "0.1,0.01", "-o", str(wp_json)])
        == 0
    )
    wps = json.loads(wp_json.read_text())["working_points"]
    assert [w["name"] for w in wps] == ["L", "M"]
    assert wps[0]["eff_light"] == pytest.approx(0.1, abs=0.002) and wps[0]["eff_b"] > 0.3
    maps = tmp_path / "maps.root"
    assert main(["tag", "working-points", str(src), "-d", "BvsAll", "--maps", str(maps)]) == 0
    import uproot

    with uproot.open(maps) as f:
        passed, total = f["BvsAll_L_light_passed"].to_hist(), f["BvsAll_L_light_total"].to_hist()
    # the (pT, |η|) maps of the light jets at the 10% point add up to 10%
    assert passed.values().sum() / total.values().sum() == pytest.approx(0.1, abs=0.003)
    cats = tmp_path / "cats.json"
    per_jet = tmp_path / "jets.parquet"
    plot = tmp_path / "migration.png"
    args = ["tag", "categories", str(src), "-o", str(cats), "--jets-out", str(per_jet), "--plot", str(plot)]
    assert main(args) == 0
    result = json.loads(cats.read_text())
    assert len(result["categories"]) == 11 and sum(r["jets"] for r in result["table"]) == 3000
    from higgsflow.data.io import read_table

    first = ak.to_numpy(read_table(per_jet)["jet_category"])
    assert set(np.unique(first)) <= set(range(11))
    # the written boundaries are a category definition: reused, they put every jet in the same category
    again = tmp_path / "again.parquet"
    assert main(["tag", "categories", str(src), "-c", str(cats), "--jets-out", str(again)]) == 0
    np.testing.assert_array_equal(ak.to_numpy(read_table(again)["jet_category"]), first)
    assert plot.stat().st_size > 10_000


def test_cli_categories_on_real_nanoaod(real_data_dir, tmp_path, capsys):
    cats, plot = tmp_path / "cats.json", tmp_path / "migration.png"
    nano = str(real_data_dir / "nano_tt_v15.root")
    cmp = tmp_path / "pnet_vs_upart.png"
    args = ["tag", "categories", nano, "--tagger", "UParTAK4", "-o", str(cats), "--plot", str(plot)]
    assert main([*args, "--compare-tagger", "PNet", "--compare-plot", str(cmp)]) == 0
    table = {r["category"]: r for r in json.loads(cats.read_text())["table"]}
    assert sum(r["jets"] for r in table.values()) == 1258
    assert table["B1"]["purity_b"] > 0.9 and table["L"]["purity_light"] > 0.85
    assert plot.is_file() and cmp.is_file()
    # the two taggers agree on most jets (measured: 1001 of 1258 in the same category)
    same = int(capsys.readouterr().out.split("; ")[-1].split(" of ")[0])
    assert 0.7 * 1258 < same < 1258
    out = tmp_path / "nano.root"
    assert main(["tag", "discriminants", nano, "--tagger", "PNet", "--out", str(out)]) == 0
    from higgsflow.data.io import read_table

    t = read_table(out, ["Jet_btagPNet_pBvsC", "Jet_btagPNetCvB", "Jet_hadronFlavour"], tree="Events")
    assert ak.num(t["Jet_btagPNet_pBvsC"]).tolist() == ak.num(t["Jet_hadronFlavour"]).tolist()
    stored = ak.flatten(t["Jet_btagPNetCvB"])
    rebuilt = ak.flatten(t["Jet_btagPNet_pBvsC"])
    ok = stored >= 0
    np.testing.assert_allclose(ak.to_numpy(rebuilt[ok]), 1 - ak.to_numpy(stored[ok]), atol=1e-6)


def test_cli_bad_inputs_give_one_line_errors(tmp_path, capsys):
    nan_file = tmp_path / "nan.parquet"
    _scored_file(nan_file, nan=True)
    assert main(["tag", "working-points", str(nan_file)]) == 1
    assert "score_c" in _one_error_line(capsys)
    good = tmp_path / "good.parquet"
    _scored_file(good)
    from higgsflow.data.io import read_table, write_table

    t = read_table(good)
    cols = {c: ak.to_numpy(t[c]) for c in t.fields}
    cols["score_b"] = cols["score_b"] * 0.5
    bad_sum = tmp_path / "badsum.parquet"
    write_table(bad_sum, cols)
    assert main(["tag", "discriminants", str(bad_sum), "--out", str(tmp_path / "x.parquet")]) == 1
    assert "do not sum to one" in _one_error_line(capsys)
    assert main(["tag", "categories", str(bad_sum), "--no-sum-check"]) == 0
    capsys.readouterr()
    overlap = tmp_path / "overlap.yaml"
    overlap.write_text(
        "categories:\n"
        "  - {name: L, p_BplusC: [0, 0.5], p_BvsC: [0, 1]}\n"
        "  - {name: C, p_BplusC: [0.4, 1], p_BvsC: [0, 0.5]}\n"
        "  - {name: B, p_BplusC: [0.5, 1], p_BvsC: [0.5, 1]}\n"
    )
    assert main(["tag", "categories", str(good), "-c", str(overlap)]) == 1
    line = _one_error_line(capsys)
    assert "overlap.yaml: categories.C: overlaps L" in line
    assert main(["tag", "categories", str(good), "--compare-tagger", "PNet"]) == 1
    assert "--compare-plot: --compare-tagger and --compare-plot go together" in _one_error_line(capsys)
    assert main(["tag", "categories", str(good), "--compare-tagger", "PNet", "--compare-plot", "x.png"]) == 1
    assert "--compare-tagger: a second tagger needs a NanoAOD file" in _one_error_line(capsys)
    assert main(["tag", "working-points", str(good), "-d", "BvsX"]) == 1
    assert "--discriminant: unknown discriminant 'BvsX'" in _one_error_line(capsys)
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["tag", "working-points", str(good), "-o", str(afile / "wp.json")]) == 1
    assert "not a folder" in _one_error_line(capsys)
    assert main(["tag", "categories", str(tmp_path / "missing.root")]) == 1
    assert "missing.root" in _one_error_line(capsys)


def _nano_like(path, nan_branch=None):
    """A NanoAOD-like file: tree Events, jagged Jet_* columns with the PNet scores."""
    from higgsflow.data.io import write_table

    counts = [2, 1, 3]
    n = sum(counts)

    def jag(values):
        return ak.unflatten(np.asarray(values, dtype=np.float32), counts)

    cols = {
        "event": np.arange(3, dtype=np.int64),
        "Jet_pt": jag(np.linspace(30, 80, n)),
        "Jet_eta": jag(np.linspace(-2, 2, n)),
        "Jet_hadronFlavour": ak.unflatten(np.array([5, 0, 4, 0, 5, 0], dtype=np.int32), counts),
        "Jet_partonFlavour": ak.unflatten(np.array([5, 21, 4, 1, -5, 2], dtype=np.int32), counts),
        "Jet_btagPNetB": jag([0.9, 0.01, 0.1, -1, 0.8, 0.02]),
        "Jet_btagPNetCvL": jag([0.5, 0.05, 0.7, -1, 0.4, 0.1]),
        "Jet_btagPNetCvB": jag([0.05, 0.6, 0.8, -1, 0.1, 0.7]),
        "Jet_btagPNetQvG": jag([0.5, 0.5, 0.5, 0.5, 0.5, 0.5]),
    }
    if nan_branch:
        values = ak.to_numpy(ak.flatten(cols[nan_branch])).copy()
        values[2] = np.nan
        cols[nan_branch] = jag(values)
    write_table(path, cols, tree="Events")


def test_nanoaod_like_file_is_detected_and_nan_scores_are_refused(tmp_path, capsys):
    good = tmp_path / "nano.root"
    _nano_like(good)
    jets = tg.read_scored_jets(good)
    assert jets.source == "nanoaod" and len(jets) == 6
    assert jets.evaluated.tolist() == [True, True, True, False, True, True]
    assert jets.disc["pBvsC"][0] == pytest.approx(0.95) and jets.disc["pBplusC"][3] == -1
    assert jets.disc["pBplusC"][0] == pytest.approx(0.9 + 0.1 * 0.5)
    bad = tmp_path / "nano_nan.root"
    _nano_like(bad, nan_branch="Jet_btagPNetCvB")
    assert main(["tag", "working-points", str(bad)]) == 1
    line = _one_error_line(capsys)
    assert "nano_nan.root: Jet_btagPNetCvB: 1 NaN score(s), first at jet 2" in line
    assert main(["tag", "working-points", str(good), "--tagger", "UParTAK4"]) == 1
    assert "Jet_btagUParTAK4B" in _one_error_line(capsys)  # not stored in this file
