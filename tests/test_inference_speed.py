"""The speed-ups of ONNX inference and ``predict`` keep the scores: batch norms folded into Gemms, runs cut to
short length-sorted chunks, the ONNX backend without the PyTorch weights."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from higgsflow.data import DataConfig, load_arrays, read_table
from higgsflow.data.toy import write_toy_jets
from higgsflow.train import OnnxScorer, TrainSettings, export_onnx, train
from higgsflow.train.inference import fold_batchnorms, predict_files
from test_train_loop import config_dict  # tests/ is on sys.path

torch.set_num_threads(1)
CLASSES = ["QCD", "Hbb", "Tbqq"]
TINY_PART = {"embed_dims": [16, 16], "pair_embed_dims": [8, 8], "num_heads": 2, "num_layers": 1}


def _bn_gemm_graph(trans_b: int) -> onnx.ModelProto:
    """x (M, 3) → BN → Gemm (→ 4) → BN → Relu → Gemm (→ 2, no bias) → BN → y; random weights and statistics."""
    rng = np.random.default_rng(trans_b)
    inits, nodes = [], []

    def add(name, *shape, positive=False):
        a = rng.random(shape) + 0.5 if positive else rng.standard_normal(shape)
        inits.append(numpy_helper.from_array(a.astype(np.float32), name))
        return name

    def bn(i, x, c, out):
        names = [add(f"bn{i}_{p}", c, positive=p == "var") for p in ("scale", "bias", "mean", "var")]
        nodes.append(helper.make_node("BatchNormalization", [x, *names], [out], epsilon=1e-3, name=f"bn{i}"))

    def gemm(i, x, k, n, out, bias=True):
        w = add(f"w{i}", *((n, k) if trans_b else (k, n)))
        ins = [x, w, add(f"b{i}", n)] if bias else [x, w]
        nodes.append(helper.make_node("Gemm", ins, [out], transB=trans_b, name=f"gemm{i}"))

    bn(0, "x", 3, "a")
    gemm(0, "a", 3, 4, "b")
    bn(1, "b", 4, "c")
    nodes.append(helper.make_node("Relu", ["c"], ["d"]))
    gemm(1, "d", 4, 2, "e", bias=False)
    bn(2, "e", 2, "y")
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["m", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["m", 2])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # our folding, not ORT's
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"]).run(
        None, {"x": x}
    )[0]


@pytest.mark.parametrize("trans_b", [0, 1])
def test_batchnorms_before_and_after_a_gemm_are_folded_into_it(trans_b):
    model = _bn_gemm_graph(trans_b)
    x = np.random.default_rng(5).standard_normal((7, 3)).astype(np.float32)
    expected = _run(model, x)
    assert fold_batchnorms(model) == 3
    assert [n.op_type for n in model.graph.node] == ["Gemm", "Relu", "Gemm"]
    assert len(model.graph.initializer) == 4  # the unfolded weights are gone
    np.testing.assert_allclose(_run(model, x), expected, rtol=1e-5, atol=1e-5)
    assert np.abs(expected).max() > 0.5  # not a comparison of zeros
    assert fold_batchnorms(model) == 0


def test_a_batchnorm_whose_input_is_shared_is_kept():
    model = _bn_gemm_graph(1)
    # the output of gemm0 also feeds a second graph output: folding bn1 into gemm0 would change it
    model.graph.output.append(helper.make_tensor_value_info("b", TensorProto.FLOAT, ["m", 4]))
    x = np.random.default_rng(6).standard_normal((4, 3)).astype(np.float32)
    expected = _run(model, x)
    assert fold_batchnorms(model) == 2
    assert [n.name for n in model.graph.node if n.op_type == "BatchNormalization"] == ["bn1"]
    np.testing.assert_allclose(_run(model, x), expected, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("speed")
    cfg_path = d / "cfg.yaml"
    DataConfig.from_dict(config_dict()).dump(cfg_path)
    f = write_toy_jets(d / "jets.parquet", CLASSES, 30, seed=3, n_min=8, n_max=40)
    run = train(
        cfg_path,
        [f],
        [f],
        d / "run",
        TrainSettings(network="part", network_kwargs=TINY_PART, epochs=1, batch_size=32, seed=7),
    )
    export_onnx(run.run_dir)
    return run.run_dir, f


def test_exported_part_has_no_batchnorm_left_in_its_pair_embedding(run_dir):
    run, _ = run_dir
    ops = [(n.op_type, n.name) for n in onnx.load(run / "model.onnx").graph.node]
    assert any("pair_embed" in name for _, name in ops)
    assert not [name for op, name in ops if op == "BatchNormalization" and "pair_embed" in name]


def test_short_chunks_give_the_same_scores(run_dir):
    run, f = run_dir
    path = run / "model.onnx"
    cfg = DataConfig.load(run / "data_config.yaml")
    arrays = load_arrays([f], cfg, train=False)
    scorer = OnnxScorer(path)
    runs: list[int] = []

    class Counting:  # the real session, recording the jets of each run
        def __init__(self, session):
            self.session = session

        def get_outputs(self):
            return self.session.get_outputs()

        def run(self, out, feed):
            runs.append(len(next(iter(feed.values()))))
            return self.session.run(out, feed)

    scorer.session = Counting(scorer.session)
    scorer.chunk = 7
    short = scorer.score(cfg, arrays, batch_size=512)
    assert max(runs) == 7 and sum(runs) == len(arrays) == 90
    runs.clear()
    scorer.chunk = 1000
    whole = scorer.score(cfg, arrays, batch_size=512)
    assert runs == [90]
    np.testing.assert_allclose(short, whole, atol=1e-5)
    assert short.std(axis=0).max() > 0  # jets are scored differently: the order is checked, too


def test_onnx_predict_needs_only_the_exported_model(run_dir, tmp_path):
    run, f = run_dir
    with_weights = predict_files(run, [f], tmp_path / "a")[0]
    weights = run / "model.pt"
    kept = weights.read_bytes()
    weights.unlink()  # the ONNX backend reads model.onnx and the data config, never the PyTorch weights
    try:
        without = predict_files(run, [f], tmp_path / "b")[0]
    finally:
        weights.write_bytes(kept)
    a, b = read_table(with_weights), read_table(without)
    assert a.fields == b.fields and "score_Hbb" in a.fields
    np.testing.assert_array_equal(np.asarray(a["score_Hbb"]), np.asarray(b["score_Hbb"]))


@pytest.fixture(scope="module")
def pn_run(tmp_path_factory):
    from test_train_loop import TINY_PN

    d = tmp_path_factory.mktemp("pn_speed")
    cfg_path = d / "cfg.yaml"
    DataConfig.from_dict(config_dict()).dump(cfg_path)
    f = write_toy_jets(d / "jets.parquet", CLASSES, 10, seed=4, n_min=8, n_max=30)
    run = train(
        cfg_path,
        [f],
        [f],
        d / "run",
        TrainSettings(network="particlenet", network_kwargs=TINY_PN, epochs=1, batch_size=32, seed=7),
    )
    export_onnx(run.run_dir)
    return run.run_dir


def test_exported_particlenet_works_on_the_real_particles_of_a_padded_jet_only(pn_run, tmp_path):
    """A jet fed padded to a fixed length (as CMSSW's producers feed it), its padded slots anywhere: the edge
    convolutions of the exported graph run on its real particles' edges only, without Einsum, and the scores
    are those of the jet fed without padding and of the PyTorch model."""
    import json
    from pathlib import Path

    from higgsflow.train.inference import load_run_model

    rng = np.random.default_rng(0)
    p, n_real, k = 32, 9, 4  # TINY_PN: k = 4 in both EdgeConv blocks
    real = np.sort(rng.choice(p, n_real, replace=False))
    mask = np.zeros((1, 1, p), np.float32)
    mask[..., real] = 1.0
    points = (rng.normal(0, 0.3, (1, 2, p)) * mask).astype(np.float32)
    features = (rng.normal(0, 1, (1, 5, p)) * mask).astype(np.float32)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.enable_profiling = True
    opts.profile_file_prefix = str(tmp_path / "profile")
    sess = ort.InferenceSession(str(pn_run / "model.onnx"), opts, providers=["CPUExecutionProvider"])
    roles = {"points": points, "features": features, "mask": mask}
    names = [i.name for i in sess.get_inputs()]
    feed = {n: roles[n.rsplit("_", 1)[1]] for n in names}
    padded = sess.run(None, feed)[0]
    events = json.loads(Path(sess.end_profiling()).read_text())
    rows = {
        e["args"]["output_type_shape"][0]["float"][0]
        for e in events
        if e.get("cat") == "Node"
        and e["args"].get("op_name") in ("Gemm", "FusedGemm")
        and "edge_convs" in e["name"]
    }
    assert rows == {n_real * k}  # not p * k: the padded slots cost nothing
    assert "Einsum" not in {n.op_type for n in onnx.load(pn_run / "model.onnx").graph.node}
    compact = sess.run(None, {n: v[..., real] for n, v in feed.items()})[0]
    np.testing.assert_allclose(padded, compact, atol=1e-6)
    _, model = load_run_model(pn_run)
    with torch.no_grad():
        logits = model.positional(
            *(torch.from_numpy(x[..., real]) for x in (points, features)),
            None,
            torch.from_numpy(mask[..., real]),
        )
    np.testing.assert_allclose(padded, logits.softmax(-1).numpy(), atol=1e-5)
    assert padded.std() > 1e-3  # the classes get different scores: not a vacuous comparison
