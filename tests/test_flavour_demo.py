"""`higgsflow demo --task flavour`: the AK4 chain at small scale, its summary's figures and its bad options."""

from __future__ import annotations

import json

import numpy as np
import pytest

from higgsflow.train.flavour_demo import FLAVOUR_CLASSES, flavour_summary


def _heads(label, rng, sharp: float):
    """Softmax scores that put ``sharp`` of the mass on the true class, the rest spread at random."""
    k = len(FLAVOUR_CLASSES)
    noise = rng.dirichlet(np.ones(k), size=label.size) * (1 - sharp)
    noise[np.arange(label.size), label] += sharp
    return {"softmax": noise.astype(np.float32)}


def test_summary_of_a_perfect_tagger_and_regression():
    rng = np.random.default_rng(3)
    label = np.repeat(np.arange(len(FLAVOUR_CLASSES)), 200)
    heads = _heads(label, rng, sharp=0.9)
    pt = rng.uniform(30, 300, label.size)
    response = rng.lognormal(0.0, 0.15, label.size)  # p_T / p_T,gen
    gen = pt / response
    heads["pt_corr"] = (gen / pt).astype(np.float32)  # the exact correction
    heads["pt_q16"] = heads["pt_corr"] * 0.5
    heads["pt_q84"] = heads["pt_corr"] * 2.0
    s = flavour_summary(heads, label, FLAVOUR_CLASSES, pt, gen)
    for key in ("BvsAll", "CvsL", "CvsB", "QvsG"):
        assert s["discriminants"][key]["auc"] == 1.0  # the true class always has the largest share
    d = s["discriminants"]
    assert d["BvsAll"]["n_sig"] == 400 and d["BvsAll"]["n_bkg"] == 600  # b + bb against ud + s + g
    assert d["CvsB"]["n_sig"] == 400 and d["CvsB"]["n_bkg"] == 400
    wp = s["working_point"]
    assert wp["eff_light"] <= 0.1 and wp["eff_b"] == 1.0
    b = s["pt_resolution"]["b"]
    assert b["regressed"] == pytest.approx(0.0, abs=1e-6)  # exact correction: no spread left
    assert b["raw"] == pytest.approx(0.15, rel=0.2)  # the log-normal's width
    assert s["coverage_16_84"] == 1.0


def test_summary_of_a_blind_tagger_is_at_chance():
    rng = np.random.default_rng(4)
    label = np.repeat(np.arange(len(FLAVOUR_CLASSES)), 400)
    heads = {"softmax": rng.dirichlet(np.ones(len(FLAVOUR_CLASSES)), size=label.size).astype(np.float32)}
    pt = rng.uniform(30, 300, label.size)
    s = flavour_summary(heads, label, FLAVOUR_CLASSES, pt, pt * 1.1)
    for row in s["discriminants"].values():
        assert abs(row["auc"] - 0.5) < 0.06 and row["lo"] < row["auc"] < row["hi"]
    assert s["working_point"]["eff_b"] == pytest.approx(0.1, abs=0.05)  # b tagged as often as light
    assert "regressed" not in s["pt_resolution"]["b"] and "coverage_16_84" not in s


@pytest.mark.parametrize(
    ("argv", "field"),
    [(["--task", "ttbar"], "--task"), (["--task", "flavour", "--toy"], "--toy")],
)
def test_demo_rejects_bad_task_options_in_one_line(tmp_path, capsys, argv, field):
    from higgsflow.cli import main

    rc = main(["demo", *argv, "--out", str(tmp_path / "d")])
    err = capsys.readouterr().err.strip()
    assert rc == 1
    assert len(err.splitlines()) == 1 and err.startswith("error:") and field in err
    assert not (tmp_path / "d").exists()


@pytest.mark.slow
def test_flavour_demo_runs_the_ak4_chain(tmp_path, capsys):
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    from higgsflow.cli import main

    out = tmp_path / "d"
    rc = main(["demo", "--task", "flavour", "--out", str(out), "--jets-per-class", "40", "--epochs", "2"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "Small UParT-AK4 trained on 192 jets for 2 epochs" in text
    for row in ("BvsAll AUC (b vs light)", "CvsL AUC", "at 10% light mistag", "[q16, q84] coverage"):
        assert row in text
    summary = json.loads((out / "flavour.json").read_text())
    assert summary["discriminants"]["BvsAll"]["n_sig"] + summary["discriminants"]["BvsAll"]["n_bkg"] > 0
    assert (out / "run" / "eval" / "roc.png").is_file()


def test_flavour_roc_plot_curves_match_the_cut_counts(tmp_path):
    from higgsflow.tagging.plots import efficiency_curve, plot_flavour_rocs

    rng = np.random.default_rng(5)
    flavour = np.r_[np.full(300, 5), np.full(300, 4), np.full(600, 0)]
    bvsall = np.r_[rng.uniform(0.5, 1, 300), rng.uniform(0.2, 0.8, 300), rng.uniform(0, 0.6, 600)]
    eff, mis, auc = efficiency_curve(bvsall, flavour == 5, flavour == 0)
    # every point is a cut: the b efficiency and light rate are the fractions above some threshold
    for t in (0.55, 0.58):
        e, m = np.mean(bvsall[flavour == 5] > t), np.mean(bvsall[flavour == 0] > t)
        assert np.any(np.isclose(eff, e) & np.isclose(mis, m, atol=1 / 600))
    assert auc == pytest.approx(1 - 0.5 * 0.1 * 0.2 / (0.5 * 0.6), abs=0.03)  # overlap [0.5, 0.6] only
    disc = {"BvsAll": bvsall, "CvsL": rng.uniform(size=1200), "CvsB": rng.uniform(size=1200)}
    path = plot_flavour_rocs(disc, flavour, tmp_path / "d.png", com=13.6)
    assert path.is_file() and path.stat().st_size > 10_000
    with pytest.raises(Exception, match="exists"):
        plot_flavour_rocs(disc, flavour, tmp_path / "d.png")
