"""The `higgsflow sannt` typer app."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from higgsflow.errors import ConfigError
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
    assert "gate" in data["verdict"]["SANNT (fine-tuned)"]
    assert (tmp_path / "sigma_vs_epoch.png").stat().st_size > 1000
    assert (tmp_path / "output_distributions.png").stat().st_size > 1000
    assert "σ(μ_ggH)" in result.output
    # no silent overwrite
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and isinstance(again.exception, ConfigError)


def test_help_lists_benchmark():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0 and "benchmark" in result.output


def test_cli_import_is_light():
    import subprocess
    import sys

    code = "import sys, higgsflow.sannt.cli; sys.exit(int('torch' in sys.modules or 'pyhf' in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
