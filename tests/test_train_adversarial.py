"""Adversarial attacks and training: the spreads, the attack's norm and what it may change, the step's loss,
training and resuming with it, and the user errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from higgsflow.cli import main
from higgsflow.data import DataConfig, JetArrays, load_arrays, read_table, write_table
from higgsflow.data.toy import write_toy_jets
from higgsflow.errors import ConfigError
from higgsflow.models import build_model
from higgsflow.train import TrainSettings, evaluate_run, train
from higgsflow.train.adversarial import Adversary, feature_spreads
from higgsflow.train.task import Task
from test_train_loop import CLASSES, TINY_PART, config_dict

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    d = tmp_path_factory.mktemp("adv")
    cfg = d / "cfg.yaml"
    DataConfig.from_dict(config_dict()).dump(cfg)
    tr = write_toy_jets(d / "train.parquet", CLASSES, 40, seed=1, n_min=8, n_max=40)
    va = write_toy_jets(d / "val.parquet", CLASSES, 15, seed=2, n_min=8, n_max=40)
    return cfg, tr, va


def test_spread_is_the_std_inside_the_20_80_quantiles_and_integers_are_not_attacked():
    rng = np.random.default_rng(0)
    n, length = 4000, 20
    x = np.zeros((n, 2, length), np.float32)
    x[:, 0] = rng.normal(1.0, 3.0, (n, length))
    x[:, 1] = rng.integers(-1, 2, (n, length))  # a charge
    mask = np.zeros((n, 1, length), np.float32)
    mask[:, 0, :10] = 1
    x[:, :, 10:] = 1e6  # padded slots never count
    arrays = JetArrays(inputs={"pf_features": x, "pf_mask": mask}, label=None, weight=np.ones(n, np.float32))
    (spreads, continuous) = feature_spreads(arrays, ["pf_features", "pf_mask"])["pf_features"]
    # a normal distribution truncated to its 20-80 % quantiles (±a): var = 1 - 2 a φ(a) / (2 Φ(a) - 1)
    a = 0.8416212
    phi = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    want = 3.0 * math.sqrt(1 - 2 * a * phi / 0.6)
    assert spreads[0] == pytest.approx(want, rel=0.02)
    assert continuous == [True, False]


def _batch(cfg_path, files, n=12):
    cfg = DataConfig.load(cfg_path)
    arrays = load_arrays([files], cfg, train=True).subset(np.arange(n))
    names = ["pf_points", "pf_features", "pf_vectors", "pf_mask"]
    batch = {
        "inputs": {k: torch.from_numpy(arrays.inputs[k]) for k in names},
        "label": torch.from_numpy(arrays.label),
        "targets": {},
        "weight": torch.from_numpy(arrays.weight),
    }
    return cfg, arrays, names, batch


@pytest.mark.parametrize("method", ["ngm", "fgsm"])
def test_attack_changes_only_continuous_real_features_by_epsilon(sample, method):
    cfg_path, tr, _ = sample
    cfg, arrays, names, batch = _batch(cfg_path, tr)
    torch.manual_seed(0)
    model = build_model("part", cfg, **TINY_PART).eval()
    spreads = feature_spreads(arrays, names)
    s, cont = spreads["pf_features"]
    assert cont == [True, True, True, True, False]  # part_charge is an integer feature
    adv = Adversary(0.05, spreads, method)
    task = Task(cfg)
    out = adv.distort(model, task, batch)
    x0, x1 = batch["inputs"]["pf_features"], out["pf_features"]
    d = (x1 - x0).double()
    real = batch["inputs"]["pf_mask"].bool().expand_as(x0)
    assert torch.equal(d[~real], torch.zeros_like(d[~real]))  # padded slots untouched
    assert torch.equal(d[:, 4], torch.zeros_like(d[:, 4]))  # the charge untouched
    for k in ("pf_points", "pf_vectors", "pf_mask"):
        assert torch.equal(out[k], batch["inputs"][k])  # only *_features inputs are attacked
    u = d / torch.tensor(s, dtype=torch.float64).view(1, -1, 1)
    if method == "ngm":
        norms = u.flatten(1).norm(dim=1)
        np.testing.assert_allclose(norms.numpy(), 0.05, rtol=1e-4)  # ‖δ/s‖₂ = ε for every jet
    else:
        moved = u[:, :4][real[:, :4]]
        assert moved.abs().max() <= 0.05 * (1 + 1e-4) and (moved.abs() > 0.049).float().mean() > 0.95
    # the attack raises the loss (first order: it follows the gradient)
    with torch.no_grad():
        before = float(task.loss(model(batch["inputs"]), batch))
        after = float(task.loss(model(out), batch))
    assert after > before


def test_adversarial_loss_is_the_distorted_loss_plus_kl(sample):
    cfg_path, tr, _ = sample
    cfg, arrays, names, batch = _batch(cfg_path, tr)
    torch.manual_seed(1)
    model = build_model("part", cfg, **TINY_PART).eval()
    adv = Adversary(0.1, feature_spreads(arrays, names))
    task = Task(cfg)
    value = adv.loss(model, model, task, batch)
    distorted = adv.distort(model, task, batch)
    with torch.no_grad():
        pa = torch.softmax(model(distorted)["logits"], 1)
        pn = torch.softmax(model(batch["inputs"])["logits"], 1)
        ce = torch.nn.functional.cross_entropy(model(distorted)["logits"], batch["label"])
    kl = (pa * (pa.log() - pn.log())).sum(1).mean()
    assert float(value.detach()) == pytest.approx(float(ce + kl), rel=1e-5)
    assert float(kl) > 0


def _settings(**kw):
    base = {
        "network": "part",
        "network_kwargs": TINY_PART,
        "epochs": 2,
        "batch_size": 16,
        "lr": 2e-3,
        "seed": 2,
    }
    return TrainSettings(**{**base, "adversarial_eps": 0.1, "adversarial_every": 2, **kw})


def test_adversarial_training_runs_stores_the_spreads_and_resumes_bit_identically(sample, tmp_path):
    cfg, tr, va = sample
    full = train(cfg, [tr], [va], tmp_path / "full", _settings())
    saved = json.loads((tmp_path / "full" / "adversarial.json").read_text())
    assert saved["epsilon"] == 0.1 and saved["every"] == 2 and saved["method"] == "ngm"
    assert saved["spreads"]["pf_features"][1] == [True, True, True, True, False]
    plain = train(cfg, [tr], [va], tmp_path / "plain", _settings(adversarial_eps=None))
    assert full.history[-1]["train_loss"] != plain.history[-1]["train_loss"]  # the adversarial steps count

    def stop_at(info):
        if info.get("epoch") == 1 and info.get("step") == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, [tr], [va], tmp_path / "cut", _settings(), progress=stop_at)
    train(cfg, [tr], [va], tmp_path / "cut", _settings(), resume=True)
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bad_adversarial_settings_are_one_line_errors(sample, tmp_path, capsys):
    cfg, tr, va = sample
    with pytest.raises(ConfigError, match="adversarial_method"):
        _settings(adversarial_method="pgd")
    base = [
        "train",
        "-c",
        str(cfg),
        "--train",
        str(tr),
        "--val",
        str(va),
        "--network",
        "pfn",
        "--epochs",
        "1",
    ]
    for extra, field in (
        (["--adversarial-eps", "-0.1"], "--adversarial-eps"),
        (["--adversarial-eps", "0.1", "--adversarial-method", "pgd"], "--adversarial-method"),
        (["--adversarial-eps", "0.1", "--adversarial-every", "0"], "--adversarial-every"),
    ):
        capsys.readouterr()
        assert main([*base, "-o", str(tmp_path / "r"), *extra]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:") and field in err[0]
        assert not (tmp_path / "r").exists()


def test_evaluate_under_attack_and_without_truth(sample, tmp_path, capsys):
    cfg, tr, va = sample
    run = train(
        cfg, [tr], [va], tmp_path / "run", _settings(epochs=3, adversarial_eps=None, optimizer="adamw")
    )
    res = evaluate_run(run.run_dir, [va], attack_eps=0.5)
    m = json.loads(res.metrics_path.read_text())
    assert m["attack"]["spreads_from"] == "test jets" and m["attack"]["epsilon"] == 0.5
    assert m["attack"]["auc"] < m["auc"] and m["attack"]["auc_drop"] == pytest.approx(
        m["auc"] - m["attack"]["auc"]
    )
    # an adversarially trained run attacks with the spreads of its training jets
    adv = train(cfg, [tr], [va], tmp_path / "adv", _settings(epochs=1))
    m = json.loads(
        evaluate_run(adv.run_dir, [va], attack_eps=0.2, attack_method="fgsm").metrics_path.read_text()
    )
    assert m["attack"]["spreads_from"].startswith("training") and m["attack"]["method"] == "fgsm"
    # files without labels: evaluate says to use predict
    table = read_table(va)
    unlabelled = write_table(
        tmp_path / "data.parquet", {k: table[k] for k in table.fields if not k.startswith("label_")}
    )
    capsys.readouterr()
    assert main(["evaluate", str(run.run_dir), "--test", str(unlabelled), "--out", str(tmp_path / "e")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no labels" in err[0] and "predict" in err[0]
    assert (
        main(
            [
                "evaluate",
                str(run.run_dir),
                "--test",
                str(va),
                "--out",
                str(tmp_path / "e2"),
                "--attack-eps",
                "-1",
            ]
        )
        == 1
    )
