"""Two-collection ParT (PF + SV tokens) with a classes + log-cosh regression task, configured by YAML alone."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import torch

from higgsflow.data import DataConfig, load_arrays, write_table
from higgsflow.data.toy import make_toy_jets
from higgsflow.models import build_model
from higgsflow.train import TrainSettings, load_run_model, train
from higgsflow.train.inference import score_heads

torch.set_num_threads(1)
CONFIG = Path(__file__).resolve().parents[1] / "examples" / "tagging" / "pf_sv_regression.yaml"
TINY = {"embed_dims": [16, 16], "pair_embed_dims": [8], "num_heads": 2, "num_layers": 1, "num_cls_layers": 1}


def _sv_only_sample(path: Path, seed: int, n_per_class: int) -> Path:
    """Toy jets whose label depends only on the secondary vertices (a vertex with 3D significance > 20), with
    every PF branch shuffled across jets (the PF tokens carry no information about the label)."""
    c = make_toy_jets(["QCD", "Hbb"], n_per_class, seed=seed, n_min=8, n_max=32)
    perm = np.random.default_rng(seed + 100).permutation(len(c["jet_pt"]))
    for k in list(c):
        if k.startswith("part_"):
            c[k] = c[k][perm]
    sig = ak.to_numpy(ak.any(c["sv_d3dsig"] > 20, axis=1))
    c["label_Hbb"], c["label_QCD"] = sig.astype(np.float32), (~sig).astype(np.float32)
    return write_table(path, c)


def _settings(**kw) -> TrainSettings:
    base = {"network": "part_sv", "network_kwargs": TINY, "epochs": 4, "batch_size": 32, "lr": 3e-3}
    return TrainSettings(**{**base, "optimizer": "adamw", "seed": 1, **kw})


@pytest.fixture(scope="module")
def sv_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("part_sv")
    files = {
        n: _sv_only_sample(d / f"{n}.parquet", s, k)
        for n, s, k in (("train", 1, 400), ("val", 2, 100), ("test", 3, 200))
    }
    run = train(DataConfig.load(CONFIG), [files["train"]], [files["val"]], d / "run", _settings())
    return run, files


def test_yaml_config_declares_two_collections_and_two_heads():
    cfg = DataConfig.load(CONFIG)
    assert set(cfg.collections) == {"pf", "sv"}
    model = build_model("part_sv", cfg, **TINY)
    assert model.heads == ("logits", "pt_corr")
    assert {n for n in model.input_map.values()} == {
        f"{c}_{r}" for c in ("pf", "sv") for r in ("features", "vectors", "mask")
    }
    # the one-collection ParT cannot serve this task: it has no pt_corr head
    with pytest.raises(Exception, match=r"loss\[1\]\.head"):
        build_model("part", cfg, **TINY)


def test_sv_tokens_are_used_auc_above_0p9_with_pf_shuffled(sv_run):
    from sklearn.metrics import roc_auc_score

    run, files = sv_run
    cfg, model = load_run_model(run.run_dir)
    arrays = load_arrays([files["test"]], cfg, train=False)
    heads = score_heads(model, cfg, arrays, batch_size=64)
    assert set(heads) == {"softmax", "pt_corr"}
    assert roc_auc_score(arrays.label, heads["softmax"][:, 1]) > 0.9
    # the regression head learnt the mean response (≈ 1.1 in the toy) at least
    truth = arrays.target_values["pt_corr"]
    assert abs(np.median(heads["pt_corr"]) - np.median(truth)) < 0.1


def test_onnx_export_has_named_inputs_one_output_per_head_and_matches_pytorch(sv_run):
    import json

    import onnxruntime as ort

    from higgsflow.train import OnnxScorer, export_onnx

    run, files = sv_run
    (run.run_dir.parent / "export").mkdir()
    path = export_onnx(run.run_dir, run.run_dir.parent / "export" / "sv.onnx")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = {i.name: i.shape for i in sess.get_inputs()}
    assert set(inputs) == {f"{c}_{r}" for c in ("pf", "sv") for r in ("features", "vectors", "mask")}
    assert (
        inputs["pf_features"][0] == "N"
        and inputs["pf_features"][2] == "n_pf"
        and inputs["sv_mask"][2] == "n_sv"
    )
    assert [o.name for o in sess.get_outputs()] == ["softmax", "pt_corr"]
    assert json.loads(path.with_suffix(".json").read_text())["heads"] == ["logits", "pt_corr"]
    cfg, model = load_run_model(run.run_dir)
    arrays = load_arrays([files["test"]], cfg, train=False)
    torch_heads = score_heads(model, cfg, arrays, batch_size=7)
    onnx_heads = OnnxScorer(path).score_heads(cfg, arrays, batch_size=16)  # other batches and lengths
    assert set(onnx_heads) == set(torch_heads) == {"softmax", "pt_corr"}
    for name in torch_heads:
        assert np.abs(onnx_heads[name] - torch_heads[name]).max() < 1e-4, name
    np.testing.assert_allclose(onnx_heads["softmax"].sum(1), 1.0, atol=1e-5)


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_predict_writes_one_branch_per_output(sv_run, tmp_path, backend):
    from higgsflow.cli import main
    from higgsflow.data import read_table

    run, files = sv_run
    assert (
        main(
            [
                "predict",
                str(run.run_dir),
                str(files["test"]),
                "-o",
                str(tmp_path / backend),
                "--backend",
                backend,
            ]
        )
        == 0
    )
    out = read_table(tmp_path / backend / "test.parquet")
    new = set(out.fields) - set(read_table(files["test"]).fields)
    assert new == {"score_QCD", "score_Hbb", "pt_corr"}
    np.testing.assert_allclose(ak.to_numpy(out["score_QCD"] + out["score_Hbb"]), 1.0, atol=1e-5)
    cfg, model = load_run_model(run.run_dir)
    arrays = load_arrays([files["test"]], cfg, train=False)
    ref = score_heads(model, cfg, arrays)
    assert np.abs(ak.to_numpy(out["pt_corr"]) - ref["pt_corr"]).max() < 1e-4


def test_evaluate_reports_the_regression_head(sv_run, tmp_path):
    from higgsflow.train import evaluate_run

    run, files = sv_run
    res = evaluate_run(run.run_dir, [files["test"]], out=tmp_path / "eval")
    import json

    reg = json.loads(res.metrics_path.read_text())["regression"]
    # the toy response has a spread of a few percent around ≈ 1.1: the resolution of pred/true is below 0.2
    assert set(reg) == {"pt_corr_response", "pt_corr_resolution"}
    assert 0.9 < reg["pt_corr_response"] < 1.1 and 0 < reg["pt_corr_resolution"] < 0.2


def test_two_head_training_resumes_bit_identically(sv_run, tmp_path):
    run, files = sv_run
    cfg = DataConfig.load(CONFIG)
    args = (cfg, [files["train"]], [files["val"]])

    def ctrl_c(info):  # between two steps of the second epoch
        if info.get("epoch") == 1 and info.get("step") == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(*args, tmp_path / "cut", _settings(), progress=ctrl_c)
    resumed = train(*args, tmp_path / "cut", _settings(), resume=True)
    a = torch.load(run.run_dir / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [h["val_loss"] for h in resumed.history] == [h["val_loss"] for h in run.history]
