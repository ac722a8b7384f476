"""Streaming training data: every jet once per epoch, seeded windows, weights as in memory, exact resume, the
torchrun shares, and training that reads a window at a time."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from higgsflow.cli import main
from higgsflow.data import DataConfig, load_arrays, read_table, write_table
from higgsflow.data.stream import StreamingData
from higgsflow.data.toy import make_toy_jets
from higgsflow.train import TrainSettings, train
from test_train_loop import CLASSES, TINY_PART, config_dict

torch.set_num_threads(1)
NAMES = ["pf_features", "pf_mask"]


def _cfg(**extra) -> DataConfig:
    d = config_dict()
    d["observers"] = ["jet_pt", "jet_id"]
    d.update(extra)
    return DataConfig.from_dict(d)


def _files(tmp_path, n_files=3, per_class=20, fmt="parquet") -> list:
    """Toy jets with a unique ``jet_id`` per jet, in ``n_files`` files (Parquet with small row groups)."""
    out = []
    for k in range(n_files):
        c = make_toy_jets(CLASSES, per_class, seed=10 + k, n_min=8, n_max=30)
        n = len(c["jet_pt"])
        c["jet_id"] = np.arange(n, dtype=np.int64) + 1000 * k
        out.append(write_table(tmp_path / f"f{k}.{fmt}", c))
    return out


def _ids(batches) -> list[np.ndarray]:
    return [b["observers"]["jet_id"].numpy() for b in batches]


def test_parquet_row_range_reads_only_that_range(tmp_path):
    (f,) = _files(tmp_path, 1)
    whole = read_table(f, ["jet_id", "part_px"])
    for a, b in ((0, 7), (5, 40), (33, 60), (59, 60)):
        part = read_table(f, ["jet_id", "part_px"], entry_start=a, entry_stop=b)
        assert part["jet_id"].tolist() == whole["jet_id"][a:b].tolist()
        assert part["part_px"].tolist() == whole["part_px"][a:b].tolist()


def test_every_jet_once_per_epoch_in_a_seeded_order(tmp_path):
    files = _files(tmp_path)
    s = StreamingData(files, _cfg(), NAMES, batch_size=16, fetch_jets=50, chunk_jets=10, seed=3)
    assert s.n_jets == 180 and len(s) == 12  # ceil(180 / 16)
    assert max(sum(c.rows for c in w) for w in s.windows(0)) <= 50  # never more than a window in memory
    e0 = _ids(s.batches(0))
    assert [len(b) for b in e0] == [16] * 11 + [4]
    ids = np.concatenate(e0)
    assert sorted(ids) == sorted(np.concatenate([np.arange(60) + 1000 * k for k in range(3)]))
    # jets of different files meet in one batch: windows mix chunks of the files
    assert any(len(set(b // 1000)) > 1 for b in e0)
    e1 = np.concatenate(_ids(s.batches(1)))
    assert not np.array_equal(ids, e1)  # another epoch, another order
    again = StreamingData(files, _cfg(), NAMES, batch_size=16, fetch_jets=50, chunk_jets=10, seed=3)
    assert np.array_equal(np.concatenate(_ids(again.batches(0))), ids)  # the same seed, the same order
    # resuming at step 5 gives exactly the remaining batches
    tail = _ids(s.batches(0, start=5))
    assert len(tail) == 7 and all(np.array_equal(a, b) for a, b in zip(tail, e0[5:], strict=True))
    # inputs travel with their jet: the features equal the in-memory loader's for the same jets
    arrays = load_arrays(files, _cfg(), train=True)
    where = {int(j): i for i, j in enumerate(arrays.observers["jet_id"])}
    b = next(iter(s.batches(0)))
    rows = [where[int(j)] for j in b["observers"]["jet_id"]]
    np.testing.assert_array_equal(b["inputs"]["pf_features"].numpy(), arrays.inputs["pf_features"][rows])
    np.testing.assert_array_equal(b["label"].numpy(), arrays.label[rows])


def test_torchrun_shares_make_up_the_single_process_batch(tmp_path):
    files = _files(tmp_path)
    kw = {"batch_size": 16, "fetch_jets": 50, "chunk_jets": 10, "seed": 1, "drop_last": True}
    one = _ids(StreamingData(files, _cfg(), NAMES, **kw).batches(2))
    r0 = _ids(StreamingData(files, _cfg(), NAMES, rank=0, world=2, **kw).batches(2))
    r1 = _ids(StreamingData(files, _cfg(), NAMES, rank=1, world=2, **kw).batches(2))
    assert len(one) == len(r0) == len(r1) == 11
    for a, b0, b1 in zip(one, r0, r1, strict=True):
        assert len(b0) == len(b1) == 8
        np.testing.assert_array_equal(a[0::2], b0)  # every world-th jet, as DistributedSampler
        np.testing.assert_array_equal(a[1::2], b1)


def test_selection_and_limit_are_applied_in_the_first_pass(tmp_path):
    files = _files(tmp_path)
    cfg = _cfg(selection="jet_eta > -0.5")
    mem = load_arrays(files, cfg, train=True, max_jets=50)
    s = StreamingData(
        files, cfg, NAMES, batch_size=8, fetch_jets=40, chunk_jets=10, max_jets=50, shuffle=False
    )
    assert s.n_jets == len(mem) == 50
    ids = np.concatenate(_ids(s.batches(0)))
    np.testing.assert_array_equal(ids, mem.observers["jet_id"])  # the same jets, in file order unshuffled


def test_flat_reweighting_equals_the_in_memory_weights(tmp_path):
    files = _files(tmp_path)
    weights = {
        "reweight_vars": {"jet_pt": [485, 495, 500, 505], "jet_eta": [-2, 0, 2]},
        "reweight_classes": [f"label_{c}" for c in CLASSES],
        "class_weights": [1, 2, 1],
        "reweight_threshold": 10,
    }
    cfg = _cfg(weights=weights)
    mem = load_arrays(files, cfg, train=True)
    assert len(np.unique(mem.weight)) > 3  # the weights are not trivial
    s = StreamingData(files, cfg, NAMES, batch_size=16, fetch_jets=50, chunk_jets=10, seed=5)
    got = {}
    for b in s.batches(0):
        got.update(zip(b["observers"]["jet_id"].tolist(), b["weight"].tolist(), strict=True))
    want = dict(zip(mem.observers["jet_id"].tolist(), mem.weight.tolist(), strict=True))
    assert got.keys() == want.keys()
    np.testing.assert_allclose([got[k] for k in want], list(want.values()), rtol=1e-5)


def _settings(**kw) -> TrainSettings:
    base = {
        "network": "part",
        "network_kwargs": TINY_PART,
        "epochs": 2,
        "batch_size": 16,
        "lr": 2e-3,
        "seed": 4,
    }
    return TrainSettings(**{**base, "load": "stream", "fetch_jets": 50, **kw})


def test_streamed_training_learns_and_resumes_bit_identically(tmp_path):
    files = _files(tmp_path, per_class=30)
    cfg = tmp_path / "cfg.yaml"
    _cfg().dump(cfg)
    full = train(cfg, files[:2], files[2:], tmp_path / "full", _settings(epochs=2))
    meta = json.loads((tmp_path / "full" / "train.json").read_text())
    assert meta["load"] == ["stream", "stream"] and meta["n_train"] == 180
    # the per-head validation metrics are in log.csv
    header = (tmp_path / "full" / "log.csv").read_text().splitlines()[0].split(",")
    assert {"val_loss", "val_acc", "val_auc_Hbb", "val_auc_Tbqq"} <= set(header)
    # ... and equal the AUC computed afresh from the last epoch's weights on the validation file
    from sklearn.metrics import roc_auc_score

    from higgsflow.train import load_run_model, score_arrays

    config, model = load_run_model(tmp_path / "full", weights="model.pt")
    last = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)["model"]
    model.load_state_dict(last)
    val = load_arrays(files[2:], config, train=True)
    p = score_arrays(model.eval(), config, val)
    sel = val.label <= 1
    auc = roc_auc_score(val.label[sel] == 1, p[sel, 1] / (p[sel, 1] + p[sel, 0]))
    assert abs(full.history[-1]["val_auc_Hbb"] - auc) < 1e-6

    # a run stopped at step 7 of epoch 2 (Ctrl-C) and resumed ends bit-identical to the uninterrupted one
    def stop_at(info):
        if info.get("step") == 7 and info.get("epoch") == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, files[:2], files[2:], tmp_path / "stopped", _settings(epochs=2), progress=stop_at)
    ck = torch.load(tmp_path / "stopped" / "checkpoint.pt", weights_only=True)
    assert (ck["epoch"], ck["step"]) == (1, 7)
    resumed = train(cfg, files[:2], files[2:], tmp_path / "stopped", _settings(epochs=2), resume=True)
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "stopped" / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [h["val_loss"] for h in resumed.history] == [h["val_loss"] for h in full.history]


def test_auto_streams_only_files_larger_than_the_window(tmp_path):
    files = _files(tmp_path)
    cfg = tmp_path / "cfg.yaml"
    _cfg().dump(cfg)
    train(cfg, files[:2], files[2:], tmp_path / "run", _settings(epochs=1, load="auto", fetch_jets=100))
    assert json.loads((tmp_path / "run" / "train.json").read_text())["load"] == ["stream", "memory"]


def test_cli_load_options(tmp_path, capsys):
    files = _files(tmp_path, 2)
    cfg = tmp_path / "cfg.yaml"
    _cfg().dump(cfg)
    base = ["train", "-c", str(cfg), "--train", str(files[0]), "--val", str(files[1]), "--network", "pfn"]
    base += ["--epochs", "1", "--batch-size", "16"]
    assert main([*base, "-o", str(tmp_path / "r1"), "--load", "stream", "--fetch-jets", "30"]) == 0
    assert json.loads((tmp_path / "r1" / "train.json").read_text())["load"] == ["stream", "stream"]
    capsys.readouterr()
    assert main([*base, "-o", str(tmp_path / "r2"), "--load", "disk"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--load" in err[0] and "auto or memory or stream" in err[0]
    assert main([*base, "-o", str(tmp_path / "r3"), "--fetch-jets", "0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--fetch-jets" in err[0]
    assert not (tmp_path / "r2").exists() and not (tmp_path / "r3").exists()


def test_the_window_read_to_plan_memory_is_not_read_again(tmp_path, monkeypatch):
    files = _files(tmp_path)
    s = StreamingData(files, _cfg(), NAMES, batch_size=16, fetch_jets=50, chunk_jets=10, seed=3)
    want = _ids(s.batches(0))
    reads = []
    real = StreamingData.load_window
    monkeypatch.setattr(StreamingData, "load_window", lambda self, *a: reads.append(a[1:]) or real(self, *a))
    first = s.first_window()
    got = _ids(s.batches(0))
    assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
    assert reads == [(0, i) for i in range(len(s.windows(0)))]  # window 0 once, for the plan
    assert np.array_equal(np.sort(first.observers["jet_id"]), np.sort(np.concatenate(got)[: len(first)]))
