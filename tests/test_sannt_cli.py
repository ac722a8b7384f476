"""The `higgsflow sannt` typer app."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from higgsflow.cli import main
from higgsflow.errors import HiggsflowError
from higgsflow.sannt.cli import app

pytest.importorskip("pyhf")


@pytest.fixture(autouse=True)
def keep_threads():
    import torch

    old = torch.get_num_threads()
    yield
    torch.set_num_threads(old)


def test_benchmark_command_writes_results_and_plots(tmp_path):
    runner = CliRunner()
    args = ["benchmark", "--out", str(tmp_path), "--seeds", "1", "--n-events", "600"]
    args += ["--ce-epochs", "2", "--sannt-epochs", "2", "--threads", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "results.json").read_text())
    assert [s["seed"] for s in data["seeds"]] == [0]
    for seed in data["seeds"]:
        assert set(seed["sigma"]) == {"CENNT", "SANNT", "SANNT (fine-tuned)"}
        assert all(0 < v < 10 for m in seed["sigma"].values() for v in m.values())
    assert "significant" in data["verdict"]["SANNT (fine-tuned)"]
    assert (tmp_path / "sigma_vs_epoch.png").stat().st_size > 1000
    assert (tmp_path / "output_distributions.png").stat().st_size > 1000
    assert "σ(μ_ggH)" in result.output
    # no silent overwrite
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and isinstance(again.exception, HiggsflowError)
    assert "results.json" in str(again.exception) and "--overwrite" in str(again.exception)


def test_help_lists_benchmark():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0 and "benchmark" in result.output


def test_cli_import_is_light():
    import subprocess
    import sys

    code = "import sys, higgsflow.sannt.cli; sys.exit(int('torch' in sys.modules or 'pyhf' in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.fixture
def no_training(monkeypatch):
    """Make any training fail loudly: the checks below must come before it."""
    import higgsflow.sannt.benchmark

    def refuse(*args, **kwargs):
        raise AssertionError("trained before checking the options and outputs")

    monkeypatch.setattr(higgsflow.sannt.benchmark, "run_seed", refuse)


def _one_error_line(capsys, argv, *names):
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    lines = err.splitlines()
    assert rc == 1 and len(lines) == 1 and lines[0].startswith("error:"), (rc, err)
    for name in names:
        assert str(name) in lines[0], err


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--seeds", "0"),
        ("--first-seed", "-1"),
        ("--n-events", "0"),
        ("--sannt-epochs", "0"),
        ("--ce-epochs", "0"),
        ("--threads", "0"),
    ],
)
def test_benchmark_bad_option_values_exit_1(tmp_path, capsys, no_training, option, value):
    _one_error_line(capsys, ["sannt", "benchmark", "-o", str(tmp_path / "b"), option, value], option)
    assert not (tmp_path / "b").exists()


def test_benchmark_unwritable_or_existing_outputs_exit_1_before_training(tmp_path, capsys, no_training):
    (tmp_path / "afile").write_text("x")
    blocked = tmp_path / "afile" / "bench"
    _one_error_line(
        capsys, ["sannt", "benchmark", "-o", str(blocked)], blocked / "results.json", "not a folder"
    )
    # a plot from an earlier run (results.json itself absent) is not replaced silently either
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "sigma_vs_epoch.png").write_text("old")
    _one_error_line(
        capsys,
        ["sannt", "benchmark", "-o", str(tmp_path / "b")],
        tmp_path / "b" / "sigma_vs_epoch.png",
        "--overwrite",
    )


@pytest.mark.parametrize(
    "argv", [["sannt", "benchmark"], ["sannt", "benchmark", "-o", "b", "--bogus"], ["sannt", "x"]]
)
def test_benchmark_wrong_usage_exits_2(tmp_path, monkeypatch, no_training, argv):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2


#: project-internal words that mean nothing to a user of higgsflow (PASS/FAIL in capitals only)
JARGON = r"(?i:\bissue[- ]?\d+|\bissues?\b|\bgates?\b|\bgoal\b|\bintegrator\b)|\bPASS\b|\bFAIL\b"
HELP = [
    ["sannt", "--help"],
    ["sannt", "benchmark", "--help"],
    ["eft", "--help"],
    *(["eft", c, "--help"] for c in ("generate-zh", "train", "limits")),
]


def test_help_and_docs_have_no_project_jargon(capsys):
    import re
    from pathlib import Path

    texts = {}
    for argv in HELP:
        assert main(argv) == 0
        texts[" ".join(argv)] = capsys.readouterr().out
    assert "2-D toy benchmark" in texts["sannt benchmark --help"]
    docs = Path(__file__).resolve().parents[1] / "docs"
    for name in ("eft.md", "sannt.md"):
        texts[name] = (docs / name).read_text()
    assert "python -c" not in texts["eft.md"]  # the app is `higgsflow eft`
    for where, text in texts.items():
        found = re.findall(JARGON, text)
        assert not found, f"{where}: {found}"


def test_comparison_is_said_in_plain_words():
    import re

    from higgsflow.sannt.benchmark import describe

    v = {
        "improvement_ggH": 0.25,
        "target_met": True,
        "mean_difference": 0.19,
        "standard_error": 0.01,
        "significant": True,
        "change_qqH": 0.155,
        "qqH_not_worse": False,
    }
    text = describe("SANNT (fine-tuned)", v)
    assert text.startswith("SANNT (fine-tuned) reduces σ(μ_ggH) by 25.0% (target: a reduction of ≥ 10%, met)")
    assert "0.1900 ± 0.0100 (standard error), significant at 2 standard errors" in text
    assert "σ(μ_qqH) rises by 15.5% (beyond the allowed +5%)" in text
    one_seed = describe(
        "SANNT", {**v, "standard_error": float("nan"), "improvement_ggH": -0.13, "target_met": False}
    )
    assert "increases σ(μ_ggH) by 13.0%" in one_seed and "needs at least 2 seeds" in one_seed
    assert not re.findall(JARGON, text + one_seed)
