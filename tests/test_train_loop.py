"""Training framework: exact resume, DDP equals one process, ONNX Runtime equals PyTorch, CLI, metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from higgsflow.data import DataConfig, load_arrays
from higgsflow.data.toy import write_toy_jets
from higgsflow.errors import CheckpointError, DataError
from higgsflow.evaluate import compute_metrics, rejection_at_efficiency
from higgsflow.train import (
    OnnxScorer,
    TrainSettings,
    evaluate_run,
    export_onnx,
    load_run_model,
    score_arrays,
    train,
)

torch.set_num_threads(1)
SRC = Path(__file__).resolve().parents[1] / "src"
CLASSES = ["QCD", "Hbb", "Tbqq"]
TINY_PART = {
    "embed_dims": [16, 16],
    "pair_embed_dims": [8],
    "num_heads": 2,
    "num_layers": 1,
    "num_cls_layers": 1,
}
TINY_PN = {"conv_params": [[4, [8, 8]], [4, [16, 16]]], "fc_params": [[16, 0.0]]}


def config_dict(length: int = 32) -> dict:
    return {
        "new_variables": {
            "part_mask": "ak.ones_like(part_energy)",
            "part_pt_log": "np.log(np.hypot(part_px, part_py))",
            "part_d0": "np.tanh(part_d0val)",
        },
        "inputs": {
            "pf_points": {
                "length": length,
                "pad_mode": "wrap",
                "vars": [["part_deta", None], ["part_dphi", None]],
            },
            "pf_features": {
                "length": length,
                "pad_mode": "wrap",
                "vars": [
                    ["part_pt_log", 1.7, 0.7],
                    ["part_deta", 0, 5],
                    ["part_dphi", 0, 5],
                    "part_d0",
                    "part_charge",
                ],
            },
            "pf_vectors": {
                "length": length,
                "pad_mode": "wrap",
                "vars": ["part_px", "part_py", "part_pz", "part_energy"],
            },
            "pf_mask": {"length": length, "vars": ["part_mask"]},
        },
        "labels": {"type": "simple", "value": [f"label_{c}" for c in CLASSES]},
        "observers": ["jet_pt"],
    }


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    d = tmp_path_factory.mktemp("sample")
    cfg_path = d / "cfg.yaml"
    DataConfig.from_dict(config_dict()).dump(cfg_path)
    files = {
        name: write_toy_jets(d / f"{name}.parquet", CLASSES, n, seed=seed, n_min=8, n_max=40)
        for name, seed, n in (("train", 1, 60), ("val", 2, 30), ("test", 3, 30))
    }
    return cfg_path, files


def settings(**kw) -> TrainSettings:
    base = {
        "network": "part",
        "network_kwargs": TINY_PART,
        "epochs": 3,
        "batch_size": 32,
        "lr": 2e-3,
        "seed": 7,
    }
    base.update(kw)
    return TrainSettings(**base)


class _Stop(Exception):
    pass


def test_resume_gives_bitwise_identical_weights(sample, tmp_path):
    cfg, f = sample
    full = train(cfg, [f["train"]], [f["val"]], tmp_path / "full", settings())

    def interrupt(info):
        if "train_loss" in info and info["epoch"] == 1:
            raise _Stop

    with pytest.raises(_Stop):
        train(cfg, [f["train"]], [f["val"]], tmp_path / "cut", settings(), progress=interrupt)
    with pytest.raises(DataError, match="run folder exists"):
        train(cfg, [f["train"]], [f["val"]], tmp_path / "cut", settings())
    resumed = train(cfg, [f["train"]], [f["val"]], tmp_path / "cut", settings(), resume=True)
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)["model"]
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [h["val_loss"] for h in full.history] == [h["val_loss"] for h in resumed.history]
    log = (tmp_path / "cut" / "log.csv").read_text().splitlines()
    assert len(log) == 4 and log[0].startswith("epoch,train_loss")
    meta = json.loads((tmp_path / "full" / "train.json").read_text())
    assert meta["settings"]["seed"] == 7 and "torch" in meta["versions"]


def test_resume_without_checkpoint_is_an_error(sample, tmp_path):
    cfg, f = sample
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train(cfg, [f["train"]], [f["val"]], tmp_path / "none", settings(), resume=True)


DDP_SCRIPT = """
import sys, torch
torch.set_num_threads(1)
from higgsflow.train import TrainSettings, train
cfg, tr, va, out, load = sys.argv[1:6]
s = TrainSettings(network="pfn", network_kwargs={{"phi_sizes": [16, 16], "f_sizes": [16], "input_bn": False}},
                  epochs=2, batch_size=32, lr=3e-3, optimizer="adamw", scheduler="none", seed=3,
                  load=load, fetch_jets=70)
r = train(cfg, [tr], [va], out, s)
import os
# one write per line: the two processes share the pipe, and print() writes its pieces one by one
os.write(1, f"RESULT {{os.environ.get('RANK', '0')}} {{r.best_epoch}} {{[h['val_loss'] for h in r.history]}}\\n".encode())
"""


@pytest.mark.parametrize("load", ["memory", "stream"])
def test_two_process_ddp_matches_single_process(sample, tmp_path, load):
    """Under torchrun each process takes its share of every batch, jets in memory or streamed (windows of 70
    jets, so batches span windows)."""
    cfg, f = sample
    script = tmp_path / "ddp.py"
    script.write_text(textwrap.dedent(DDP_SCRIPT.format()))
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    args = [str(cfg), str(f["train"]), str(f["val"])]
    subprocess.run(
        [sys.executable, str(script), *args, str(tmp_path / "single"), load], check=True, env=env, timeout=300
    )
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    res = subprocess.run(
        [*torchrun, str(script), *args, str(tmp_path / "ddp"), load],
        env=env,
        timeout=300,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    a = torch.load(tmp_path / "single" / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "ddp" / "checkpoint.pt", weights_only=False)
    meta = json.loads((tmp_path / "ddp" / "train.json").read_text())
    assert meta["world_size"] == 2 and meta["load"] == [load, load]
    for k in a["model"]:
        np.testing.assert_allclose(b["model"][k].numpy(), a["model"][k].numpy(), atol=1e-5, rtol=1e-4)
    assert abs(a["history"][-1]["val_loss"] - b["history"][-1]["val_loss"]) < 1e-5
    # each process validates its share of the jets; the sums are added, so every rank sees the same
    # validation loss and picks the same best epoch
    results = sorted(line.split(" ", 2) for line in res.stdout.splitlines() if line.startswith("RESULT"))
    assert [r[1] for r in results] == ["0", "1"] and results[0][2] == results[1][2]


@pytest.mark.parametrize("network,kwargs", [("part", TINY_PART), ("particlenet", TINY_PN)])
def test_onnx_runtime_matches_pytorch(sample, tmp_path, network, kwargs):
    cfg, f = sample
    run = train(
        cfg,
        [f["train"]],
        [f["val"]],
        tmp_path / "run",
        settings(network=network, network_kwargs=kwargs, epochs=1),
    )
    path = export_onnx(run.run_dir)
    with pytest.raises(DataError, match="output exists"):
        export_onnx(run.run_dir)
    config, model = load_run_model(run.run_dir)
    arrays = load_arrays([f["test"]], config, train=False)
    torch_scores = score_arrays(model, config, arrays, batch_size=7)
    onnx_scores = OnnxScorer(path).score(
        config, arrays, batch_size=16
    )  # other batch sizes and lengths: dynamic axes
    assert np.abs(onnx_scores - torch_scores).max() < 1e-4
    np.testing.assert_allclose(onnx_scores.sum(1), 1.0, atol=1e-5)  # softmax outputs


def test_cli_train_evaluate_export_predict(sample, tmp_path):
    from typer.testing import CliRunner

    from higgsflow.data import read_table
    from higgsflow.train.cli import app

    cfg, f = sample
    runner = CliRunner()
    run = tmp_path / "run"
    r = runner.invoke(
        app,
        [
            "train",
            "-c",
            str(cfg),
            "-n",
            "particlenet",
            "--train",
            str(f["train"]),
            "--val",
            str(f["val"]),
            "-o",
            str(run),
            "--epochs",
            "2",
            "--batch-size",
            "32",
            "--network-options",
            json.dumps(TINY_PN),
            "--tensorboard",
        ],
    )
    assert r.exit_code == 0, r.output
    assert (run / "model.pt").is_file() and (run / "tensorboard").is_dir()
    r = runner.invoke(app, ["evaluate", str(run), "--test", str(f["test"])])
    assert r.exit_code == 0, r.output
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    assert 0 <= metrics["accuracy"] <= 1 and set(metrics["rejection"]) == {"Hbb", "Tbqq"}
    assert (run / "eval" / "roc.png").stat().st_size > 1000 and "accuracy" in r.output
    r = runner.invoke(app, ["export", str(run)])
    assert r.exit_code == 0 and (run / "model.onnx").is_file()
    r = runner.invoke(app, ["predict", str(run), str(f["test"]), "-o", str(tmp_path / "pred")])
    assert r.exit_code == 0, r.output
    scored = read_table(tmp_path / "pred" / "test.parquet")
    original = read_table(f["test"])
    assert set(original.fields) < set(scored.fields)
    total = sum(np.asarray(scored[f"score_{c}"]) for c in CLASSES)
    np.testing.assert_allclose(total, 1.0, atol=1e-5)
    from higgsflow.data.io import read_metadata

    kept, source = read_metadata(tmp_path / "pred" / "test.parquet"), read_metadata(f["test"])
    assert source and all(kept[k] == v for k, v in source.items())  # the input's metadata is kept
    assert kept["scored_by"] == str(run)
    r = runner.invoke(app, ["predict", str(run), str(f["test"]), "-o", str(tmp_path / "pred")])
    assert isinstance(r.exception, DataError) and "never overwrites" in str(r.exception)


def test_demo_fails_clearly_without_generator_or_runs_with_toy(tmp_path, monkeypatch):
    from higgsflow.errors import ConfigError
    from higgsflow.train.demo import run_demo

    monkeypatch.setitem(sys.modules, "higgsflow.generate", None)  # as if the generator were not installed
    with pytest.raises(ConfigError, match="generator is not available"):
        run_demo(tmp_path / "d", jets_per_class=10, epochs=1)


def test_demo_never_deletes_a_folder_it_did_not_make(tmp_path):
    from higgsflow.train.demo import run_demo

    precious = tmp_path / "analysis"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(DataError, match="demo folder exists"):
        run_demo(precious, jets_per_class=10, epochs=1, toy=True)
    with pytest.raises(DataError, match="not made by higgsflow demo"):
        run_demo(precious, jets_per_class=10, epochs=1, toy=True, overwrite=True)
    assert (precious / "thesis.tex").read_text() == "years of work"


def test_rejection_at_efficiency_analytic():
    n = 200_000
    background = np.linspace(0, 1, n)
    signal = np.linspace(0.25, 1.25, n)  # eps_S = 0.5 at cut 0.75, where eps_B = 0.25
    disc = np.r_[signal, background]
    is_sig = np.r_[np.ones(n), np.zeros(n)].astype(bool)
    assert rejection_at_efficiency(disc, is_sig, 0.5) == pytest.approx(4.0, rel=1e-3)
    assert rejection_at_efficiency(disc, is_sig, 0.9) == pytest.approx(1 / 0.65, rel=1e-3)


def test_metrics_jetclass_conventions():
    names = ["label_QCD", "label_Hqql", "label_Tbl", "label_Hbb"]
    labels = np.repeat(np.arange(4), 50)
    perfect = np.eye(4)[labels] * 0.97 + 0.01
    m = compute_metrics(perfect, labels, names)
    assert m.accuracy == 1.0 and m.auc == 1.0 and m.background == "QCD"
    assert m.efficiency == {"Hqql": 0.99, "Tbl": 0.995, "Hbb": 0.5}
    uniform = np.full((200, 4), 0.25)
    assert compute_metrics(uniform, labels, names).auc == pytest.approx(0.5)
    with pytest.raises(DataError, match="NaN"):
        compute_metrics(np.full((200, 4), np.nan), labels, names)


def test_evaluate_refuses_to_overwrite(sample, tmp_path):
    cfg, f = sample
    run = train(
        cfg, [f["train"]], [f["val"]], tmp_path / "r", settings(network="pfn", network_kwargs={}, epochs=1)
    )
    evaluate_run(run.run_dir, [f["test"]])
    with pytest.raises(DataError, match="output exists"):
        evaluate_run(run.run_dir, [f["test"]])
