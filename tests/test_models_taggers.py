"""Tagger architectures: padding and permutation invariance, weaver-core checkpoint parity, pair-structure
learning."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from higgsflow.errors import CheckpointError
from higgsflow.models import build_model, load_weaver_state_dict
from higgsflow.models.baselines import DNN, PFN
from higgsflow.models.part import ParticleTransformer
from higgsflow.models.particlenet import ParticleNet
from higgsflow.physics.pairs import pair_features

torch.set_num_threads(1)
logging.getLogger("weaver").setLevel(logging.WARNING)

TINY_PART = {
    "embed_dims": (16, 16),
    "pair_embed_dims": (8,),
    "num_heads": 2,
    "num_layers": 2,
    "num_cls_layers": 1,
}
TINY_PN = {"conv_params": ((4, (8, 8)), (4, (16, 16))), "fc_params": ((16, 0.0),)}


def random_jets(n: int, length: int, n_features: int, *, n_min: int, n_max: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    counts = torch.randint(n_min, n_max + 1, (n,), generator=g)
    mask = (torch.arange(length)[None] < counts[:, None]).float().unsqueeze(1)
    x = torch.randn(n, n_features, length, generator=g) * mask
    pt = torch.rand(n, 1, length, generator=g) * 50 + 1
    eta, phi = torch.randn(2, n, 1, length, generator=g) * 0.3
    v = (
        torch.cat([pt * torch.cos(phi), pt * torch.sin(phi), pt * torch.sinh(eta), pt * torch.cosh(eta)], 1)
        * mask
    )
    return torch.cat([eta, phi], 1) * mask, x, v, mask, counts


def _randomise_bn(model: torch.nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.3)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def _models():
    return {
        "part": ParticleTransformer(5, 3, **TINY_PART, seed=0),
        "particlenet": ParticleNet(5, 3, **TINY_PN, seed=0),
        "pfn": PFN(5, 3, phi_sizes=(16, 16), f_sizes=(16,), seed=0),
    }


@pytest.mark.parametrize("name", ["part", "particlenet", "pfn"])
def test_padding_invariance_in_eval(name):
    model = _models()[name].eval()
    _randomise_bn(model)
    pts, x, v, mask, counts = random_jets(6, 128, 5, n_min=6, n_max=40, seed=1)  # includes jets with n <= k
    with torch.no_grad():
        padded = model(pts, x, v, mask)
        for i, n in enumerate(counts.tolist()):
            own = model(
                pts[i : i + 1, :, :n], x[i : i + 1, :, :n], v[i : i + 1, :, :n], mask[i : i + 1, :, :n]
            )
            np.testing.assert_allclose(own.numpy(), padded[i : i + 1].numpy(), atol=2e-5)
        # a large batch goes through length-sorted chunks: same scores as jet by jet
        pts8, x8, v8, m8, _ = (t.repeat(20, 1, 1) if t.ndim == 3 else t for t in (pts, x, v, mask, counts))
        np.testing.assert_allclose(model(pts8, x8, v8, m8).numpy(), padded.repeat(20, 1).numpy(), atol=2e-5)


@pytest.mark.parametrize("name", ["part", "particlenet", "pfn"])
def test_particle_permutation_invariance(name):
    model = _models()[name].eval()
    _randomise_bn(model)
    pts, x, v, mask, counts = random_jets(4, 48, 5, n_min=20, n_max=48, seed=2)
    with torch.no_grad():
        ref = model(pts, x, v, mask)
        for i, n in enumerate(counts.tolist()):
            perm = torch.cat(
                [torch.randperm(n, generator=torch.Generator().manual_seed(i)), torch.arange(n, 48)]
            )
            out = model(
                pts[i : i + 1, :, perm],
                x[i : i + 1, :, perm],
                v[i : i + 1, :, perm],
                mask[i : i + 1, :, perm],
            )
            np.testing.assert_allclose(out.numpy(), ref[i : i + 1].numpy(), atol=2e-5)


@pytest.mark.parametrize("train_trim", [True, False])
def test_part_chunked_training_is_the_same_function(train_trim):
    """CPU training runs the blocks on length-sorted chunks, each cut to its longest jet: the logits and every
    gradient equal those of the whole padded batch (no dropout; same trimming draw), also with holes in the
    masks and an empty jet; and the short chunks really run shorter (less padding)."""
    no_drop = {"dropout": 0.0, "attn_dropout": 0.0, "activation_dropout": 0.0}
    model = ParticleTransformer(5, 3, **TINY_PART, block_params=no_drop, train_trim=train_trim, seed=0)
    model.train()
    _, x, v, mask, _ = random_jets(40, 24, 5, n_min=2, n_max=20, seed=3)
    holes = torch.rand(mask.shape, generator=torch.Generator().manual_seed(1)) < 0.2
    mask = mask * ~holes
    mask[5] = 0.0  # an empty jet
    x, v = x * mask, v * mask
    lengths = []
    model.blocks[0].register_forward_pre_hook(lambda mod, args: lengths.append(args[0].shape[1]))
    results = []
    for chunk in (1000, 8):
        model.train_chunk = chunk
        model.zero_grad()
        lengths.clear()
        torch.manual_seed(7)
        out = model(None, x, v, mask)
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        results.append(
            (out.detach(), {k: p.grad.clone() for k, p in model.named_parameters()}, list(lengths))
        )
    (out_full, grads_full, len_full), (out_chunk, grads_chunk, len_chunk) = results
    assert len(len_full) == 1 and len(len_chunk) == 5
    assert min(len_chunk) < len_full[0] / 2 and max(len_chunk) == len_full[0]
    torch.testing.assert_close(out_chunk, out_full, rtol=1e-5, atol=1e-5)
    scale = max(float(g.abs().max()) for g in grads_full.values())  # some grads are 0 up to rounding
    for name, g in grads_full.items():
        torch.testing.assert_close(
            grads_chunk[name], g, rtol=1e-4, atol=1e-5 * scale, msg=lambda m, name=name: f"{name}: {m}"
        )


def test_particlenet_few_particles_uses_only_real_neighbours():
    """n <= k: neighbours are the n - 1 real particles; a one-particle jet has no neighbours (edge term 0)."""
    model = ParticleNet(5, 3, **TINY_PN, seed=0).eval()
    pts, x, v, mask, _ = random_jets(1, 10, 5, n_min=3, n_max=3, seed=3)
    with torch.no_grad():
        a = model(pts, x, v, mask)
        b = model(pts[..., :3], x[..., :3], v[..., :3], mask[..., :3])
        single = model(pts[..., :1], x[..., :1], v[..., :1], mask[..., :1])
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    assert torch.isfinite(single).all()


def test_pair_features_known_values():
    # two massless particles at (y, phi) = (0, 0) and (0, 0.5) with pT 10 and 30 GeV
    def p4(pt, phi):
        return torch.tensor([pt * np.cos(phi), pt * np.sin(phi), 0.0, pt], dtype=torch.float64)

    a, b = p4(10.0, 0.0), p4(30.0, 0.5)
    ln_kt, ln_z, ln_delta, ln_m2 = pair_features(a, b).tolist()
    assert ln_delta == pytest.approx(np.log(0.5))
    assert ln_kt == pytest.approx(np.log(10 * 0.5))
    assert ln_z == pytest.approx(np.log(10 / 40))
    assert ln_m2 == pytest.approx(np.log(2 * 10 * 30 * (1 - np.cos(0.5))))
    np.testing.assert_allclose(pair_features(b, a).numpy(), pair_features(a, b).numpy())


def _weaver_wrapped(module):
    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.mod = module

    return Wrapper()


def test_weaver_part_checkpoint_parity(tmp_path):
    from weaver.nn.model.ParticleTransformer import ParticleTransformer as WeaverParT

    torch.manual_seed(0)
    kw = {
        "embed_dims": [32, 64, 32],
        "pair_embed_dims": [16, 16],
        "num_heads": 4,
        "num_layers": 2,
        "num_cls_layers": 2,
    }
    ref = WeaverParT(
        7,
        4,
        pair_input_dim=4,
        use_pre_activation_pair=False,
        fc_params=[(32, 0.1)],
        cls_block_params={"dropout": 0, "attn_dropout": 0, "activation_dropout": 0},
        **kw,
    )
    _randomise_bn(ref)
    torch.save(_weaver_wrapped(ref).state_dict(), tmp_path / "net_best_epoch_state.pt")
    ours = ParticleTransformer(7, 4, fc_params=((32, 0.1),), **kw)
    load_weaver_state_dict(ours, tmp_path / "net_best_epoch_state.pt")
    ref.eval()
    ours.eval()
    pts, x, v, mask, _ = random_jets(8, 128, 7, n_min=20, n_max=90, seed=4)
    with torch.no_grad():
        for _ in range(6):  # past weaver-core's trimmer warm-up
            expected = ref(x, v=v, mask=mask)
        got = ours(pts, x, v, mask)
    assert (got - expected).abs().max() < 1e-5


def test_weaver_particlenet_checkpoint_parity(tmp_path):
    from weaver.nn.model.ParticleNet import ParticleNet as WeaverPN

    torch.manual_seed(0)
    conv = [(7, (16, 16, 16)), (7, (32, 32, 32))]
    ref = WeaverPN(7, 4, conv_params=conv, fc_params=[(32, 0.1)], use_fusion=True)
    _randomise_bn(ref)
    torch.save(_weaver_wrapped(ref).state_dict(), tmp_path / "pn.pt")
    ours = ParticleNet(7, 4, conv_params=conv, fc_params=((32, 0.1),), use_fusion=True)
    load_weaver_state_dict(ours, tmp_path / "pn.pt")
    ref.eval()
    ours.eval()
    pts, x, v, mask, _ = random_jets(
        8, 128, 7, n_min=10, n_max=90, seed=5
    )  # every jet has more than k particles
    with torch.no_grad():
        for _ in range(6):
            expected = ref(pts, x, mask)
        got = ours(pts, x, v, mask)
        # jet by jet (no padding left after the cut to the jet's length: the mask-free eval path)
        singles = [
            (
                ours(pts[i : i + 1], x[i : i + 1], v[i : i + 1], mask[i : i + 1]),
                ref(*(t[i : i + 1] for t in (pts, x, mask))),
            )
            for i in range(len(x))
        ]
    assert (got - expected).abs().max() < 1e-5
    assert expected.abs().max() > 0.1  # not a vacuous comparison
    for one, ref_one in singles:
        assert (one - ref_one).abs().max() < 1e-5


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    torch.save({"mod.something.weight": torch.zeros(3)}, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="does not match"):
        load_weaver_state_dict(ParticleNet(5, 3, **TINY_PN), tmp_path / "bad.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_weaver_state_dict(ParticleNet(5, 3, **TINY_PN), tmp_path / "junk.pt")


def test_registry_builds_from_data_config_and_dnn_sees_jet_features():
    from higgsflow.data import DataConfig

    cfg = DataConfig.from_dict(
        {
            "inputs": {"jet_features": {"length": 1, "vars": ["jet_pt", "jet_sdmass"]}},
            "labels": {"type": "simple", "value": ["label_a", "label_b"]},
        }
    )
    model = build_model("dnn", cfg, hidden=(8,))
    assert isinstance(model, DNN) and model.out.out_features == 2
    with pytest.raises(Exception, match="needs an input named \\*_vectors"):
        build_model("part", cfg)
    with pytest.raises(Exception, match="unknown network"):
        build_model("resnet", cfg)


def _one_vs_two_prong_auc(network: str, kwargs: dict, epochs: int) -> float:
    from sklearn.metrics import roc_auc_score

    from higgsflow.data import DataConfig, load_arrays, write_table
    from higgsflow.data.toy import make_toy_jets

    cfg = DataConfig.from_dict(
        {
            "new_variables": {
                "part_mask": "ak.ones_like(part_energy)",
                "part_pt_log": "np.log(np.hypot(part_px, part_py))",
            },
            "inputs": {
                "pf_points": {"length": 24, "vars": ["part_deta", "part_dphi"]},
                "pf_features": {
                    "length": 24,
                    "vars": [["part_pt_log", 2.0, 1.0], ["part_deta", 0, 5], ["part_dphi", 0, 5]],
                },
                "pf_vectors": {"length": 24, "vars": ["part_px", "part_py", "part_pz", "part_energy"]},
                "pf_mask": {"length": 24, "vars": ["part_mask"]},
            },
            "labels": {"type": "simple", "value": ["label_one_prong", "label_two_prong"]},
        }
    )
    import tempfile
    from pathlib import Path

    d = Path(tempfile.mkdtemp())
    data = {}
    for name, seed, n in (("train", 1, 300), ("test", 2, 200)):
        p = write_table(
            d / f"{name}.parquet",
            make_toy_jets(
                ["one_prong", "two_prong"], n, seed=seed, n_min=12, n_max=24, radius=0.8, sigma=0.01
            ),
        )
        data[name] = load_arrays([p], cfg, train=False)
    keys = ["pf_points", "pf_features", "pf_vectors", "pf_mask"]
    xtr = {k: torch.from_numpy(data["train"].inputs[k]) for k in keys}
    ytr = torch.from_numpy(data["train"].label)
    model = build_model(network, cfg, **kwargs, seed=0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(ytr), generator=g)
        for i in range(0, len(perm), 32):
            idx = perm[i : i + 32]
            loss = torch.nn.functional.cross_entropy(
                model({k: t[idx] for k, t in xtr.items()})["logits"], ytr[idx]
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        heads = model({k: torch.from_numpy(data["test"].inputs[k]) for k in keys})
        s = torch.softmax(heads["logits"], 1)[:, 1]
    return roc_auc_score(data["test"].label, s.numpy())


NO_DROPOUT = {"dropout": 0.0, "attn_dropout": 0.0, "activation_dropout": 0.0}


def test_tiny_part_learns_pair_structure():
    """One- vs two-prong jets have identical single-particle distributions: only pairs tell them apart."""
    kw = {
        "embed_dims": (32, 32),
        "pair_embed_dims": (16, 16),
        "num_heads": 4,
        "num_layers": 2,
        "num_cls_layers": 1,
        "block_params": NO_DROPOUT,
    }
    assert _one_vs_two_prong_auc("part", kw, epochs=6) > 0.95


def test_tiny_particlenet_learns_pair_structure():
    kw = {"conv_params": ((8, (16, 16)), (8, (32, 32))), "fc_params": ((32, 0.0),)}
    assert _one_vs_two_prong_auc("particlenet", kw, epochs=6) > 0.95


def test_single_particle_distributions_of_toy_prongs_are_identical():
    """The premise of the two tests above: per-particle (Δη, Δφ, pT) marginals agree between the classes."""
    import awkward as ak
    from scipy.stats import ks_2samp

    from higgsflow.data.toy import make_toy_jets

    cols = make_toy_jets(["one_prong", "two_prong"], 3000, seed=9, n_min=12, n_max=24, radius=0.8, sigma=0.01)
    two = cols["label_two_prong"] == 1
    for name in ("part_deta", "part_dphi", "part_px"):
        first = ak.to_numpy(cols[name][:, 0])  # one particle per jet: independent samples
        assert ks_2samp(first[~two], first[two]).pvalue > 1e-3
    # while the pair structure differs: the spread of a jet's particles
    spread = ak.to_numpy(ak.std(cols["part_deta"], axis=1))
    assert np.median(spread[two]) > 5 * np.median(spread[~two])
