"""The demo: balanced splits, progress per stage, a plain table with intervals; FastJet's banner off stdout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from higgsflow.train.demo import DEMO_CLASSES, DemoProgress, balanced_split

REPO = Path(__file__).resolve().parents[1]
TINY = {"embed_dims": [16], "pair_embed_dims": [8], "num_heads": 2, "num_layers": 1, "num_cls_layers": 1}


def test_balanced_split_gives_every_class_the_same_share():
    rng = np.random.default_rng(0)
    labels = rng.permutation(np.repeat(np.arange(5), 300))
    train, val, test = balanced_split(labels, (0.6, 0.2, 0.2), seed=1)
    for part, n in ((train, 180), (val, 60), (test, 60)):
        assert np.bincount(labels[part], minlength=5).tolist() == [n] * 5
    everything = np.concatenate([train, val, test])
    assert len(np.unique(everything)) == len(labels) == len(everything)  # disjoint and complete
    again = balanced_split(labels, (0.6, 0.2, 0.2), seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(again, (train, val, test), strict=True))


def test_balanced_split_balances_test_even_with_unequal_classes():
    labels = np.r_[np.zeros(100, int), np.ones(250, int), np.full(80, 2)]
    train, val, test = balanced_split(labels, (0.6, 0.2, 0.2), seed=3)
    assert np.bincount(labels[test]).tolist() == [16, 16, 16]
    assert np.bincount(labels[val]).tolist() == [16, 16, 16]
    assert np.bincount(labels[train]).tolist() == [68, 218, 48]


def test_balanced_split_refuses_too_few_jets():
    from higgsflow.errors import DataError

    with pytest.raises(DataError, match="too few jets"):
        balanced_split(np.repeat(np.arange(3), 2), (0.6, 0.2, 0.2))


class _Recorder(DemoProgress):
    def __init__(self):
        self.stages, self.jets_done, self.steps, self.epochs = [], 0, [], []

    def stage(self, name, message, total=None):
        self.stages.append((name, total))

    def jets(self, n):
        self.jets_done += n

    def training(self, info):
        (self.steps if "steps" in info else self.epochs).append(info)


def test_demo_splits_evenly_reports_progress_and_intervals(tmp_path):
    from higgsflow.train.demo import run_demo

    rec = _Recorder()
    res = run_demo(tmp_path / "d", jets_per_class=40, epochs=1, toy=True, progress=rec, network_kwargs=TINY)
    assert res.split_counts["test"] == dict.fromkeys(DEMO_CLASSES, 8)
    assert res.split_counts["val"] == dict.fromkeys(DEMO_CLASSES, 8)
    assert res.n_test == 40 and res.metrics.class_counts == dict.fromkeys(DEMO_CLASSES, 8)
    assert [s for s, _ in rec.stages] == ["generate", "train", "evaluate"]
    assert rec.stages[0][1] == rec.jets_done == 200 and rec.stages[1][1] == 1
    assert rec.steps and all("loss" in s for s in rec.steps) and len(rec.epochs) == 1
    m = res.metrics
    assert m.rejection_detail["Hbb"].n_background == 8
    assert all(r.low <= r.value <= r.high for r in m.rejection_detail.values())
    assert m.rough  # 8 QCD test jets: every rejection is rough


def test_demo_command_prints_a_plain_table_with_intervals(tmp_path, monkeypatch, capsys):
    import higgsflow.train.demo as demo
    from higgsflow.cli import main

    monkeypatch.setattr(demo, "DEMO_PART", TINY)
    rc = main(["demo", "--toy", "--out", str(tmp_path / "d"), "--jets-per-class", "40", "--epochs", "1"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "tested on 40 jets (8 of each class)" in out
    assert "68% interval" in out and "based on" in out
    assert "epoch 1/1: train loss" in out  # the loss of every epoch
    assert "of 8 QCD pass" in out and "* fewer than 10 QCD jets pass the cut" in out
    for jargon in ("Rej50", "macro", "one-vs-rest", "issue", "gate", "FAIL", "integrator"):
        assert jargon not in out
    assert (tmp_path / "d" / "run" / "eval" / "roc.png").is_file()


def _generate(tmp_path, workers: int) -> subprocess.CompletedProcess:
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "higgsflow", "generate", "jets", "--classes", "QCD,Hbb", "--n-jets", "2"]
    cmd += [
        "--chunk-size",
        "1",
        "--workers",
        str(workers),
        "--seed",
        "3",
        "--out",
        str(tmp_path / "j.parquet"),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)


def test_fastjet_banner_never_on_stdout(tmp_path):
    r = _generate(tmp_path, workers=1)
    assert r.returncode == 0, r.stderr
    assert "FastJet" not in r.stdout and "#---" not in r.stdout
    assert r.stdout.strip().endswith("(4 jets)")  # stdout carries the result line only
    assert r.stderr.count("FastJet release") == 1  # once, on stderr (Pythia's built-in copy is silenced)


def test_fastjet_banner_once_per_worker_process_on_stderr(tmp_path):
    r = _generate(tmp_path, workers=2)
    assert r.returncode == 0, r.stderr
    assert "FastJet" not in r.stdout
    assert 1 <= r.stderr.count("FastJet release") <= 2  # at most once per worker process
