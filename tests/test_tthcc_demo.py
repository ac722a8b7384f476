"""`higgsflow demo --task tthcc`: the printed summary (a fake result: per-class AUCs of both classifiers, the
limit in pb = μ limit × σ_ttH × B(H→cc̄), the ttH(bb) significance, the κ_c interval, CMS's numbers and the
sentence that a demo-size sample is not comparable), and the whole chain at a tiny size (slow)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from rich.console import Console

from higgsflow.train.tthcc_demo import (
    CLASSES,
    CMS,
    _limit_kappa,
    classifier_aucs,
    print_tthcc_summary,
    tthcc_summary_lines,
)


@pytest.fixture(autouse=True)
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _fake(kappa_hi: float = 4.2) -> dict:
    auc = lambda a: {"auc": a, "lo": a - 0.02, "hi": a + 0.02, "n_sig": 50, "n_bkg": 400}  # noqa: E731
    nets = {
        "event_part": {"per_class": {c: auc(0.80 + 0.01 * i) for i, c in enumerate(CLASSES)}, "tthcc_vs_ttjets": auc(0.91)},
        "dnn": {"per_class": {c: auc(0.70) for c in CLASSES}, "tthcc_vs_ttjets": auc(0.77)},
    }  # fmt: skip
    mu = 12.0
    return {
        "classifiers": nets,
        "events": {c: {"train": 100, "test": 60} for c in CLASSES},
        "fit": {
            "regions": 25,
            "regions_dropped": {"2L_SR_ttZbb": "no background events", "2L_CR_tt2b": "no events"},
            "lumi_fb": 138.0,
            "xsec_tth_pb": 0.5071,
            "br_hcc": 0.02884,
            "mu_limit": {"expected": mu},
            "sigma_br_limit_pb": {
                "expected": mu * 0.5071 * 0.02884,
                "band": [0.09, 0.12, mu * 0.5071 * 0.02884, 0.25, 0.33],
            },
            "tthbb_significance": {"expected_z": 1.234},
            "kappa_c": {"interval95": [0.0, kappa_hi], "scan_max": 10.0},
        },
        "cms": CMS,
        "timings_s": {"total": 412.0},
        "demo_size": True,
    }


def test_summary_prints_aucs_limit_in_pb_significance_and_kappa_next_to_cms(capsys):
    s = _fake()
    text = "\n".join(tthcc_summary_lines(s))
    # per-class AUCs of both networks, and the ttH(cc)-vs-tt+jets AUC
    assert "ttZbb" in text and "0.830 [0.81,0.85]" in text and "0.700" in text
    assert "ttH(cc) vs tt+jets" in text and "0.910" in text and "0.770" in text
    # the limit in pb is μ limit × σ_ttH × B(H→cc̄) = 12 × 0.5071 × 0.02884
    assert f"{12 * 0.5071 * 0.02884:.3f} pb (±1σ [0.120, 0.250] pb" in text and "μ_ttH(cc) < 12.0" in text
    assert "CMS: 0.13 pb expected (0.11 observed)" in text
    assert "significance: 1.23 σ" in text
    assert "|κ_c| < 4.20" in text and "CMS: κ_c < 3.5" in text
    assert "2 of 27 left out" in text
    assert "demo-size sample is not comparable" in text and "6.9 min" in text
    print_tthcc_summary(s, Console(file=None, width=200, force_terminal=False))
    assert "not comparable" in capsys.readouterr().out


def test_summary_of_a_limit_beyond_the_scan_and_a_failed_limit():
    s = _fake(kappa_hi=math.inf)
    s["fit"]["mu_limit"] = {"expected": math.nan, "error": "cannot bracket"}
    s["fit"]["sigma_br_limit_pb"] = {"expected": math.nan, "error": "cannot bracket"}
    text = "\n".join(tthcc_summary_lines(s))
    assert "no upper bound within the scanned [0, 10]" in text
    assert "n/a" in text and "cannot bracket" in text


def test_kappa_of_a_signal_strength():
    # μ(κ_c) = κ_c² / (1 + B_cc (κ_c² − 1)): κ_c = 3 ↔ μ = 9 / (1 + 8 B_cc); beyond 1/B_cc no κ_c reaches it
    b = 0.02884
    assert _limit_kappa(9 / (1 + 8 * b)) == pytest.approx(3.0)
    assert _limit_kappa(1 / b + 1) == math.inf


def test_classifier_aucs_one_vs_rest_and_against_tt_jets():
    rng = np.random.default_rng(1)
    n = 400
    cls = rng.integers(0, len(CLASSES), n)
    cols = {f"label_{c}": (cls == i).astype(np.int32) for i, c in enumerate(CLASSES)}
    for i, c in enumerate(CLASSES):
        cols[f"score_{c}"] = (cls == i) * 1.0 + rng.uniform(0, 0.5, n) * (c != "ttlf")
    out = classifier_aucs(cols)
    assert out["per_class"]["ttHcc"]["auc"] == pytest.approx(1.0)
    assert out["per_class"]["ttlf"]["auc"] == pytest.approx(1.0)
    assert out["tthcc_vs_ttjets"]["n_sig"] == int((cls == 0).sum())
    assert out["tthcc_vs_ttjets"]["n_bkg"] == int(np.isin(cls, [4, 5, 6, 7, 8]).sum())


@pytest.mark.slow
def test_the_chain_at_a_tiny_size(tmp_path):
    """Particles → AK4 tagger → events → event ParT and DNN → regions → workspace → limit and κ_c scan."""
    from higgsflow.train.tthcc_demo import run_tthcc_demo

    sizes = {"ttHcc": 40, "ttHbb": 30, "ttZcc": 20, "ttZbb": 20, "tt": 80, "tt_enrich_b": 3, "tt_enrich_c": 5}
    r = run_tthcc_demo(
        tmp_path / "demo",
        sizes=sizes,
        jets_per_class=20,
        tagger_epochs=1,
        epochs=2,
        workers=2,
        kappa_points=5,
    )
    s = json.loads(r.summary_path.read_text())
    assert set(s["classifiers"]) == {"event_part", "dnn"}
    assert s["fit"]["regions"] + len(s["fit"]["regions_dropped"]) == 27
    spec = json.loads(r.workspace.read_text())
    assert {c["name"] for c in spec["channels"]}.isdisjoint(s["fit"]["regions_dropped"])
    # the weights of the test events (30 % of each sample, rescaled) still add up to the cross sections: the
    # ttH(cc) events of the workspace at 138 fb⁻¹ are at most σ_ttH B(H→cc̄) L
    tthcc = sum(
        sum(smp["data"]) for ch in spec["channels"] for smp in ch["samples"] if smp["name"] == "ttHcc"
    )
    assert 0 < tthcc <= 0.5071 * 0.02884 * 138e3 * 1.5
    assert "not comparable" in "\n".join(tthcc_summary_lines(s))
    # the shape systematics: a histosys of every nuisance on the samples, their sizes in the summary
    names = {m["name"] for ch in spec["channels"] for smp in ch["samples"] for m in smp["modifiers"]}
    assert {"jes", "tag_b", "tag_c", "tag_light"} <= names
    assert set(s["fit"]["systematics"]) == {"jes", "tag_b", "tag_c", "tag_light"}
    # the same events again with another training seed: samples untouched, the same split, new classifiers
    events_file = tmp_path / "demo" / "events" / "tt.parquet"
    stamp = events_file.stat().st_mtime_ns
    r2 = run_tthcc_demo(
        tmp_path / "demo", sizes=sizes, jets_per_class=20, tagger_epochs=1, epochs=2, workers=2, kappa_points=5,
        train_seed=7, reuse_samples=True,
    )  # fmt: skip
    s2 = json.loads(r2.summary_path.read_text())
    assert events_file.stat().st_mtime_ns == stamp
    assert s2["events"] == s["events"] and (s2["seed"], s2["train_seed"], s2["reused_samples"]) == (
        1,
        7,
        True,
    )
    assert s2["classifiers"]["event_part"] != s["classifiers"]["event_part"]


def test_dttx_cuts_keep_most_tt_jets_in_the_control_regions():
    from higgsflow.train.tthcc_demo import dttx_cuts

    rng = np.random.default_rng(2)
    n = 2000
    d = rng.uniform(0, 1, n)  # D_ttX of tt+lf events spread over [0, 1]
    cols = {f"score_{c}": np.zeros(n) for c in CLASSES}
    cols["score_ttHcc"] = d
    cols["score_ttlf"] = 1 - d
    cols.update({f"label_{c}": np.zeros(n, np.int32) for c in CLASSES})
    cols["label_ttlf"][:] = 1
    cols["channel"] = np.where(np.arange(n) < 1997, 1, 2)  # 1L, and only 3 events in 2L
    cuts = dttx_cuts(cols, quantile=0.8)
    assert cuts["1L"] == pytest.approx(0.8, abs=0.03)
    assert cuts["0L"] == 0.5 and cuts["2L"] == 0.5  # too few tt+jets events: the shipped boundary


def test_asimov_checks_fit_all_regions_and_each_alone():
    """On a workspace of the 1L regions (random scores, weights of a few classes), the Asimov fit of all regions
    together and of each region alone converges with no pull: what the benchmark's gate checks."""
    from higgsflow.events import build_fit, default_regions
    from higgsflow.train.tthcc_demo import asimov_checks

    rng = np.random.default_rng(5)
    n = 3000
    cls = rng.choice(len(CLASSES), n, p=[0.1, 0.1, 0.05, 0.05, 0.4, 0.075, 0.075, 0.075, 0.075])
    s = rng.dirichlet(np.ones(len(CLASSES)), n) + 0.5 * np.eye(len(CLASSES))[cls]
    s /= s.sum(1, keepdims=True)
    cols = {f"score_{c}": s[:, i] for i, c in enumerate(CLASSES)}
    cols.update({f"label_{c}": (cls == i).astype(np.int32) for i, c in enumerate(CLASSES)})
    cols["channel"] = np.ones(n, np.int32)
    cols["weight"] = np.where(cls < 4, 1e-4, 1e-2)
    regions = [r for r in default_regions(0.5) if r["Name"].startswith("1L_")][
        :3
    ]  # 1L_SR_ttHcc, _ttHbb, _ttZcc
    regions += [r for r in default_regions(0.5) if r["Name"] == "1L_CR_ttlf"]
    _, spec = build_fit(cols, regions, mcstat_threshold=0.05)
    out = asimov_checks(spec)
    assert set(out["fits"]) == {"all regions", *(r["Name"] for r in regions)}
    assert out["passed"] and all(r["converged"] and r["max_pull"] < 1e-2 for r in out["fits"].values())


def _finished_run_folder(root, sizes, events=None):
    """A folder laid out as a finished run: marker, events (with their generated count), jets, scored jets,
    tagger summary and model; derived outputs that reusing removes."""
    from higgsflow.data.io import write_table
    from higgsflow.train.demo import _MARKER

    (root / "events").mkdir(parents=True)
    (root / "scored_jets").mkdir()
    (root / "tagger" / "run").mkdir(parents=True)
    (root / _MARKER).write_text("made by higgsflow demo\n")
    for name in sizes:
        write_table(root / "events" / f"{name}.parquet", {"x": np.zeros(3)},
                    metadata={"events_written": (events or sizes)[name]})  # fmt: skip
        for f in (root / "events" / f"{name}_jets.parquet", root / "scored_jets" / f"{name}_jets.parquet"):
            f.write_bytes(b"jets")
    (root / "tagger" / "flavour.json").write_text(json.dumps({"discriminants": {}}))
    (root / "tagger" / "run" / "model.pt").write_bytes(b"model")
    (root / "run_event_part").mkdir()
    (root / "prepared_train.parquet").write_bytes(b"old")
    (root / "tthcc.json").write_text("{}")


def test_reusing_a_run_folder_keeps_its_samples_and_clears_what_derives_from_them(tmp_path):
    from higgsflow.train.tthcc_demo import reuse_sample_folder

    sizes = {"ttHcc": 40, "tt": 80}
    _finished_run_folder(tmp_path / "run", sizes)
    out, files, flavour = reuse_sample_folder(tmp_path / "run", sizes)
    assert files["tt"] == (out / "events" / "tt.parquet", out / "events" / "tt_jets.parquet")
    assert flavour.run_dir == out / "tagger" / "run" and flavour.summary == {"discriminants": {}}
    assert all(p.is_file() for pair in files.values() for p in pair)
    assert (out / "scored_jets" / "tt_jets.parquet").is_file()
    for gone in ("run_event_part", "prepared_train.parquet", "tthcc.json"):  # made anew by the run
        assert not (out / gone).exists()


def test_reusing_an_incomplete_or_foreign_folder_is_refused_and_removes_nothing(tmp_path):
    from higgsflow.errors import DataError
    from higgsflow.train.tthcc_demo import reuse_sample_folder

    sizes = {"ttHcc": 40, "tt": 80}
    (tmp_path / "mine").mkdir()
    with pytest.raises(DataError, match="no earlier run's samples"):
        reuse_sample_folder(tmp_path / "mine", sizes)
    _finished_run_folder(tmp_path / "run", sizes)
    (tmp_path / "run" / "scored_jets" / "tt_jets.parquet").unlink()
    with pytest.raises(DataError, match=r"tt_jets\.parquet.*missing"):
        reuse_sample_folder(tmp_path / "run", sizes)
    assert (tmp_path / "run" / "tthcc.json").is_file()  # nothing removed
    _finished_run_folder(tmp_path / "other", sizes, events={"ttHcc": 40, "tt": 800})
    with pytest.raises(DataError, match="made with 800 events, not 80"):
        reuse_sample_folder(tmp_path / "other", sizes)
    assert (tmp_path / "other" / "run_event_part").is_dir()
