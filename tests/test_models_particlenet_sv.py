"""Two-collection ParticleNet (PF + SV tokens, weaver-core's ParticleNetTagger) with a classes + log-cosh
regression task, configured by YAML alone."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import torch
import yaml

from higgsflow.data import DataConfig, load_arrays
from higgsflow.errors import ConfigError
from higgsflow.models import build_model, load_weaver_state_dict
from higgsflow.models.particlenet_sv import ParticleNetSV
from higgsflow.train import TrainSettings, load_run_model, train
from higgsflow.train.inference import score_heads
from test_models_part_sv import _sv_only_sample  # tests/ is on sys.path
from test_models_taggers import _randomise_bn, _weaver_wrapped

torch.set_num_threads(1)
CONFIG = Path(__file__).resolve().parents[1] / "examples" / "tagging" / "pf_sv_particlenet.yaml"
K = 5
TINY = {"embed_dim": 16, "conv_params": [[K, [16, 16]], [K, [32, 32]]], "fc_params": [[32, 0.0]]}
INPUTS = {f"{c}_{r}" for c in ("pf", "sv") for r in ("points", "features", "mask")}


def _settings(**kw) -> TrainSettings:
    base = {"network": "particlenet_sv", "network_kwargs": TINY, "epochs": 4, "batch_size": 32, "lr": 3e-3}
    return TrainSettings(**{**base, "optimizer": "adamw", "seed": 1, **kw})


@pytest.fixture(scope="module")
def sv_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("particlenet_sv")
    files = {
        n: _sv_only_sample(d / f"{n}.parquet", s, k)
        for n, s, k in (("train", 1, 400), ("val", 2, 100), ("test", 3, 200))
    }
    run = train(DataConfig.load(CONFIG), [files["train"]], [files["val"]], d / "run", _settings())
    return run, files


def test_yaml_config_declares_points_features_mask_of_both_collections_and_two_heads():
    cfg = DataConfig.load(CONFIG)
    model = build_model("particlenet_sv", cfg, **TINY)
    assert model.heads == ("logits", "pt_corr")
    assert set(model.input_map.values()) == INPUTS
    # weaver-core's names: a ParticleNetTagger checkpoint has the same keys (plus our regression head)
    keys = {k.split(".")[0] for k in model.state_dict()}
    assert keys == {"pf_conv", "sv_conv", "pn", "regression"}


def test_sv_tokens_are_used_auc_above_0p9_with_pf_shuffled(sv_run):
    from sklearn.metrics import roc_auc_score

    run, files = sv_run
    cfg, model = load_run_model(run.run_dir)
    assert model.arch == "particlenet_sv"
    arrays = load_arrays([files["test"]], cfg, train=False)
    heads = score_heads(model, cfg, arrays, batch_size=64)
    assert set(heads) == {"softmax", "pt_corr"}
    assert roc_auc_score(arrays.label, heads["softmax"][:, 1]) > 0.9
    # the regression head learnt the mean response (≈ 1.1 in the toy) at least
    truth = arrays.target_values["pt_corr"]
    assert abs(np.median(heads["pt_corr"]) - np.median(truth)) < 0.1


def test_onnx_matches_pytorch_on_every_head_and_predict_writes_one_branch_per_output(sv_run, tmp_path):
    import onnxruntime as ort

    from higgsflow.data import read_table
    from higgsflow.train import OnnxScorer, export_onnx
    from higgsflow.train.inference import predict_files

    run, files = sv_run
    path = export_onnx(run.run_dir, tmp_path / "pnsv.onnx")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = {i.name: i.shape for i in sess.get_inputs()}
    assert set(inputs) == INPUTS
    assert inputs["pf_points"][2] == "n_pf" and inputs["sv_features"][2] == "n_sv"
    assert [o.name for o in sess.get_outputs()] == ["softmax", "pt_corr"]
    cfg, model = load_run_model(run.run_dir)
    arrays = load_arrays([files["test"]], cfg, train=False)
    torch_heads = score_heads(model, cfg, arrays, batch_size=7)
    onnx_heads = OnnxScorer(path).score_heads(cfg, arrays, batch_size=16)  # other batches and lengths
    assert set(onnx_heads) == set(torch_heads) == {"softmax", "pt_corr"}
    for name in torch_heads:
        assert np.abs(onnx_heads[name] - torch_heads[name]).max() < 1e-4, name
    assert np.ptp(torch_heads["softmax"][:, 1]) > 0.5  # the scores are not a constant
    # predict (ONNX backend, exported into the run on the fly): one branch per output, equal to PyTorch's
    (dest,) = predict_files(run.run_dir, [files["test"]], tmp_path / "scored", backend="onnx")
    out = read_table(dest)
    assert set(out.fields) - set(read_table(files["test"]).fields) == {"score_QCD", "score_Hbb", "pt_corr"}
    assert np.abs(ak.to_numpy(out["score_Hbb"]) - torch_heads["softmax"][:, 1]).max() < 1e-4
    assert np.abs(ak.to_numpy(out["pt_corr"]) - torch_heads["pt_corr"]).max() < 1e-4


def _jet(n_pf: int, n_sv: int, seed: int) -> dict[str, torch.Tensor]:
    """One jet of ``n_pf`` PF and ``n_sv`` SV tokens (no SV: one masked slot), random points and features."""
    g = torch.Generator().manual_seed(seed)

    def coll(n: int, c: int) -> dict[str, torch.Tensor]:
        return {
            "points": 0.3 * torch.randn(1, 2, max(n, 1), generator=g),
            "features": torch.randn(1, c, max(n, 1), generator=g),
            "mask": torch.full((1, 1, max(n, 1)), float(n > 0)),
        }

    pf, sv = coll(n_pf, 8), coll(n_sv, 10)
    return {**{f"pf_{k}": v for k, v in pf.items()}, **{f"sv_{k}": v for k, v in sv.items()}}


def _pad(jet: dict[str, torch.Tensor], n_pf: int, n_sv: int, seed: int) -> dict[str, torch.Tensor]:
    """The jet padded to ``n_pf``/``n_sv`` slots with random values in the padded points and features (as
    wrap-padding leaves copies of real tokens there) and a zero mask."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, x in jet.items():
        total = n_pf if name.startswith("pf") else n_sv
        extra = total - x.shape[-1]
        if name.endswith("mask"):
            fill = torch.zeros(1, 1, extra)
        else:
            fill = torch.randn(1, x.shape[1], extra, generator=g)
        out[name] = torch.cat((x, fill), dim=-1)
    return out


@pytest.mark.parametrize("n_pf,n_sv", [(12, 3), (2, 1), (3, 0)])  # 2 + 1 and 3 + 0 tokens: fewer than k
def test_score_does_not_depend_on_padding(n_pf, n_sv):
    cfg = DataConfig.load(CONFIG)
    model = build_model("particlenet_sv", cfg, seed=3, **TINY)
    _randomise_bn(model)
    model.eval()
    jet = _jet(n_pf, n_sv, seed=n_pf)
    with torch.no_grad():
        ref = model(jet)
        # padded, in a batch with a longer jet (so the padding is not trimmed away), and untrimmed (export mode)
        other = _pad(_jet(30, 5, seed=7), 40, 5, 1)
        batch = {k: torch.cat((_pad(jet, 40, 5, 2)[k], other[k])) for k in jet}
        outs = [model(batch)]
        model.export_mode = True
        outs.append(model(_pad(jet, 64, 8, 3)))
        model.export_mode = False
    assert ref["logits"].abs().max() > 1e-3  # a non-trivial output
    for out in outs:
        for h in ("logits", "pt_corr"):
            torch.testing.assert_close(out[h][:1], ref[h], atol=1e-5, rtol=1e-5)


def test_weaver_particlenet_tagger_checkpoint_parity(tmp_path):
    from weaver.nn.model.ParticleNet import ParticleNetTagger

    torch.manual_seed(0)
    conv = [(K, (16, 16, 16)), (K, (32, 32, 32))]
    ref = ParticleNetTagger(8, 10, 3, conv_params=conv, fc_params=[(32, 0.1)], use_fusion=True, trim=False)
    _randomise_bn(ref)
    torch.save(_weaver_wrapped(ref).state_dict(), tmp_path / "pnsv.pt")
    ours = ParticleNetSV(8, 10, 3, conv_params=conv, fc_params=[(32, 0.1)])
    load_weaver_state_dict(ours, tmp_path / "pnsv.pt")
    ref.eval()
    ours.eval()
    # every jet has more than k real tokens (weaver-core would also pick padded slots otherwise)
    jets = [_pad(_jet(n, s, seed=n), 24, 5, n) for n, s in ((6, 2), (20, 0), (9, 5), (24, 1))]
    batch = {k: torch.cat([j[k] for j in jets]) for k in jets[0]}
    with torch.no_grad():
        expected = ref(*(batch[f"{c}_{r}"] for c in ("pf", "sv") for r in ("points", "features", "mask")))
        got = ours(batch)["logits"]
    assert (got - expected).abs().max() < 1e-5


def test_config_without_sv_groups_fails_at_build_with_one_line_naming_the_missing_one(tmp_path):
    opts = yaml.safe_load(CONFIG.read_text())
    del opts["inputs"]["sv_points"]
    path = tmp_path / "no_sv_points.yaml"
    path.write_text(yaml.safe_dump(opts))
    with pytest.raises(ConfigError) as err:
        build_model("particlenet_sv", DataConfig.load(path), **TINY)
    msg = str(err.value)
    assert "\n" not in msg and "sv_points" in msg and "no_sv_points.yaml" in msg and "inputs" in msg
    # a PF-only config (no sv_* group at all) names the first SV group it lacks
    for name in ("sv_features", "sv_mask"):
        del opts["inputs"][name]
    (tmp_path / "pf_only.yaml").write_text(yaml.safe_dump(opts))
    with pytest.raises(ConfigError) as err:
        build_model("particlenet_sv", DataConfig.load(tmp_path / "pf_only.yaml"), **TINY)
    assert "\n" not in str(err.value) and "sv_points" in str(err.value) and "pf_only.yaml" in str(err.value)
    # the ParT config (four-vectors, no points) is refused the same way, naming the first missing group
    other = Path(__file__).resolve().parents[1] / "examples" / "tagging" / "pf_sv_regression.yaml"
    with pytest.raises(ConfigError, match="pf_points"):
        build_model("particlenet_sv", DataConfig.load(other), **TINY)


def test_knn_ties_at_the_k_th_neighbour_go_to_the_lower_index_as_in_onnx():
    """Two particles at the same distance from a third (here: at the same (η, φ)) with only one neighbour slot
    left: PyTorch's topk leaves the choice open, ONNX's TopK takes the lower index; the EdgeConv takes the lower
    index too, so the exported model gives the same score (on the toy jets above it differed by 1e-3 before)."""
    from higgsflow.models.particlenet import _nearest

    g = torch.Generator().manual_seed(0)
    dist = (torch.randint(0, 4, (64, 12, 12), generator=g) * 0.25).float()  # many exact ties
    dist[:, :, -2:] = 3.0e38  # two padded slots
    vals, idx = _nearest(dist, 5, 3.0e38)
    s_vals, s_idx = dist.sort(dim=-1, stable=True)
    # the same neighbour sets as a stable sort's (the order within a set does not matter: the edges are averaged)
    assert torch.equal(vals, s_vals[..., :5])
    assert torch.equal(idx.sort(dim=-1).values, s_idx[..., :5].sort(dim=-1).values)
    assert not torch.equal(
        dist.topk(5, dim=-1, largest=False).indices.sort(dim=-1).values, idx.sort(dim=-1).values
    )
