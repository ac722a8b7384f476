"""``higgsflow stats``: exit codes, one-line errors naming the file/field, outputs checked before any computation,
all-or-nothing writing, ``--out`` everywhere, intervals beyond the scanned range, configurable κ POIs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import higgsflow.stats as st
from higgsflow.cli import main

SRC = Path(__file__).resolve().parents[1] / "src"


def small_spec(data_mu: float = 2.0, cc: str = "mu_ttHcc", bb: str = "mu_ttHbb") -> dict:
    """One region, three bins: a cc signal, a bb signal and a background with a 5% normalisation systematic."""
    return {
        "channels": [
            {
                "name": "SR",
                "samples": [
                    {
                        "name": "ttHcc",
                        "data": [2.0, 5.0, 9.0],
                        "modifiers": [{"name": cc, "type": "normfactor", "data": None}],
                    },
                    {
                        "name": "ttHbb",
                        "data": [3.0, 6.0, 4.0],
                        "modifiers": [{"name": bb, "type": "normfactor", "data": None}],
                    },
                    {
                        "name": "bkg",
                        "data": [100.0, 40.0, 12.0],
                        "modifiers": [
                            {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.05, "lo": 0.95}}
                        ],
                    },
                ],
            }
        ],
        "observations": [{"name": "SR", "data": [100 + 5 * data_mu, 46 + 6 * data_mu, 12 + 13 * data_mu]}],
        "measurements": [
            {
                "name": "m",
                "config": {
                    "poi": cc,
                    "parameters": [
                        {"name": cc, "bounds": [[-10, 30]], "inits": [1.0]},
                        {"name": bb, "bounds": [[-10, 30]], "inits": [1.0]},
                    ],
                },
            }
        ],
        "version": "1.0.0",
    }


@pytest.fixture
def ws(tmp_path) -> Path:
    path = tmp_path / "ws.json"
    path.write_text(json.dumps(small_spec()))
    return path


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error:"), err
    return err[0]


# command → (extra arguments, the library function that does the work, result option)
COMMANDS = {
    "fit": ([], "higgsflow.stats.fit", "-o"),
    "limit": ([], "higgsflow.stats.upper_limit", "-o"),
    "significance": ([], "higgsflow.stats.significance", "--out"),
    "scan": (["--min", "0", "--max", "4", "--points", "5"], "higgsflow.stats.scan", "-o"),
    "scan2d": (["--x", "mu_ttHcc", "--y", "mu_ttHbb", "--points", "3"], "higgsflow.stats.scan_2d", "-o"),
    "impacts": (["--workers", "1"], "higgsflow.stats.impacts", "-o"),
    "yields": ([], "higgsflow.stats.yields", "--latex"),
    "kappa": (["--points", "3"], "higgsflow.stats.kappa.kappa_scan", "-o"),
}


def _forbid(monkeypatch, target: str) -> None:
    module, _, name = target.rpartition(".")

    def computed(*args, **kwargs):
        raise AssertionError(f"{target} ran although an output was refused")  # would be exit code 3

    monkeypatch.setattr(f"{module}.{name}", computed)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_existing_output_refused_before_computing(command, ws, tmp_path, monkeypatch, capsys):
    extra, target, option = COMMANDS[command]
    existing = tmp_path / "result.out"
    existing.write_text("keep me")
    _forbid(monkeypatch, target)
    assert main(["stats", command, str(ws), *extra, option, str(existing)]) == 1
    line = one_error_line(capsys)
    assert str(existing) in line and "exists" in line and "--overwrite" in line
    assert existing.read_text() == "keep me"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_unwritable_output_refused_before_computing(command, ws, tmp_path, monkeypatch, capsys):
    extra, target, option = COMMANDS[command]
    afile = tmp_path / "afile"
    afile.write_text("")
    _forbid(monkeypatch, target)
    assert main(["stats", command, str(ws), *extra, option, str(afile / "out.json")]) == 1
    line = one_error_line(capsys)
    assert str(afile / "out.json") in line and "not a folder" in line


@pytest.mark.parametrize(
    ("command", "argv", "field"),
    [
        ("fit", ["--poi", "nope"], "--poi"),
        ("limit", ["--poi", "nope"], "--poi"),
        ("significance", ["--poi", "nope"], "--poi"),
        ("scan", ["--parameter", "nope"], "--parameter"),
        ("scan2d", ["--x", "mu_ttHcc", "--y", "nope"], "--y"),
        ("impacts", ["--poi", "nope"], "--poi"),
        ("kappa", ["--poi-cc", "nope"], "--poi-cc"),
    ],
)
def test_unknown_parameter_is_one_line_naming_workspace_and_option(command, argv, field, ws, capsys):
    assert main(["stats", command, str(ws), *argv]) == 1
    line = one_error_line(capsys)
    assert str(ws) in line and field in line and "'nope'" in line and "mu_ttHcc" in line


@pytest.mark.parametrize("command", list(COMMANDS))
def test_unreadable_workspace_is_one_line(command, tmp_path, capsys):
    bad = tmp_path / "ws.json"
    bad.write_text("{not json")
    extra = COMMANDS[command][0]
    assert main(["stats", command, str(bad), *extra]) == 1
    assert str(bad) in one_error_line(capsys)


def test_old_output_option_and_own_verbose_flag_are_gone(ws, capsys):
    assert main(["stats", "limit", str(ws), "--output", "x.json"]) == 2
    assert main(["stats", "-v", "limit", str(ws)]) == 2


def test_root_verbose_shows_the_traceback_of_a_stats_error(tmp_path, capsys):
    assert main(["-v", "stats", "limit", str(tmp_path / "missing.json")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "workspace not found" in err


def test_limit_existing_plot_refused_before_computing(ws, tmp_path, monkeypatch, capsys):
    (tmp_path / "limit.png").write_bytes(b"png")
    _forbid(monkeypatch, "higgsflow.stats.upper_limit")
    assert (
        main(
            [
                "stats",
                "limit",
                str(ws),
                "-o",
                str(tmp_path / "new.json"),
                "--plot",
                str(tmp_path / "limit.png"),
            ]
        )
        == 1
    )
    assert "limit.png" in one_error_line(capsys)
    assert not (tmp_path / "new.json").exists()


def test_yields_existing_stack_plot_refused_before_fitting(ws, tmp_path, monkeypatch, capsys):
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "SR_post-fit.png").write_bytes(b"png")
    _forbid(monkeypatch, "higgsflow.stats.fit")
    assert main(["stats", "yields", str(ws), "--postfit", "--plots", str(tmp_path / "stacks")]) == 1
    assert "SR_post-fit.png" in one_error_line(capsys)


# ----------------------------------------------------------------------------------------------- build
def _analysis(tmp_path: Path, **region) -> Path:
    rng = np.random.default_rng(3)
    import awkward as ak

    for name, n, a in (("sig", 2000, 4.0), ("bkg", 20000, 1.0)):
        ak.to_parquet(
            ak.Array({"score": rng.beta(a, 2.0, n), "weight": np.full(n, 0.01 if name == "sig" else 0.02)}),
            tmp_path / f"{name}.parquet",
        )
    cfg = {
        "General": {"POI": "mu"},
        "Regions": [{"Name": "SR", "Variable": "score", "Binning": [0, 0.5, 0.8, 1], **region}],
        "Samples": [
            {"Name": "data", "Path": "bkg.parquet", "Data": True},
            {"Name": "sig", "Path": "sig.parquet"},
            {"Name": "bkg", "Path": "bkg.parquet"},
        ],
        "NormFactors": [{"Name": "mu", "Samples": ["sig"], "Bounds": [0, 20]}],
    }
    path = tmp_path / "analysis.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_build_unknown_key_is_one_line(tmp_path, capsys):
    cfg = _analysis(tmp_path, Bining=[0, 1])
    assert main(["stats", "build", str(cfg), "-o", str(tmp_path / "ws.json")]) == 1
    line = one_error_line(capsys)
    assert str(cfg) in line and "Regions[0]" in line and "Bining" in line
    assert not (tmp_path / "ws.json").exists()


def test_build_unknown_column_names_config_key_and_data_file(tmp_path, capsys):
    cfg = _analysis(tmp_path, Variable="score_Hbb")
    assert main(["stats", "build", str(cfg), "-o", str(tmp_path / "ws.json")]) == 1
    line = one_error_line(capsys)
    assert (
        str(cfg) in line and "Regions.SR.Variable" in line and "'score_Hbb'" in line and "bkg.parquet" in line
    )


def test_build_existing_output_refused_before_reading(tmp_path, monkeypatch, capsys):
    cfg = _analysis(tmp_path)
    (tmp_path / "ws.json").write_text("{}")
    _forbid(monkeypatch, "higgsflow.stats.templates_from_files")
    assert main(["stats", "build", str(cfg), "--out", str(tmp_path / "ws.json")]) == 1
    assert "ws.json: output exists" in one_error_line(capsys)


def test_build_unwritable_output_is_one_line(tmp_path, monkeypatch, capsys):
    cfg = _analysis(tmp_path)
    (tmp_path / "afile").write_text("")
    _forbid(monkeypatch, "higgsflow.stats.templates_from_files")
    assert main(["stats", "build", str(cfg), "-o", str(tmp_path / "afile" / "ws.json")]) == 1
    line = one_error_line(capsys)
    assert "afile/ws.json" in line and "not a folder" in line


def test_build_unwritable_datacard_leaves_no_workspace(tmp_path, capsys):
    cfg = _analysis(tmp_path)
    (tmp_path / "afile").write_text("")
    argv = [
        "stats",
        "build",
        str(cfg),
        "-o",
        str(tmp_path / "ws.json"),
        "--datacard",
        str(tmp_path / "afile"),
    ]
    assert main(argv) == 1
    assert "not a folder" in one_error_line(capsys)
    assert not (tmp_path / "ws.json").exists()


def test_build_failure_while_writing_removes_what_it_wrote(tmp_path, monkeypatch, capsys):
    from higgsflow.errors import DataError

    cfg = _analysis(tmp_path)

    def broken(spec, directory, **kwargs):
        Path(directory).mkdir(parents=True, exist_ok=True)
        (Path(directory) / "shapes.root").write_bytes(b"half")
        raise DataError("disk full", file=Path(directory) / "datacard.txt")

    monkeypatch.setattr("higgsflow.stats.write_datacard", broken)
    argv = ["stats", "build", str(cfg), "-o", str(tmp_path / "ws.json"), "--datacard", str(tmp_path / "card")]
    assert main(argv) == 1
    assert "disk full" in one_error_line(capsys)
    assert not (tmp_path / "ws.json").exists() and not (tmp_path / "card" / "shapes.root").exists()


def test_build_and_limit_in_a_shell_stop_after_a_failing_build(tmp_path):
    cfg = _analysis(tmp_path, Variable="nope")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    hf = f"{sys.executable} -m higgsflow"
    script = f"{hf} stats build {cfg} -o ws.json && {hf} stats limit ws.json -o limit.json"
    proc = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1, proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "Regions.SR.Variable" in err[0] and "'nope'" in err[0]
    assert not (tmp_path / "ws.json").exists() and not (tmp_path / "limit.json").exists()


# -------------------------------------------------------------------------------------- scan and kappa
def test_scan_says_beyond_the_scanned_range(ws, tmp_path, capsys):
    out = tmp_path / "scan.json"
    assert (
        main(["stats", "scan", str(ws), "--min", "1.5", "--max", "6", "--points", "10", "-o", str(out)]) == 0
    )
    text = capsys.readouterr().out
    assert "inf" not in text
    assert "lower end beyond the scanned range [1.5, 6]" in text
    res = json.loads(out.read_text())  # strict JSON: no -Infinity
    assert res["interval68"][0] is None and res["interval68"][1] > res["bestfit"] > 1.5
    assert res["scan_range"] == [1.5, 6.0]


def test_interval_text():
    r = st.ScanResult("mu", np.linspace(0, 5, 6), np.zeros(6), 1.0, (-np.inf, 3.1354), (0.2, np.inf))
    assert r.interval_text(68) == "mu < 3.1354 (lower end beyond the scanned range [0, 5])"
    assert r.interval_text(95, digits=2) == "mu > 0.20 (upper end beyond the scanned range [0, 5])"
    r.interval68 = (0.5, 2.0)
    assert r.interval_text(68, digits=1) == "[0.5, 2.0]"
    r.interval68 = (-np.inf, np.inf)
    assert r.interval_text(68, digits=1) == "both ends beyond the scanned range [0, 5]"
    r.bestfit = 7.0
    assert r.interval_text(68, digits=1) == "outside the scanned range [0, 5] (best fit 7.0)"


def test_kappa_with_other_poi_names(tmp_path, capsys):
    path = tmp_path / "ws.json"
    path.write_text(json.dumps(small_spec(data_mu=1.0, cc="r_cc", bb="r_bb")))
    out = tmp_path / "kappa.json"
    argv = ["stats", "kappa", str(path), "--kc-max", "3", "--points", "7", "-o", str(out)]
    assert main([*argv, "--poi-cc", "r_cc", "--poi-bb", "r_bb"]) == 0
    res = json.loads(out.read_text())
    assert res["pois"] == {"ttHcc": "r_cc", "ttHbb": "r_bb"}
    assert 0.5 < res["bestfit"] < 1.5  # data at μ = 1: κ_c near 1
    # without options: the workspace's POI (r_cc) for H→cc̄ and no H→bb̄ signal strength
    from higgsflow.stats.kappa import kappa_pois

    assert kappa_pois(st.StatModel(small_spec(cc="r_cc", bb="r_bb"))) == {"ttHcc": "r_cc", "ttHbb": None}
    assert kappa_pois(st.StatModel(small_spec()), bb="none") == {"ttHcc": "mu_ttHcc", "ttHbb": None}


def test_kappa_uses_the_shared_physics_constants():
    from higgsflow.physics import constants
    from higgsflow.stats import kappa

    assert kappa.SM_BR["bb"] == constants.BR_H_BB and kappa.SM_BR["cc"] == constants.BR_H_CC
    source = Path(kappa.__file__).read_text()
    assert "0.5809" not in source and "0.02884" not in source
