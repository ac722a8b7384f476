"""The helpers of benchmarks/glopart.py: GloParT training classes merged into NanoAOD's GloParT-3 classes (the
input of the AK8 discriminants) and the benchmark's data configs."""

from __future__ import annotations

import numpy as np
import pytest

from higgsflow.data import DataConfig
from higgsflow.tagging.ak8 import GLOPART3_CLASSES, ak8_discriminants


@pytest.fixture(scope="module")
def bench(load_script):
    return load_script("benchmarks/glopart.py")


def test_class_scores_are_summed_into_the_nanoaod_classes(bench):
    classes = [
        "Xbb",
        "Xss",
        "XWW4q_0c",
        "XWW4q_1c",
        "XWWevqq_1c",
        "Topbqq_0c",
        "Topbq_1c",
        "QCD_bb",
        "QCD_light",
    ]
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(len(classes)), size=50)
    p = {c: probs[:, i] for i, c in enumerate(classes)}
    merged = bench.merged_scores(probs, classes)
    assert set(merged) == set(GLOPART3_CLASSES)
    np.testing.assert_allclose(merged["Xbb"], p["Xbb"])
    np.testing.assert_allclose(merged["XWW4q"], p["XWW4q_0c"] + p["XWW4q_1c"])  # charm variants together
    np.testing.assert_allclose(merged["XWWqqev"], p["XWWevqq_1c"])  # NanoAOD's name
    np.testing.assert_allclose(merged["TopbWqq"], p["Topbqq_0c"])
    np.testing.assert_allclose(merged["TopbWq"], p["Topbq_1c"])
    np.testing.assert_allclose(merged["QCD"], p["QCD_bb"] + p["QCD_light"])
    assert not merged["Xcc"].any() and not merged["TopbWev"].any()  # not trained: zero
    # Xss has no NanoAOD class: left out, so the stored classes sum to 1 - p(Xss)
    np.testing.assert_allclose(sum(merged.values()), 1 - p["Xss"])
    xbb = ak8_discriminants(merged)["XbbVsQCD"]
    np.testing.assert_allclose(xbb, p["Xbb"] / (p["Xbb"] + p["QCD_bb"] + p["QCD_light"]))


def test_the_decorrelated_config_reweights_every_benchmark_class_and_the_baseline_none(bench, tmp_path):
    labels = [f"label_{c}" for c in bench.CLASSES]
    glopart = DataConfig.load(bench.write_config(tmp_path / "g.yaml", decorrelated=True))
    baseline = DataConfig.load(bench.write_config(tmp_path / "b.yaml", decorrelated=False))
    assert glopart.label_names == baseline.label_names == labels
    assert glopart.weights["reweight_classes"] == labels and glopart.weights["reweight_method"] == "flat"
    assert list(glopart.weights["reweight_vars"]) == ["jet_pt", "jet_sdmass"]
    assert baseline.weights is None
    assert glopart.targets == baseline.targets and "mass_corr" in glopart.targets  # the same task


def test_gates_need_enough_passing_qcd_jets_and_compare_at_equal_efficiency(bench):
    def row(jsd, n_pass, regressed=0.1):
        sculpt = {f"{e:.1%}": {"jsd": jsd, "n_pass": n_pass} for e in bench.EFFICIENCIES}
        return {"test": {"sculpting": sculpt, "mass_resolution": {"regressed": regressed, "soft_drop": 0.2}}}

    gates = bench.checks({"GloParT": row(0.01, 50), "baseline": row(0.08, 50)})  # 1/JSD 100 vs 12.5: ×8
    assert [g["verdict"] for g in gates] == ["PASS", "FAIL", "FAIL", "PASS"]
    assert "8 (100 / 12.5)" in gates[0]["value"]
    few = bench.checks({"GloParT": row(0.01, bench.MIN_PASS - 1), "baseline": row(0.08, 50)})
    assert [g["verdict"] for g in few[:3]] == ["n/a"] * 3  # a JSD from a handful of jets is not a result
    worse = bench.checks({"GloParT": row(0.01, 50, regressed=0.3), "baseline": row(0.08, 50)})
    assert worse[-1]["verdict"] == "FAIL"  # regressed mass worse than m_SD
    # the ungroomed jet mass that mass_corr multiplies is reported as a check beside the gate
    g = row(0.01, 50, regressed=0.17)
    g["test"]["mass_resolution"]["jet_mass"] = 0.16
    both = bench.checks({"GloParT": g, "baseline": row(0.08, 50)})
    assert [(c["kind"], c["verdict"]) for c in both[-2:]] == [("gate", "PASS"), ("check", "FAIL")]


def test_reuse_runs_takes_only_a_finished_training_with_the_same_settings(bench, tmp_path):
    import json
    from dataclasses import asdict

    from higgsflow.train import TrainSettings

    s = TrainSettings(network="part_sv", network_kwargs=dict(bench.PART_REDUCED), epochs=3, batch_size=32)
    run = tmp_path / "GloParT"
    run.mkdir()
    assert not bench.finished_run(run, s)  # nothing there
    (run / "train.json").write_text(json.dumps({"settings": json.loads(json.dumps(asdict(s), default=str))}))
    (run / "model.pt").write_bytes(b"weights")
    (run / "log.csv").write_text("epoch,train_loss\n0,1.0\n1,0.9\n")
    assert not bench.finished_run(run, s)  # stopped after 2 of 3 epochs
    (run / "log.csv").write_text("epoch,train_loss\n0,1.0\n1,0.9\n2,0.8\n")
    assert bench.finished_run(run, s)
    assert not bench.finished_run(run, TrainSettings(**{**asdict(s), "lr": 5e-4}))  # other settings
    config = bench.write_config(tmp_path / "glopart.yaml", decorrelated=True)
    assert not bench.finished_run(run, s, config)  # no data config saved with the run
    (run / "data_config.yaml").write_text(config.read_text())
    assert bench.finished_run(run, s, config)
    other = bench.write_config(tmp_path / "baseline.yaml", decorrelated=False)
    assert not bench.finished_run(run, s, other)  # trained on another data config (e.g. another loss weight)


def test_more_light_qcd_test_jets_add_files_and_keep_the_first(bench, tmp_path, monkeypatch):
    # --qcd-test-jets beyond QCD_LIGHT_PART adds files with their own seeds; the first file keeps its name and seed,
    # so a data folder of an earlier run is reused and only the new jets are generated
    import higgsflow.generate.api as api

    made = []

    def fake(classes, n, path, *, seed, **kw):
        made.append((path.name, n, seed))
        path.write_bytes(b"")

    monkeypatch.setattr(api, "generate_jets", fake)
    (tmp_path / "test_qcd_light_20000.root").write_bytes(b"")
    files = bench.make_data(tmp_path, 250, 45_000, 1, 1)
    assert [p.name for p in files["test_qcd_light"]] == [
        "test_qcd_light_20000.root",
        "test_qcd_light_20000_part1.root",
        "test_qcd_light_5000_part2.root",
    ]
    light = [m for m in made if m[0].startswith("test_qcd_light")]
    assert light == [
        ("test_qcd_light_20000_part1.root", 20_000, 124),
        ("test_qcd_light_5000_part2.root", 5_000, 224),
    ]
    seeds = [s for _, _, s in made]
    assert len(set(seeds)) == len(seeds)  # every file its own seed


def test_more_training_jets_add_files_and_keep_the_first(bench, tmp_path, monkeypatch):
    # --jets-per-class beyond TRAIN_PART adds training files with their own seeds; the files of a smaller run
    # (training, validation, test) keep their names and seeds and are reused
    import higgsflow.generate.api as api

    made = []

    def fake(classes, n, path, *, seed, chunk_size, resonance_mass, **kw):
        made.append((path.name, n, seed, chunk_size, resonance_mass))
        path.write_bytes(b"")

    monkeypatch.setattr(api, "generate_jets", fake)
    small = bench.make_data(tmp_path, 250, 20_000, 1, 1)
    first = {name: seed for name, _, seed, _, _ in made}
    assert first["train_flat_250.root"] == 1 and first["train_fixed_250.root"] == 2
    assert (
        first["train_qcd_250.root"] == 3
        and first["val_flat_62.root"] == 11
        and first["test_qcd_125.root"] == 23
    )
    made.clear()
    files = bench.make_data(tmp_path, 600, 20_000, 1, 1)
    assert [p.name for p in files["train_flat"]] == [
        "train_flat_250.root",
        "train_flat_250_part1.root",
        "train_flat_100_part2.root",
    ]
    assert [p.name for p in files["train_qcd"]] == [
        "train_qcd_250.root",
        "train_qcd_250_part1.root",
        "train_qcd_100_part2.root",
    ]
    # validation and test files: the first file's size, the same files as the smaller run's
    for key in ("val_flat", "val_fixed", "val_qcd", "test_flat", "test_qcd"):
        assert files[key] == small[key]
    step = bench.TRAIN_PART_SEED_STEP
    assert sorted(made) == sorted(
        [
            ("train_flat_250_part1.root", 250, 1 + step, bench.CHUNK, bench.FLAT_MASS),
            ("train_fixed_250_part1.root", 250, 2 + step, 250, None),
            ("train_qcd_250_part1.root", 250, 3 + step, 250, None),
            ("train_flat_100_part2.root", 100, 1 + 2 * step, bench.CHUNK, bench.FLAT_MASS),
            ("train_fixed_100_part2.root", 100, 2 + 2 * step, 100, None),
            ("train_qcd_100_part2.root", 100, 3 + 2 * step, 100, None),
        ]
    )
    seeds = list(first.values()) + [m[2] for m in made]
    assert len(set(seeds)) == len(seeds)  # every file its own seed


def test_metrics_report_the_statistical_ceiling_of_1_over_jsd(bench):
    # on test jets whose scores ignore the mass, the measured 1/JSD sits near the random-score ceiling
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    n, k = 20_000, len(bench.CLASSES)
    label = rng.integers(0, k, n)
    probs = rng.dirichlet(np.ones(k), n)
    msd = rng.uniform(20.0, 260.0, n)
    obs = {"aux_resonance_mass": msd * 1.02, "jet_sdmass": msd, "jet_mass": msd * 1.1}
    arrays = SimpleNamespace(label=label, observers=obs)
    out = bench.tagging_metrics({"softmax": probs, "mass_corr": np.ones(n)}, arrays, None, "x")
    n_qcd = np.isin(label, [bench.CLASSES.index(c) for c in bench.QCD]).sum()
    floor = out["jsd_floor"]["1.0%"]
    assert floor["jsd"] == pytest.approx(23 / (8 * 0.01 * n_qcd), rel=0.3)
    assert 0.4 < out["sculpting"]["1.0%"]["jsd"] / floor["jsd"] < 2.5
    assert out["mass_resolution"]["regressed"] == pytest.approx(0.0, abs=1e-9)  # 1.1 m / 1.02 m: a pure scale


def test_reweighting_uses_one_pt_bin_when_the_2d_bins_would_be_nearly_empty(bench, tmp_path):
    # weight ∝ 1/count per (p_T, m_SD) bin flattens m_SD only if the bins hold several jets: with ~2 jets per
    # non-empty bin the benchmark reweights in one p_T bin (flat in m_SD); with many it keeps the config's 16 bins
    from higgsflow.data.io import write_table

    rng = np.random.default_rng(4)

    def jets(path, n_per_class):
        n = n_per_class * len(bench.CLASSES)
        cls = np.repeat(np.arange(len(bench.CLASSES)), n_per_class)
        cols = {"jet_pt": rng.uniform(500.0, 1000.0, n), "jet_sdmass": rng.uniform(20.0, 260.0, n)}
        cols |= {f"label_{c}": (cls == i).astype(np.int32) for i, c in enumerate(bench.CLASSES)}
        return write_table(path, cols)

    few = jets(tmp_path / "few.root", 250)
    bins, why = bench.reweight_pt_bins([few])
    assert bins == [200.0, 2500.0] and "one p_T bin" in why
    assert bench.reweight_occupancy([few], [200.0, 2500.0]) == pytest.approx(250 / 24, rel=0.05)
    many = jets(tmp_path / "many.root", 2_500)  # 6 populated p_T bins x 24 m_SD bins: ~17 jets per bin
    bins, why = bench.reweight_pt_bins([many])
    assert len(bins) == 17 and "16 p_T bins" in why
    cfg = bench.write_config(tmp_path / "g.yaml", decorrelated=True, pt_bins=[200.0, 2500.0])
    assert DataConfig.load(cfg).weights["reweight_vars"]["jet_pt"] == [200.0, 2500.0]
