"""Inference on trained runs: scoring (PyTorch or ONNX Runtime), ONNX export, ``evaluate`` and ``predict``.

Scoring sorts the jets by multiplicity and cuts each batch to its own longest jet, so padding costs
nothing; the
scores are returned in the original order. In eval mode every model gives a jet the same score whatever it was
padded to, so this changes no result.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from higgsflow.data.config import DataConfig
from higgsflow.data.io import read_metadata, read_table, write_table
from higgsflow.data.loader import JetArrays, expand_files, iter_arrays, load_arrays
from higgsflow.errors import CheckpointError, DataError, ModelError
from higgsflow.models.contract import split_name
from higgsflow.models.registry import export_description
from higgsflow.outputs import check_output, check_outputs
from higgsflow.train.loop import _mask_name, load_run_model, model_input_names
from higgsflow.train.task import Task

__all__ = [
    "EvaluationResult",
    "OnnxScorer",
    "evaluate_run",
    "export_onnx",
    "fold_batchnorms",
    "predict_files",
    "score_arrays",
]

log = logging.getLogger(__name__)


def _collections(names: Sequence[str], config: DataConfig) -> dict[str, str | None]:
    """For each input name, the mask input of its collection (None: no mask, never cut)."""
    out = {}
    for n in names:
        coll = split_name(n)[0]
        m = f"{coll}_mask" if coll else "mask"
        out[n] = m if m in config.inputs and config.inputs[n].length > 1 else None
    return out


def _lengths(config: DataConfig, arrays: JetArrays, mask: str | None) -> np.ndarray:
    if mask is None:
        return np.full(len(arrays), max(x.shape[-1] for x in arrays.inputs.values()))
    return (arrays.inputs[mask][:, 0] != 0).sum(axis=1)


def _cut_batch(
    arrays: JetArrays, names: Sequence[str], masks: dict[str, str | None], idx: np.ndarray, min_len: int = 1
) -> dict[str, np.ndarray]:
    """The jets ``idx`` of each input, each collection cut to its own longest jet of the batch (at least
    ``min_len`` slots, zero-padded beyond the stored length)."""
    longest: dict[str, int] = {}
    out = {}
    for n in names:
        x = arrays.inputs[n][idx]
        m = masks[n]
        if m is not None:
            if m not in longest:
                longest[m] = max(int((arrays.inputs[m][idx, 0] != 0).sum(axis=1).max(initial=0)), min_len)
            length = longest[m]
            x = x[..., :length]
            if x.shape[-1] < length:
                x = np.concatenate([x, np.zeros((*x.shape[:2], length - x.shape[-1]), x.dtype)], axis=-1)
        out[n] = np.ascontiguousarray(x)
    return out


def _batches(lengths: np.ndarray, batch_size: int, min_len: int = 1):
    order = np.argsort(lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        yield idx, max(int(lengths[idx].max()), min_len)


def score_heads(
    model: torch.nn.Module,
    config: DataConfig,
    arrays: JetArrays,
    *,
    batch_size: int = 512,
    device: str = "cpu",
) -> dict[str, np.ndarray]:
    """Every head of a PyTorch model for ``arrays`` (the class head ``logits`` as softmax probabilities under
    the name ``softmax``; a head trained on a ``space: log`` target exponentiated back), in the order of
    ``arrays``."""
    model = model.to(device).eval()
    names = model_input_names(model, config)
    masks = _collections(names, config)
    main = _mask_name(model, config)
    out: dict[str, np.ndarray] = {}
    with torch.inference_mode():
        for idx, _ in _batches(_lengths(config, arrays, main), batch_size):
            batch = {
                k: torch.from_numpy(v).to(device) for k, v in _cut_batch(arrays, names, masks, idx).items()
            }
            for head, t in model(batch).items():
                t = torch.softmax(t.float(), dim=1) if head == "logits" else t.float()
                key = "softmax" if head == "logits" else head
                if key not in out:
                    out[key] = np.empty((len(arrays), *t.shape[1:]), dtype=np.float32)
                out[key][idx] = t.cpu().numpy()
    return config.physical_heads(out)


def score_arrays(
    model: torch.nn.Module,
    config: DataConfig,
    arrays: JetArrays,
    *,
    batch_size: int = 512,
    device: str = "cpu",
) -> np.ndarray:
    """Softmax scores (N, K) of a PyTorch model, in the order of ``arrays``."""
    return score_heads(model, config, arrays, batch_size=batch_size, device=device)["softmax"]


class _Export(torch.nn.Module):
    """Positional named inputs → the heads as a tuple (the class head as softmax), for ONNX export."""

    def __init__(self, model: torch.nn.Module, names: list[str], heads: list[str]) -> None:
        super().__init__()
        self.model, self.names, self.heads = model, names, heads

    def forward(self, *inputs):
        out = self.model(dict(zip(self.names, inputs, strict=True)))
        return tuple(torch.softmax(out[h], dim=1) if h == "logits" else out[h] for h in self.heads)


def _attr(node: Any, name: str, default: Any) -> Any:
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _names_used(graph: Any) -> set[str]:
    """Every name a node of ``graph`` reads, also inside subgraphs (``If``/``Loop`` bodies)."""
    from onnx import AttributeProto

    used = set()
    for node in graph.node:
        used.update(node.input)
        for a in node.attribute:
            if a.type == AttributeProto.GRAPH:
                used |= _names_used(a.g)
            elif a.type == AttributeProto.GRAPHS:
                for sub in a.graphs:
                    used |= _names_used(sub)
    return used


def fold_batchnorms(model: Any) -> int:
    """Fold, in place, every inference BatchNormalization of the ONNX graph ``model`` (a ``ModelProto``) that
    directly follows or precedes a ``Gemm`` (and is its only link) into that Gemm's weights and bias; returns how
    many were folded. ONNX Runtime fuses a batch norm into a convolution but not into a Gemm (ParT's pair
    embedding: four batch norms over every particle pair). Same function up to float rounding."""
    from onnx import numpy_helper

    g = model.graph
    inits = {i.name: i for i in g.initializer}
    graph_outputs = {o.name for o in g.output}

    def array(name: str) -> np.ndarray:
        return numpy_helper.to_array(inits[name]).astype(np.float64)

    def plain_gemm(node: Any) -> bool:
        return (
            node is not None
            and node.op_type == "Gemm"
            and node.input[1] in inits
            and (len(node.input) < 3 or node.input[2] in inits)
            and _attr(node, "alpha", 1.0) == 1.0
            and _attr(node, "beta", 1.0) == 1.0
            and not _attr(node, "transA", 0)
        )

    folded = 0
    while True:
        consumers: dict[str, list[Any]] = {}
        for node in g.node:
            for name in node.input:
                consumers.setdefault(name, []).append(node)
        producers = {o: node for node in g.node for o in node.output}
        for bn in g.node:
            if bn.op_type != "BatchNormalization" or len(bn.output) != 1 or _attr(bn, "training_mode", 0):
                continue
            x, *params = bn.input[:5]
            if len(params) != 4 or not all(p in inits for p in params):
                continue
            scale, bias, mean, var = (array(p) for p in params)
            s = scale / np.sqrt(var + _attr(bn, "epsilon", 1e-5))
            t = bias - mean * s
            before, after = producers.get(x), consumers.get(bn.output[0], [])
            if plain_gemm(before) and len(consumers[x]) == 1 and x not in graph_outputs:
                # Gemm → BN (the Gemm's output channels are the BN's channels: a Gemm output has rank 2)
                gemm, trans_b = before, _attr(before, "transB", 0)
                w = array(gemm.input[1])
                if w.ndim != 2 or w.shape[0 if trans_b else 1] != s.size:
                    continue
                w = w * (s[:, None] if trans_b else s[None, :])
                c0 = array(gemm.input[2]).reshape(-1) if len(gemm.input) > 2 else np.zeros(1)
                if c0.size not in (1, s.size):
                    continue
                c = np.broadcast_to(c0, s.shape) * s + t
                gemm.output[0] = bn.output[0]
            elif len(after) == 1 and plain_gemm(after[0]) and bn.output[0] not in graph_outputs:
                # BN → Gemm (the BN's channels are the Gemm's input columns: its input A has rank 2)
                gemm, trans_b = after[0], _attr(after[0], "transB", 0)
                if gemm.input[0] != bn.output[0]:
                    continue
                w0 = array(gemm.input[1])  # (N, K) when transB, else (K, N)
                w_kn = w0.T if trans_b else w0
                if w0.ndim != 2 or w_kn.shape[0] != s.size:
                    continue
                c0 = array(gemm.input[2]).reshape(-1) if len(gemm.input) > 2 else np.zeros(1)
                if c0.size not in (1, w_kn.shape[1]):
                    continue
                c = np.broadcast_to(c0, (w_kn.shape[1],)) + t @ w_kn
                w = w0 * (s[None, :] if trans_b else s[:, None])
                gemm.input[0] = x
            else:
                continue
            base = f"{bn.name or bn.output[0]}/folded"
            for name, value in ((f"{base}_weight", w), (f"{base}_bias", c)):
                g.initializer.append(
                    numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), name)
                )
                inits[name] = g.initializer[-1]
            gemm.input[1] = f"{base}_weight"
            if len(gemm.input) > 2:
                gemm.input[2] = f"{base}_bias"
            else:
                gemm.input.append(f"{base}_bias")
            g.node.remove(bn)
            folded += 1
            break
        else:
            break
    if folded:
        used = _names_used(g) | {i.name for i in g.input}
        for init in [i for i in g.initializer if i.name not in used]:
            g.initializer.remove(init)
    return folded


def export_onnx(
    run: str | os.PathLike[str],
    path: str | os.PathLike[str] | None = None,
    *,
    opset: int = 17,
    overwrite: bool = False,
) -> Path:
    """Export a run's model to ONNX (``run/model.onnx``): inputs named as the data config's input groups, one
    output per head (the class head as ``softmax`` probabilities, regression heads by their names), a dynamic
    batch axis and a dynamic length axis per collection (``n_pf``, ``n_sv``, ...), with ``model.json`` (input names, shapes, axes) and, in the same folder,
    ``preprocess.json``: the input preprocessing as CMSSW's ONNX jet-tagger producers read it
    (:meth:`DataConfig.preprocess_json`)."""
    run = Path(run)
    path = Path(path) if path is not None else run / "model.onnx"
    prep_path = path.with_name("preprocess.json")
    check_outputs([path, path.with_suffix(".json"), prep_path], overwrite=overwrite)
    cfg, model = load_run_model(run)
    desc = export_description(model, cfg)
    for m in model.modules():
        if hasattr(m, "export_mode"):
            m.export_mode = True
    wrapper = _Export(model, desc["input_names"], list(getattr(model, "heads", ("logits",)))).eval()
    k_min = max([c.k + 1 for c in getattr(model, "edge_convs", [])] or [1])
    prep = cfg.preprocess_json(desc["input_names"], min_length=k_min)
    example = tuple(
        torch.zeros(1, s[1], max(min(s[2], 2 * k_min), 1 if s[2] == 1 else 2))
        for s in desc["input_shapes"].values()
    )
    for name, x in zip(desc["input_names"], example, strict=True):
        if split_name(name)[1] == "mask":
            x.fill_(1.0)
        else:
            x.normal_(generator=torch.Generator().manual_seed(0))
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper,
                example,
                os.fspath(tmp),
                input_names=desc["input_names"],
                output_names=desc["output_names"],
                dynamic_axes=desc["dynamic_axes"],
                opset_version=opset,
                dynamo=False,
            )
        import onnx

        graph = onnx.load(os.fspath(tmp))
        if fold_batchnorms(graph):
            onnx.save(graph, os.fspath(tmp))
        tmp.replace(path)
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise ModelError(f"ONNX export failed: {exc}", file=path) from exc
    meta = {**desc, "min_particles": k_min, "label_names": cfg.label_names, "heads": list(model.heads),
            "log_heads": sorted(cfg.log_heads())}  # fmt: skip
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2))
    prep_path.write_text(json.dumps(prep, indent=2))
    return path


class OnnxScorer:
    """Scores jets with ONNX Runtime (batches sorted by multiplicity and cut to their longest jet).

    A run holds at most ``chunk`` jets (whatever the batch size): the shorter the run, the closer its jets'
    lengths and the less padding is computed (ParT's pair embedding grows as the square of the length); below
    ~64 jets the per-run cost takes over. A model exported before batch norms were folded at export is folded
    when loaded."""

    chunk = 64

    def __init__(self, path: str | os.PathLike[str], *, threads: int | None = None) -> None:
        import onnx
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(
                "ONNX model not found", file=path, expected="run `higgsflow export RUN --onnx` first"
            )
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        source: str | bytes = os.fspath(self.path)
        graph = onnx.load(source, load_external_data=False)
        external = any(i.data_location == onnx.TensorProto.EXTERNAL for i in graph.graph.initializer)
        if not external and fold_batchnorms(graph):
            source = graph.SerializeToString()
        self.session = ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])
        meta_path = self.path.with_suffix(".json")
        self.min_particles = (
            json.loads(meta_path.read_text()).get("min_particles", 1) if meta_path.is_file() else 1
        )
        self.input_names = [i.name for i in self.session.get_inputs()]

    def score_heads(
        self, config: DataConfig, arrays: JetArrays, *, batch_size: int = 512
    ) -> dict[str, np.ndarray]:
        """Every output of the model by name (``softmax`` and the regression heads), in the order of
        ``arrays``."""
        masks = _collections(self.input_names, config)
        main = next((m for m in masks.values() if m is not None), None)
        outs = [o.name for o in self.session.get_outputs()]
        out: dict[str, np.ndarray] = {}
        for idx, _ in _batches(_lengths(config, arrays, main), min(batch_size, self.chunk)):
            feed = _cut_batch(arrays, self.input_names, masks, idx, self.min_particles)
            for name, res in zip(outs, self.session.run(None, feed), strict=True):
                if name not in out:
                    out[name] = np.empty((len(arrays), *res.shape[1:]), dtype=np.float32)
                out[name][idx] = res
        return config.physical_heads(out)

    def score(self, config: DataConfig, arrays: JetArrays, *, batch_size: int = 512) -> np.ndarray:
        """Softmax scores (N, K), in the order of ``arrays``."""
        return self.score_heads(config, arrays, batch_size=batch_size)["softmax"]


@dataclass
class EvaluationResult:
    metrics: Any
    scores: np.ndarray
    labels: np.ndarray
    plots: dict[str, Path]
    metrics_path: Path


def evaluate_run(
    run: str | os.PathLike[str],
    test_files: Sequence[str | os.PathLike[str]],
    *,
    out: str | os.PathLike[str] | None = None,
    batch_size: int = 512,
    max_jets: int | None = None,
    overwrite: bool = False,
    attack_eps: float | None = None,
    attack_method: str = "ngm",
) -> EvaluationResult:
    """Score ``test_files`` with a run's best model; write ``metrics.json`` (with, for a task with regression
    heads, their response, resolution and quantile coverage under ``regression``), ``roc.png``, ``scores.png``.

    ``attack_eps``: also the metrics on the test jets moved by an attack of that size against their true labels
    (:mod:`higgsflow.train.adversarial`; the feature spreads of the run's ``adversarial.json`` if it was
    trained adversarially, else measured on the test jets), under ``attack`` in ``metrics.json``."""
    from higgsflow.evaluate.metrics import compute_metrics
    from higgsflow.evaluate.plots import plot_roc, plot_scores, sqrt_s_of

    run = Path(run)
    out = Path(out) if out is not None else run / "eval"
    metrics_path = out / "metrics.json"
    check_outputs([metrics_path, out / "roc.png", out / "scores.png"], overwrite=overwrite)
    test_files = expand_files(test_files, field="--test")
    cfg, model = load_run_model(run)
    if cfg.label_type != "simple":
        raise ModelError("evaluate supports classification runs (simple labels)", file=run)
    if attack_eps is not None:
        from higgsflow.train.adversarial import check_attack

        check_attack(attack_eps, attack_method, option="attack")
    arrays = load_arrays(test_files, cfg, train=False, max_jets=max_jets)
    if arrays.label is None:
        raise DataError(
            "the test files have no labels: evaluate needs the truth (use `higgsflow predict` to score them)",
            file=test_files[0],
            field=", ".join(cfg.label_names),
        )
    heads = score_heads(model, cfg, arrays, batch_size=batch_size)
    scores = heads["softmax"]
    metrics = compute_metrics(scores, arrays.label, cfg.label_names)
    attack = None
    if attack_eps is not None:
        attack = _attacked_metrics(run, model, cfg, arrays, attack_eps, attack_method, metrics, batch_size)
    out.mkdir(parents=True, exist_ok=True)
    result = metrics.to_dict()
    regression = {
        k: v
        for k, v in Task(cfg).metrics(heads, arrays.label, arrays.target_values).items()
        if k != "accuracy" and not k.startswith("auc_")
    }
    if regression:  # response, resolution, quantile coverage of the regression heads
        result["regression"] = regression
    if attack is not None:
        result["attack"] = attack
    result["test_files"] = [os.fspath(f) for f in test_files]
    metrics_path.write_text(json.dumps(result, indent=2))
    com = sqrt_s_of(test_files)  # √s for the plot headers, from the files' metadata
    plots = {
        "roc": plot_roc(scores, arrays.label, cfg.label_names, metrics.background, out / "roc.png", com=com),
        "scores": plot_scores(scores, arrays.label, cfg.label_names, out / "scores.png", com=com),
    }
    return EvaluationResult(metrics, scores, arrays.label, plots, metrics_path)


def _attacked_metrics(run, model, cfg, arrays, eps, method, nominal, batch_size) -> dict[str, Any]:
    """AUC and rejection on the test jets moved by an attack of size ``eps``, beside the nominal ones."""
    from higgsflow.evaluate.metrics import compute_metrics
    from higgsflow.train.adversarial import Adversary, attack_arrays, feature_spreads

    path = Path(run) / "adversarial.json"
    if path.is_file():
        adversary = Adversary.from_json(path, epsilon=eps, method=method)
        spreads_from = "training jets (adversarial.json)"
    else:
        adversary = Adversary(eps, feature_spreads(arrays, model_input_names(model, cfg)), method)
        spreads_from = "test jets"
    moved = attack_arrays(model, cfg, arrays, adversary, batch_size=min(batch_size, 256))
    attacked = compute_metrics(score_heads(model, cfg, moved, batch_size=batch_size)["softmax"], moved.label,
                               cfg.label_names)  # fmt: skip
    return {
        "epsilon": eps,
        "method": method,
        "spreads_from": spreads_from,
        "accuracy": attacked.accuracy,
        "auc": attacked.auc,
        "auc_per_class": attacked.auc_per_class,
        "rejection": {k: (v if np.isfinite(v) else None) for k, v in attacked.rejection.items()},
        "auc_drop": nominal.auc - attacked.auc,
    }


def predict_files(
    run: str | os.PathLike[str],
    files: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    backend: str = "onnx",
    batch_size: int = 512,
    suffix: str = "",
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write a copy of each input file into ``out_dir`` with one branch per model output added (never
    overwrites): ``score_<class>`` and one per regression head (e.g. ``pt_corr``), as :meth:`Task.predict`
    names them.

    ``backend`` ``onnx`` (default; exports ``run/model.onnx`` first if missing) or ``torch``.
    """
    run, out_dir = Path(run), Path(out_dir)
    if backend not in ("onnx", "torch"):
        raise ModelError("unknown backend", field="backend", expected="onnx or torch")
    files = expand_files(files, field="FILES")  # a shard manifest scores each of its shards
    dests = []
    for f in files:
        f = Path(f)
        dest = out_dir / (f.stem + suffix + f.suffix)
        if dest.exists() or dest.resolve() == f.resolve():
            raise DataError(
                "output exists", file=dest, expected="a new output folder (predict never overwrites)"
            )
        dests.append(dest)
    check_outputs(dests)  # a folder that cannot be written, two inputs with the same name: before any scoring
    onnx_path = run / "model.onnx"
    if backend == "onnx" and not onnx_path.is_file():
        check_output(onnx_path)
    if backend == "onnx":  # the network itself is not needed: only its data config
        if not (run / "train.json").is_file():
            raise CheckpointError("not a run folder (no train.json)", file=run)
        cfg, model = DataConfig.load(run / "data_config.yaml"), None
    else:
        cfg, model = load_run_model(run)
    if cfg.test_time_selection:  # predict scores every jet so the score branches line up with the copy
        cfg = DataConfig({**cfg.options, "selection": None, "test_time_selection": None}, source=cfg.source)
    if backend == "onnx":
        if not onnx_path.is_file():
            export_onnx(run, onnx_path)
        scorer: Any = OnnxScorer(onnx_path, threads=torch.get_num_threads())
    task = Task(cfg)
    outputs = []
    for f, dest in zip(files, dests, strict=True):
        f = Path(f)
        parts: dict[str, list[np.ndarray]] = {}
        # the labels are not needed to score: rows without a class (an event's jets matching no flavour) too
        for _, arrays in iter_arrays([f], cfg, train=False, step=100_000, reweight=False, labelled=False):
            if backend == "onnx":
                heads = scorer.score_heads(cfg, arrays, batch_size=batch_size)
            else:
                heads = score_heads(model, cfg, arrays, batch_size=batch_size)
            for name, values in task.predict(heads).items():
                parts.setdefault(name, []).append(values)
        table = read_table(f, tree=cfg.treename)
        cols = {name: table[name] for name in table.fields}
        for name, values in parts.items():
            cols[name] = np.ascontiguousarray(np.concatenate(values))
        # the input's metadata (generator settings, √s, seed) rides along: nothing about the jets is lost
        meta = {**read_metadata(f), "scored_by": os.fspath(run), "backend": backend}
        outputs.append(write_table(dest, cols, metadata=meta))
        if progress is not None:
            progress(os.fspath(dest))
    return outputs
