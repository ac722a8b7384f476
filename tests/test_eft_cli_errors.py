"""Exit codes of ``higgsflow eft``: user errors exit 1 with one line naming the file or option, before any work;
wrong usage exits 2."""

from __future__ import annotations

import pytest

from higgsflow.cli import main


@pytest.fixture
def where(tmp_path):
    (tmp_path / "afile").write_text("a regular file, not a folder")
    return tmp_path


def _one_error_line(capsys, argv, *names):
    """Run ``higgsflow argv``; assert exit code 1 and one stderr line "error: ..." holding every name."""
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    lines = err.splitlines()
    assert rc == 1, err
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    for name in names:
        assert str(name) in lines[0], err
    return lines[0]


GENERATE_ERRORS = [
    (["--n-events", "0"], ["n_events"]),
    (["--n-events", "-5"], ["n_events"]),
    (["--sqrt-shat-max", "100"], ["sqrt_shat_max", "216.3 GeV"]),
    (["--pt-z-min", "-1"], ["pt_z_min"]),
    (["--pt-z-min", "5000"], ["pt_z_min"]),  # above the largest pT(Z) at √ŝ ≤ 3 TeV
    (["--background-events", "-1"], ["background_events"]),
    (["--background-events", "10"], ["background_events", "shower"]),  # needs --shower
]


@pytest.mark.parametrize(("extra", "names"), GENERATE_ERRORS)
def test_generate_bad_option_values_exit_1(where, capsys, extra, names):
    out = where / "zh.parquet"
    _one_error_line(capsys, ["eft", "generate-zh", "-o", str(out), "--n-events", "200", *extra], *names)
    assert not out.exists()


def test_generate_refuses_unwritable_or_existing_outputs_before_any_work(where, capsys):
    blocked = where / "afile" / "zh.parquet"
    _one_error_line(
        capsys, ["eft", "generate-zh", "-o", str(blocked), "--n-events", "200"], blocked, "not a folder"
    )
    # an unwritable LHE path is found before the sample is written (all outputs or none)
    out, lhe = where / "zh.parquet", where / "afile" / "zh.lhe"
    _one_error_line(
        capsys,
        ["eft", "generate-zh", "-o", str(out), "--n-events", "200", "--lhe", str(lhe)],
        lhe,
        "not a folder",
    )
    assert not out.exists()
    # the Z+jets background next to the sample exists: refused before Pythia showers anything
    (where / "zh_zjets.parquet").write_text("old")
    argv = ["eft", "generate-zh", "-o", str(out), "--n-events", "20", "--shower", "--background-events", "5"]
    _one_error_line(capsys, argv, where / "zh_zjets.parquet", "--overwrite")
    assert not out.exists() and not out.with_suffix(".lhe").exists()
    out.write_text("old")
    _one_error_line(capsys, ["eft", "generate-zh", "-o", str(out), "--n-events", "200"], out, "--overwrite")
    assert out.read_text() == "old"


def test_train_user_errors_exit_1(where, capsys):
    model = where / "bits.npz"
    missing = where / "missing.parquet"
    _one_error_line(capsys, ["eft", "train", "-s", str(missing), "-o", str(model)], missing, "not found")
    # a file that is not Parquet is the user's, not a bug
    _one_error_line(
        capsys, ["eft", "train", "-s", str(where / "afile"), "-o", str(model)], "afile", "Parquet"
    )
    # option values are checked before the sample is read
    for option, value, name in [
        ("--level", "partons", "level"),
        ("--mode", "fast", "mode"),
        ("--backend", "lightgbm", "backend"),
        ("--n-trees", "0", "n_trees"),
        ("--max-depth", "0", "max_depth"),
        ("--learning-rate", "-0.1", "learning_rate"),
        ("--min-size", "0", "min_size"),
        ("--features", "m_zh,,pt_z", "--features"),
    ]:
        _one_error_line(capsys, ["eft", "train", "-s", str(missing), "-o", str(model), option, value], name)
    # outputs (the model and its JSON sidecar) before the sample is read
    blocked = where / "afile" / "bits.npz"
    _one_error_line(capsys, ["eft", "train", "-s", str(missing), "-o", str(blocked)], blocked, "not a folder")
    model.with_suffix(".json").write_text("{}")
    _one_error_line(
        capsys,
        ["eft", "train", "-s", str(missing), "-o", str(model)],
        model.with_suffix(".json"),
        "--overwrite",
    )
    assert not model.exists()


LIMITS_ERRORS = [
    (["--m-bb-window", "abc"], ["--m-bb-window", "90,150"]),
    (["--m-bb-window", "90"], ["--m-bb-window"]),
    (["--m-bb-window", "150,90"], ["m_bb_window"]),
    (["--contour", "cHq3"], ["--contour"]),
    (["--contour", "cHq3,cHq3"], ["contour"]),
    (["--n-bins", "0"], ["n_bins"]),
    (["--n-trials", "0"], ["n_trials"]),
    (["--n-scan", "1"], ["n_scan"]),
    (["--lumi", "-1"], ["lumi_fb"]),
    (["--norm-uncertainty", "-0.1"], ["norm_uncertainty"]),
    (["--background-ratio", "-2"], ["background_ratio"]),
]


@pytest.mark.parametrize(("extra", "names"), LIMITS_ERRORS)
def test_limits_bad_option_values_exit_1(where, capsys, extra, names):
    argv = [
        "eft",
        "limits",
        "-s",
        str(where / "zh.parquet"),
        "-m",
        str(where / "bits.npz"),
        "-o",
        str(where / "lim"),
    ]
    _one_error_line(capsys, [*argv, *extra], *names)


def test_limits_missing_inputs_and_unwritable_outputs_exit_1(where, capsys):
    sample, model = where / "zh.parquet", where / "bits.npz"
    base = ["eft", "limits", "-s", str(sample), "-m", str(model)]
    _one_error_line(capsys, [*base, "-o", str(where / "lim")], model, "not found")
    blocked = where / "afile" / "limits"
    _one_error_line(capsys, [*base, "-o", str(blocked)], blocked / "limits.json", "not a folder")
    # an output folder that is a file
    _one_error_line(capsys, [*base, "-o", str(where / "afile")], "afile", "not a folder")
    # any of the outputs existing, not only limits.json
    (where / "lim").mkdir()
    (where / "lim" / "contour.png").write_text("old")
    _one_error_line(capsys, [*base, "-o", str(where / "lim")], where / "lim" / "contour.png", "--overwrite")


@pytest.mark.parametrize(
    "argv",
    [
        ["eft", "limits", "-m", "bits.npz", "-o", "lim"],  # --sample missing
        ["eft", "generate-zh", "-o", "zh.parquet", "--n-events", "many"],
        ["eft", "train", "-s", "zh.parquet", "-o", "bits.npz", "--no-such-option"],
        ["eft", "no-such-command"],
    ],
)
def test_wrong_usage_exits_2(where, capsys, argv, monkeypatch):
    monkeypatch.chdir(where)
    assert main(argv) == 2
    assert not (where / "zh.parquet").exists()
