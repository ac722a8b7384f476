"""Interrupted training resumes exactly (mid-epoch too); checkpoints load with weights_only=True and a checkpoint
carrying a pickled object is refused; Ctrl-C on `higgsflow train` saves, exits 130 and `--resume` finishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from higgsflow.cli import main
from higgsflow.data import DataConfig
from higgsflow.data.toy import write_toy_jets
from higgsflow.errors import CheckpointError, ConfigError
from higgsflow.train import TrainSettings, train
from higgsflow.train.loop import read_training_checkpoint

torch.set_num_threads(1)
SRC = Path(__file__).resolve().parents[1] / "src"
CLASSES = ["QCD", "Hbb"]
TINY = {"embed_dims": [8], "pair_embed_dims": [4], "num_heads": 2, "num_layers": 1, "num_cls_layers": 1}


def _config() -> dict:
    return {
        "new_variables": {
            "part_mask": "ak.ones_like(part_energy)",
            "part_pt_log": "np.log(np.hypot(part_px, part_py))",
        },
        "inputs": {
            "pf_features": {
                "length": 16,
                "vars": [["part_pt_log", 1.7, 0.7], ["part_deta", 0, 5], ["part_dphi", 0, 5]],
            },
            "pf_vectors": {"length": 16, "vars": ["part_px", "part_py", "part_pz", "part_energy"]},
            "pf_mask": {"length": 16, "vars": ["part_mask"]},
        },
        "labels": {"type": "simple", "value": [f"label_{c}" for c in CLASSES]},
    }


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    d = tmp_path_factory.mktemp("resume")
    cfg = d / "cfg.yaml"
    DataConfig.from_dict(_config()).dump(cfg)
    tr = write_toy_jets(d / "train.parquet", CLASSES, 40, seed=1, n_min=4, n_max=16)
    va = write_toy_jets(d / "val.parquet", CLASSES, 10, seed=2, n_min=4, n_max=16)
    return cfg, tr, va


def _settings(**kw) -> TrainSettings:
    base = {"network": "part", "network_kwargs": TINY, "epochs": 3, "batch_size": 16, "lr": 3e-3, "seed": 5}
    return TrainSettings(**{**base, **kw})


@pytest.fixture(scope="module")
def full_run(sample, tmp_path_factory):
    cfg, tr, va = sample
    out = tmp_path_factory.mktemp("full") / "run"
    return train(cfg, [tr], [va], out, _settings())


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoint.pt", weights_only=True)["model"]


def _same_weights(a: Path, b: Path) -> bool:
    wa, wb = _weights(a), _weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


class _Stop(Exception):
    pass


def test_checkpoint_reads_with_weights_only(full_run):
    ck = torch.load(full_run.run_dir / "checkpoint.pt", weights_only=True)
    assert (ck["epoch"], ck["step"]) == (3, 0)  # three epochs done
    assert [h["epoch"] for h in ck["history"]] == [0, 1, 2]
    assert ck["rng"][0]["numpy"]["keys"].shape == (624,)  # NumPy's MT19937 state as a tensor
    assert isinstance(ck["rng"][0]["python"]["state"], list)
    assert "base" in ck["optimizer"] and "slow" in ck["optimizer"]  # Lookahead around RAdam


def test_interrupt_mid_epoch_saves_and_resumes_bit_identically(sample, full_run, tmp_path):
    cfg, tr, va = sample

    def ctrl_c(info):  # a KeyboardInterrupt between two steps of the second epoch
        if info.get("epoch") == 1 and info.get("step") == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, [tr], [va], tmp_path / "cut", _settings(), progress=ctrl_c)
    ck = read_training_checkpoint(tmp_path / "cut" / "checkpoint.pt")
    assert (ck["epoch"], ck["step"]) == (1, 2) and len(ck["history"]) == 1
    resumed = train(cfg, [tr], [va], tmp_path / "cut", _settings(), resume=True)
    assert _same_weights(full_run.run_dir, tmp_path / "cut")
    assert [h["val_loss"] for h in resumed.history] == [h["val_loss"] for h in full_run.history]
    assert [h["train_loss"] for h in resumed.history] == pytest.approx(
        [h["train_loss"] for h in full_run.history]
    )


def test_periodic_checkpoint_survives_a_crash(sample, full_run, tmp_path):
    cfg, tr, va = sample

    def crash(info):  # not an interrupt: nothing is saved at the crash, the last periodic save is used
        if info.get("epoch") == 0 and info.get("step") == 2:
            raise _Stop

    with pytest.raises(_Stop):
        train(cfg, [tr], [va], tmp_path / "crash", _settings(checkpoint_every=1), progress=crash)
    ck = read_training_checkpoint(tmp_path / "crash" / "checkpoint.pt")
    assert (ck["epoch"], ck["step"]) == (0, 1)
    train(cfg, [tr], [va], tmp_path / "crash", _settings(checkpoint_every=1), resume=True)
    assert _same_weights(full_run.run_dir, tmp_path / "crash")


def test_resume_with_other_settings_is_refused(sample, full_run):
    cfg, tr, va = sample
    with pytest.raises(ConfigError, match=r"lr.*differs from the run being resumed"):
        train(cfg, [tr], [va], full_run.run_dir, _settings(lr=1e-2), resume=True)


class _Payload:
    def __reduce__(self):  # what an attacker's checkpoint would do on unpickling: here, touch a file
        return (Path.touch, (Path(os.environ["HF_TEST_MARKER"]),))


def test_checkpoint_with_pickled_object_is_refused(sample, full_run, tmp_path, capsys, monkeypatch):
    cfg, tr, va = sample
    run = tmp_path / "shared_run"
    run.mkdir()
    for name in ("data_config.yaml", "train.json"):
        (run / name).write_bytes((full_run.run_dir / name).read_bytes())
    marker = tmp_path / "code_ran"
    monkeypatch.setenv("HF_TEST_MARKER", os.fspath(marker))
    ck = torch.load(full_run.run_dir / "checkpoint.pt", weights_only=True)
    ck["extra"] = _Payload()
    torch.save(ck, run / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="refused"):
        read_training_checkpoint(run / "checkpoint.pt")
    args = ["train", "-c", str(cfg), "--train", str(tr), "--val", str(va), "-o", str(run), "--resume"]
    args += ["--epochs", "3", "--batch-size", "16", "--lr", "3e-3", "--seed", "5"]
    args += [
        "--network-options",
        '{"embed_dims": [8], "pair_embed_dims": [4], "num_heads": 2, "num_layers": 1, "num_cls_layers": 1}',
    ]
    capsys.readouterr()
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")
    assert "checkpoint.pt" in err[0] and "refused" in err[0]
    assert not marker.exists()  # the payload never ran


SLOW_STEPS = """
import sys, time
import higgsflow.train.loop as loop
step = loop.accumulate
def slow(*a, **k):
    time.sleep(0.05)
    return step(*a, **k)
loop.accumulate = slow
from higgsflow.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_on_train_saves_exits_130_and_resume_finishes(sample, tmp_path, capsys):
    cfg, tr, va = sample
    run = tmp_path / "run"
    args = ["train", "-c", str(cfg), "--train", str(tr), "--val", str(va), "-o", str(run)]
    args += ["--epochs", "6", "--batch-size", "8", "--seed", "3", "--network", "pfn"]
    args += ["--network-options", '{"phi_sizes": [8], "f_sizes": [8]}']
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    # `train` with each step slowed by 50 ms (so that the signal lands while it runs)
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_STEPS, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (run / "log.csv").is_file():  # the first epoch is done: training is under way
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "interrupted"
    assert "continue with --resume" in err
    ck = read_training_checkpoint(run / "checkpoint.pt")
    done = ck["epoch"] * 10 + ck["step"]  # 80 jets / batch 8 = 10 steps per epoch
    assert 10 <= done < 60
    # a changed option is refused, naming it; the run folder alone is enough to continue (its own options)
    assert main(["train", "-o", str(run), "--resume", "--epochs", "7"]) == 1
    assert "epochs" in capsys.readouterr().err
    assert main(["train", "-o", str(run), "--resume"]) == 0
    ck = read_training_checkpoint(run / "checkpoint.pt")
    assert (ck["epoch"], ck["step"]) == (6, 0)
    assert [h["epoch"] for h in ck["history"]] == list(range(6))
    assert len((run / "log.csv").read_text().splitlines()) == 7
