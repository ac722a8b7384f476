"""The ``higgsflow eft`` command line, end to end on a tiny sample."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from higgsflow.cli import main
from higgsflow.eft.cli import app
from higgsflow.eft.weights import read_sample


def test_generate_train_limits(tmp_path, monkeypatch, capsys):
    runner = CliRunner()
    sample, model, out = tmp_path / "zh.parquet", tmp_path / "bits.npz", tmp_path / "limits"
    r = runner.invoke(app, ["generate-zh", "-o", str(sample), "--n-events", "6000", "--seed", "3"])
    assert r.exit_code == 0, r.output
    feats, coeffs, names, meta = read_sample(sample)
    assert names == ["cHq1", "cHq3", "cHu", "cHd", "g2ZZ", "g4ZZ"] and coeffs.shape[1] == 28
    assert json.loads(meta["settings"])["seed"] == 3 and "reco_m_bb" in feats
    # existing outputs are not replaced without --overwrite (exit code 1, one-line message)
    r = runner.invoke(app, ["generate-zh", "-o", str(sample), "--n-events", "10"])
    assert r.exit_code == 1 and "overwrite" in str(r.exception)
    r = runner.invoke(
        app, ["train", "-s", str(sample), "-o", str(model), "--n-trees", "10", "--mode", "hist", "--joint"]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        [
            "limits",
            "-s",
            str(sample),
            "-m",
            str(model),
            "-o",
            str(out),
            "--n-trials",
            "4",
            "--n-scan",
            "9",
            "--no-profile",
            "--contour",
            "",
        ],
    )
    assert r.exit_code == 0, r.output
    res = json.loads((out / "limits.json").read_text())
    for label in ("BIT", "exact"):
        for nm in names:
            pieces = res["templates"][label]["intervals"][nm]["fixed_95"]
            assert pieces and pieces[0][0] < 0 < pieces[-1][1]  # the SM lies inside its expected interval
    # the learned template is no better than the exact-ratio one (up to scan granularity)
    w = {
        lab: np.sum([np.diff(p).sum() for p in e["intervals"].values() for p in [np.array(p["fixed_95"])]])
        for lab, e in res["templates"].items()
    }
    assert w["BIT"] >= 0.9 * w["exact"]
    assert (out / "scans.png").stat().st_size > 1000 and (out / "template.png").exists()

    # with valid inputs, an unwritable or existing output is refused before the θ* search starts
    import higgsflow.eft.template

    def no_work(*args, **kwargs):
        raise AssertionError("computed before checking the outputs")

    monkeypatch.setattr(higgsflow.eft.template, "optimise_theta_star", no_work)
    (tmp_path / "afile").write_text("x")
    base = ["eft", "limits", "-s", str(sample), "-m", str(model), "--n-trials", "4", "--n-scan", "9"]
    for target, expect in ((tmp_path / "afile" / "limits", "not a folder"), (out, "--overwrite")):
        capsys.readouterr()
        assert main([*base, "-o", str(target)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:") and expect in err[0], err
    assert main([*base, "-o", str(tmp_path / "afile" / "limits"), "--overwrite"]) == 1


def test_generate_with_pythia_background(tmp_path):
    import pytest

    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    runner = CliRunner()
    sample = tmp_path / "zh.parquet"
    # the Pythia 8 background needs the showered reconstruction
    r = runner.invoke(
        app, ["generate-zh", "-o", str(sample), "--n-events", "20", "--background-events", "10"]
    )
    assert r.exit_code != 0 and "shower" in str(r.exception) and not sample.exists()
    args = ["generate-zh", "-o", str(sample), "--n-events", "20", "--shower", "--background-events", "30"]
    r = runner.invoke(app, [*args, "--no-detector"])
    assert r.exit_code == 0, r.output
    _, coeffs, _, meta = read_sample(tmp_path / "zh_zjets.parquet")
    settings = json.loads(meta["settings"])
    assert "particle level" in settings["reconstruction"] and len(coeffs) == 30 and settings["sigma_pb"] > 100
