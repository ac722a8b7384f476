"""The 27 regions from the event classifier's scores (mutually exclusive, covering every selected event), a
region config with overlapping selections refused with the file and the two regions, and the pyhf fit of
higgsflow.stats recovering injected signal strengths on Asimov data; the κ_c scan at κ_b = 1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from higgsflow.errors import ConfigError, DataError
from higgsflow.events import SIGNALS, TTJETS, assign_regions, build_fit, default_regions, load_regions

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "tthcc" / "regions.yaml"
CLASSES = (*SIGNALS, *TTJETS, "QCD")


def _random_scores(n, rng, alpha=0.3):
    s = rng.dirichlet(np.full(len(CLASSES), alpha), size=n)
    cols = {f"score_{c}": s[:, i] for i, c in enumerate(CLASSES)}
    cols["channel"] = rng.integers(0, 3, n)
    return cols, s


def test_the_example_gives_27_mutually_exclusive_regions_by_the_largest_score():
    regions = load_regions(EXAMPLE)
    names = [r["Name"] for r in regions]
    assert len(names) == 27 == len(set(names))
    assert sum(n.split("_", 1)[1].startswith("SR") for n in names) == 12
    rng = np.random.default_rng(7)
    cols, s = _random_scores(50_000, rng)
    idx = assign_regions(cols, regions)
    assert (idx >= 0).all()  # every event in exactly one (assign_regions refuses two)
    # the region is the one the definition gives, by hand
    d_ttx = s[:, :4].sum(axis=1)
    sig = d_ttx > 0.5
    expect = np.where(sig, np.argmax(s[:, :4], axis=1), 4 + np.argmax(s[:, 4:9], axis=1))
    got_names = np.asarray(names)[idx]
    want_names = np.array(
        [
            f"{ch}L_{'SR' if k < 4 else 'CR'}_{CLASSES[k]}"
            for ch, k in zip(cols["channel"], expect, strict=True)
        ]
    )
    np.testing.assert_array_equal(got_names, want_names)
    # exact ties go to the class listed first
    tie = {f"score_{c}": np.array([0.3 if c in ("ttZcc", "ttHbb") else 0.4 / 7]) for c in CLASSES}
    tie["channel"] = np.array([1])
    assert names[int(assign_regions(tie, regions)[0])] == "1L_SR_ttHbb"


def test_overlapping_regions_are_refused_naming_the_file_and_both_regions(tmp_path):
    regions = default_regions(0.5)
    # widen 1L_SR_ttZcc to every event of the channel with D_ttX > 0.5: it overlaps 1L_SR_ttHcc (listed first)
    for r in regions:
        if r["Name"] == "1L_SR_ttZcc":
            r["Selection"] = "(channel == 1) & (D_ttX > 0.5)"
    path = tmp_path / "overlap.yaml"
    path.write_text(yaml.safe_dump({"Regions": regions}))
    with pytest.raises(ConfigError) as err:
        load_regions(path)
    msg = str(err.value)
    assert str(path) in msg and "1L_SR_ttHcc" in msg and "1L_SR_ttZcc" in msg and "overlap" in msg
    assert "\n" not in msg
    # a gap is refused as well
    gap = [r for r in default_regions(0.5) if r["Name"] != "2L_CR_ttc"]
    path.write_text(yaml.safe_dump({"Regions": gap}))
    with pytest.raises(ConfigError, match="2L events fall in no region"):
        load_regions(path)
    path.write_text(yaml.safe_dump({"Scheme": {"DttXCut": {"3L": 0.5}}}))
    with pytest.raises(ConfigError, match="3L"):
        load_regions(path)


def _scored_events(rng, n=1500, yields=None, classes=CLASSES):
    """Synthetic scored events: per class n events, scores peaked at the true class, weights giving ``yields``
    events at 138 fb⁻¹."""
    yields = yields or {"ttHcc": 400, "ttHbb": 2000, "ttZcc": 400, "ttZbb": 800, "ttlf": 20000, "ttb": 3000,
                        "tt2b": 2000, "ttc": 5000, "tt2c": 3000, "QCD": 5000}  # fmt: skip
    cols = {
        k: []
        for k in [f"score_{c}" for c in CLASSES] + [f"label_{c}" for c in CLASSES] + ["channel", "weight"]
    }
    for c in classes:
        a = np.ones(len(CLASSES))
        a[CLASSES.index(c)] += 6
        s = rng.dirichlet(a, size=n)
        for j, cc in enumerate(CLASSES):
            cols[f"score_{cc}"].append(s[:, j])
            cols[f"label_{cc}"].append(np.full(n, int(cc == c)))
        cols["channel"].append(np.zeros(n, int) if c == "QCD" else rng.integers(0, 3, n))
        cols["weight"].append(np.full(n, yields[c] / n / (138 * 1000.0)))
    return {k: np.concatenate(v) for k, v in cols.items()}


def test_asimov_fit_recovers_injected_signal_strengths():
    from higgsflow.stats import StatModel, fit

    cols = _scored_events(np.random.default_rng(1))
    config, spec = build_fit(cols, EXAMPLE)
    assert len(spec["channels"]) == 27
    samples = {s["name"] for ch in spec["channels"] for s in ch["samples"]}
    assert samples == set(CLASSES)
    qcd_regions = {ch["name"] for ch in spec["channels"] if any(s["name"] == "QCD" for s in ch["samples"])}
    assert qcd_regions == {r.name for r in config.regions if r.name.startswith("0L_")}
    sm = StatModel(spec, tolerance=1e-4)
    assert set(sm.pois) >= {
        "mu_ttHcc",
        "mu_ttHbb",
        "mu_ttZcc",
        "mu_ttZbb",
        "k_ttb",
        "k_tt2b",
        "k_ttc",
        "k_tt2c",
    }
    par_names = sm.model().config.par_names
    assert {"lumi", "xsec_ttH", "xsec_ttZ", "xsec_tt", "xsec_QCD"} <= set(par_names)
    assert any(p.startswith("staterror_") for p in par_names)
    injected = {"mu_ttHcc": 3.0, "mu_ttHbb": 1.0, "mu_ttZcc": 1.0, "mu_ttZbb": 1.0, "k_ttc": 1.3}
    result = fit(sm, asimov=injected)
    for name, value in injected.items():
        assert result[name][0] == pytest.approx(value, abs=1e-3), name
    assert result["k_tt2b"][0] == pytest.approx(1.0, abs=1e-3)
    # a fit is informative: the ttH(cc) strength is measured to better than ±1 here
    assert 0 < result["mu_ttHcc"][1] < 1.0


def test_kappa_c_scan_at_kappa_b_one_runs_on_the_workspace():
    from higgsflow.stats import StatModel
    from higgsflow.stats.kappa import kappa_limit, kappa_scan

    cols = _scored_events(np.random.default_rng(2), n=800)
    regions = [r for r in default_regions(0.5) if r["Name"].startswith("1L_")]
    _, spec = build_fit(cols, regions, mcstat_threshold=0.2, qcd=False)
    sm = StatModel(spec)
    scan = kappa_scan(sm, [0.0, 1.0, 2.0, 3.0], kappa_b=1.0, asimov=True)
    # SM Asimov data: best fit at κ_c = 1, the 95% interval contains it and is finite
    assert scan.bestfit == pytest.approx(1.0, abs=0.05)
    assert scan.interval95[0] < 1.0 < scan.interval95[1] < 3.0
    assert kappa_limit(scan) == pytest.approx(scan.interval95[1])


def test_score_variations_become_shape_systematics_with_migrations():
    from higgsflow.stats import StatModel, fit

    rng = np.random.default_rng(3)
    cols = _scored_events(rng, n=1000, classes=CLASSES[:-1])
    scores = np.stack([cols[f"score_{c}"] for c in CLASSES], axis=1)
    flat = 0.9 * scores + 0.1 / len(CLASSES)  # "up": less sharp scores
    sharp = scores**1.2
    sharp /= sharp.sum(axis=1, keepdims=True)  # "down": sharper
    up = {**cols, **{f"score_{c}": flat[:, i] for i, c in enumerate(CLASSES)}}
    down = {**cols, **{f"score_{c}": sharp[:, i] for i, c in enumerate(CLASSES)}}
    regions = [r for r in default_regions(0.5) if r["Name"].startswith("1L_")]
    config, spec = build_fit(cols, regions, variations={"tagger_scores": (up, down)})
    assert not any(s.name == "QCD" for s in config.samples)  # no QCD events given: no QCD sample
    mods = [
        m
        for ch in spec["channels"]
        for smp in ch["samples"]
        for m in smp["modifiers"]
        if m["name"] == "tagger_scores"
    ]
    assert mods and all(m["type"] == "histosys" for m in mods)
    # the variation moves events: some up template differs from its nominal
    nominal = {
        (ch["name"], smp["name"]): np.asarray(smp["data"]) for ch in spec["channels"] for smp in ch["samples"]
    }
    changed = [
        not np.allclose(m["data"]["hi_data"], nominal[(ch["name"], smp["name"])])
        for ch in spec["channels"]
        for smp in ch["samples"]
        for m in smp["modifiers"]
        if m["name"] == "tagger_scores"
    ]
    assert any(changed)
    sm = StatModel(spec, tolerance=1e-4)
    result = fit(sm, asimov={"mu_ttHcc": 2.0})
    assert result["mu_ttHcc"][0] == pytest.approx(2.0, abs=1e-3)
    assert result["tagger_scores"][0] == pytest.approx(0.0, abs=1e-3)


def test_an_empty_region_is_named_or_left_out_on_request(caplog):
    rng = np.random.default_rng(5)
    cols = _scored_events(rng, n=300, classes=CLASSES[:-1])
    cols["channel"] = np.ones_like(cols["channel"])
    # nothing is ttZbb-like: shift ttZbb's score onto ttZcc, so 1L_SR_ttZbb holds no event
    cols["score_ttZcc"] = cols["score_ttZcc"] + cols["score_ttZbb"]
    cols["score_ttZbb"] = np.zeros_like(cols["score_ttZbb"])
    regions = [r for r in default_regions(0.5) if r["Name"].startswith("1L_")]
    with pytest.raises(DataError, match="1L_SR_ttZbb: empty region"):
        build_fit(cols, regions)
    config, spec = build_fit(cols, regions, drop_empty=True)
    assert len(spec["channels"]) == len(regions) - 1
    assert [r.name for r in config.regions] == [r["Name"] for r in regions if r["Name"] != "1L_SR_ttZbb"]
    assert "1L_SR_ttZbb" in caplog.text


def test_written_fit_is_read_by_the_stats_commands(tmp_path, capsys):
    from higgsflow.cli import main
    from higgsflow.events import write_fit

    cols = _scored_events(np.random.default_rng(6), n=600)
    regions = [r for r in default_regions(0.5) if r["Name"].startswith("0L_")]
    ws, meta = write_fit(cols, regions, tmp_path / "ws.json", mcstat_threshold=0.2)
    assert ws.is_file() and meta.is_file()
    info = __import__("json").loads(meta.read_text())
    assert set(info["regions"]) == {r["Name"] for r in regions} and info["luminosity"] == 138.0
    assert info["regions"]["0L_SR_ttHcc"]["edges"][0] == pytest.approx(0.5)
    plots = tmp_path / "stacks"
    assert main(["stats", "yields", str(ws), "--plots", str(plots)]) == 0
    assert sorted(p.name for p in plots.iterdir()) == sorted(f"{r['Name']}_pre-fit.png" for r in regions)
    assert "QCD" in capsys.readouterr().out  # the 0L regions hold the QCD sample
    # nothing is written over an existing workspace, and nothing half-written is left by a refused call
    with pytest.raises(DataError, match="exists"):
        write_fit(cols, regions, ws)
    bad = tmp_path / "afile"
    bad.write_text("x")
    with pytest.raises(DataError):
        write_fit(cols, regions, bad / "ws.json")
    assert not (tmp_path / "afile.meta.json").exists()
