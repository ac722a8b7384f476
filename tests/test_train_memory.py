"""Training fits in memory: the step's memory is measured, batches are split into micro-batches that fit the budget
(same gradient), settings that cannot fit are refused before training, trimming the padding changes no score."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from higgsflow.cli import main
from higgsflow.data import DataConfig
from higgsflow.data.toy import JETCLASS_LABELS, write_toy_jets
from higgsflow.errors import ConfigError
from higgsflow.models import build_model
from higgsflow.models.part import ParticleTransformer
from higgsflow.train.memory import GiB, measure_step_bytes, plan_micro_batch
from higgsflow.train.steps import accumulate as _accumulate
from higgsflow.train.task import Task

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
JETCLASS_FULL = ROOT / "tests" / "data" / "particle_transformer" / "JetClass_full.yaml"


def _jets(n: int, length: int, n_features: int, *, n_max: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    counts = torch.randint(2, n_max + 1, (n,), generator=g)
    mask = (torch.arange(length)[None] < counts[:, None]).float().unsqueeze(1)
    x = torch.randn(n, n_features, length, generator=g) * mask
    pt = torch.rand(n, 1, length, generator=g) * 50 + 1
    eta, phi = torch.randn(2, n, 1, length, generator=g) * 0.3
    v = torch.cat([pt * torch.cos(phi), pt * torch.sin(phi), pt * torch.sinh(eta), pt * torch.cosh(eta)], 1)
    return x, v * mask, mask


def test_trimmed_padding_gives_the_same_logits_as_the_full_padded_batch():
    """The trimmed forward (batch cut to its longest jet, pair features of real pairs only) equals the untrimmed
    dense one on 128-slot padding, to 1e-5."""
    model = ParticleTransformer(
        7, 4, embed_dims=(32, 32), pair_embed_dims=(16, 16), num_layers=2, seed=1
    ).eval()
    g = torch.Generator().manual_seed(2)
    for m in model.modules():  # non-trivial batch-norm statistics
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.3)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    x, v, mask = _jets(12, 128, 7, n_max=40, seed=3)
    with torch.no_grad():
        trimmed = model(None, x, v, mask)
        model.export_mode = model.pair_embed.export_mode = True  # no trimming, every one of the 128² pairs
        full = model(None, x, v, mask)
    assert int(mask.sum(-1).max()) <= 40
    np.testing.assert_allclose(trimmed.numpy(), full.numpy(), atol=1e-5, rtol=0)


def test_micro_batches_give_the_gradient_of_the_whole_batch():
    cfg = DataConfig.from_dict(
        {
            "inputs": {
                "pf_features": {"length": 20, "vars": [f"f{i}" for i in range(5)]},
                "pf_mask": {"length": 20, "vars": ["m"]},
            },
            "labels": {"type": "simple", "value": ["label_a", "label_b", "label_c"]},
        }
    )
    model = build_model("pfn", cfg, phi_sizes=(16, 16), f_sizes=(16,), input_bn=False, seed=0)
    x, _, mask = _jets(22, 20, 5, n_max=20, seed=4)
    y = torch.randint(0, 3, (22,), generator=torch.Generator().manual_seed(5))
    w = torch.rand(22, generator=torch.Generator().manual_seed(6)) + 0.5
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    batch = {"inputs": {"pf_features": x, "pf_mask": mask}, "label": y, "weight": w, "targets": {}}
    grads, losses = [], []
    for micro in (22, 5):  # one pass, or 5 + 5 + 5 + 5 + 2 jets
        model.zero_grad()
        losses.append(float(_accumulate(model, Task(cfg), batch, micro, scaler, torch.device("cpu"), False)))
        grads.append([p.grad.clone() for p in model.parameters()])
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_full_part_default_step_is_split_to_fit_the_budget():
    model = ParticleTransformer(17, 10, seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    x, v, mask = _jets(2, 128, 17, n_max=128, seed=7)
    mask[:] = 1.0  # two jets of 128 particles: the worst case of JetClass_full.yaml
    per_jet = measure_step_bytes(model, lambda m, t: m(None, *t), [x, v, mask]) / 2
    # the probe leaves the model (batch-norm statistics) and the random stream untouched
    assert all(torch.equal(before[k], t) for k, t in model.state_dict().items())
    assert torch.equal(rng, torch.get_rng_state())
    # B·P²·(pair embedding 64 channels, 8 heads × 8 blocks of attention): tens of MB per jet of 128 particles
    assert 20e6 < per_jet < 100e6
    plan = plan_micro_batch(per_jet, 512, length=128, device="cpu", available=16 * GiB, network="part")
    assert plan.estimate(512) > 16 * GiB  # the old default: one batch of 512 such jets at once did not fit
    assert plan.micro_batch < 512 and plan.estimate(plan.micro_batch) <= 2 * GiB
    assert -(-512 // plan.micro_batch) * plan.micro_batch - 512 < plan.micro_batch  # near-equal parts
    with pytest.raises(ConfigError, match=r"micro_batch_size.*needs about .* GB"):
        plan_micro_batch(per_jet, 512, length=128, micro_batch=512, available=16 * GiB)
    with pytest.raises(ConfigError, match=r"max_memory_gb.*only 16.0 GB of memory is free"):
        plan_micro_batch(per_jet, 512, length=128, max_memory_gb=64, available=16 * GiB)
    with pytest.raises(ConfigError, match=r"max_memory_gb.*single jet"):
        plan_micro_batch(per_jet, 512, length=128, max_memory_gb=0.01, available=16 * GiB)


def test_train_that_cannot_fit_fails_before_training(tmp_path, capsys):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(JETCLASS_FULL.read_text())
    tr = write_toy_jets(tmp_path / "train.parquet", ["QCD", "Hbb"], 10, seed=1, label_names=JETCLASS_LABELS)
    out = tmp_path / "run"
    args = ["train", "-c", str(cfg), "--train", str(tr), "--val", str(tr), "-o", str(out)]
    for extra, name in (
        (["--max-memory-gb", "0.001"], "--max-memory-gb"),
        (["--micro-batch-size", "0"], "--micro-batch-size"),
    ):
        capsys.readouterr()
        assert main([*args, *extra]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:") and name in err[0], err
        assert not out.exists()  # nothing written, not even an empty run folder


@pytest.mark.slow
def test_default_train_on_jetclass_like_jets_peaks_below_4_gb(tmp_path):
    """`higgsflow train` with the defaults (full ParT, batch 512) on JetClass-like jets of up to 128 particles:
    one step (512 jets) of the real run, peak resident memory of the process < 4 GB (~4 min on 2 cores)."""
    labels = list(JETCLASS_LABELS)
    tr = write_toy_jets(tmp_path / "train.parquet", labels, 300, seed=1, n_max=128, label_names=labels)
    va = write_toy_jets(tmp_path / "val.parquet", labels, 20, seed=2, n_max=128, label_names=labels)
    cmd = [sys.executable, "-m", "higgsflow", "train", "-c", str(JETCLASS_FULL), "--train", str(tr)]
    cmd += ["--val", str(va), "-o", str(tmp_path / "run"), "--epochs", "1", "--max-train-jets", "512"]
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
    subprocess.run(cmd, check=True, env=env, capture_output=True, timeout=1800)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    assert peak < 4e9, f"peak resident memory {peak / 1e9:.2f} GB"
