"""Field conventions of training: --train/--val take globs, the ONNX export writes CMSSW's preprocess.json,
validation metrics are reduced over processes."""

from __future__ import annotations

import json
import socket

import awkward as ak
import numpy as np
import pytest
import torch

from higgsflow.cli import main
from higgsflow.data import DataConfig, load_arrays, read_table
from higgsflow.data.loader import expand_files
from higgsflow.data.toy import write_toy_jets
from higgsflow.errors import DataError
from higgsflow.train import TrainSettings, export_onnx, train
from higgsflow.train.steps import reduce_validation

torch.set_num_threads(1)
CLASSES = ["QCD", "Hbb", "Tbqq"]
TINY = {"embed_dims": [8], "pair_embed_dims": [4], "num_heads": 2, "num_layers": 1, "num_cls_layers": 1}


def _config() -> dict:
    return {
        "new_variables": {
            "part_mask": "ak.ones_like(part_energy)",
            "part_pt_log": "np.log(np.hypot(part_px, part_py))",
        },
        "inputs": {
            "pf_points": {"length": 12, "vars": [["part_deta", None], ["part_dphi", None]]},
            "pf_features": {
                "length": 12,
                "pad_mode": "wrap",
                "vars": [["part_pt_log", 1.7, 0.7], ["part_deta", 0.01, 5, -2, 2, -3.0], "part_charge"],
            },
            "pf_vectors": {"length": 12, "vars": ["part_px", "part_py", "part_pz", "part_energy"]},
            "pf_mask": {"length": 12, "vars": ["part_mask"]},
        },
        "labels": {"type": "simple", "value": [f"label_{c}" for c in CLASSES]},
    }


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    d = tmp_path_factory.mktemp("files")
    cfg = d / "cfg.yaml"
    DataConfig.from_dict(_config()).dump(cfg)
    for i in range(2):
        write_toy_jets(d / f"train_{i}.parquet", CLASSES, 10, seed=10 + i, n_min=3, n_max=16)
    write_toy_jets(d / "val_0.parquet", CLASSES, 6, seed=20, n_min=3, n_max=16)
    return d, cfg


def test_globs_expand_sorted_and_a_pattern_matching_nothing_is_named(sample, tmp_path, capsys):
    d, cfg = sample
    assert expand_files([d / "train_*.parquet", d / "val_0.parquet"]) == [
        str(d / "train_0.parquet"),
        str(d / "train_1.parquet"),
        str(d / "val_0.parquet"),
    ]
    with pytest.raises(DataError, match=r"trian_\*.parquet: --train: no file matches"):
        expand_files([d / "trian_*.parquet"], field="--train")
    run = tmp_path / "run"
    args = ["train", "-c", str(cfg), "--train", str(d / "train_*.parquet"), "--val", str(d / "val_*.parquet")]
    args += ["-o", str(run), "-n", "pfn", "--network-options", '{"phi_sizes": [8], "f_sizes": [8]}']
    assert main([*args, "--epochs", "1", "--batch-size", "16"]) == 0
    meta = json.loads((run / "train.json").read_text())
    assert meta["n_train"] == 60 and meta["train_files"] == [str(d / f"train_{i}.parquet") for i in range(2)]
    capsys.readouterr()
    bad = ["train", "-c", str(cfg), "--train", str(d / "nothing_*.root"), "--val", str(d / "val_*.parquet")]
    assert main([*bad, "-o", str(tmp_path / "run2")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nothing_*.root" in err[0] and "no file matches" in err[0]


def _cmssw_preprocess(prep: dict, group: str, table, length: int) -> np.ndarray:
    """What CMSSW's producers do with preprocess.json: (x - median) · norm_factor clipped to the bounds, padded
    with ``pad`` up to max_length (the first jet only)."""
    g = prep[group]
    rows = []
    for name in g["var_names"]:
        info = g["var_infos"][name]
        x = np.asarray(table[name][0], dtype=np.float64)
        x = np.clip((x - info["median"]) * info["norm_factor"], info["lower_bound"], info["upper_bound"])
        row = np.full(length, info["pad"])
        row[: min(len(x), length)] = x[:length]
        rows.append(row)
    return np.stack(rows)


def test_onnx_export_writes_cmssw_preprocess_json(sample, tmp_path):
    import onnxruntime as ort

    d, cfg_path = sample
    run = train(
        cfg_path,
        [d / "train_0.parquet"],
        [d / "val_0.parquet"],
        tmp_path / "run",
        TrainSettings(network_kwargs=TINY, epochs=1, batch_size=16),
    )
    onnx = export_onnx(run.run_dir)
    prep = json.loads((run.run_dir / "preprocess.json").read_text())
    session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    # the ONNX inputs in order (ParT reads no points), the class names of the softmax columns
    assert (
        prep["input_names"]
        == [i.name for i in session.get_inputs()]
        == ["pf_features", "pf_vectors", "pf_mask"]
    )
    assert prep["output_names"] == [f"label_{c}" for c in CLASSES]
    cfg = DataConfig.load(cfg_path)
    for name in prep["input_names"]:
        g = cfg.inputs[name]
        assert prep[name]["var_names"] == g.names
        assert (prep[name]["min_length"], prep[name]["max_length"]) == (1, 12)
        for v in g.variables:
            info = prep[name]["var_infos"][v.name]
            if v.center is None:  # passed through unchanged, as weaver writes it
                assert (info["median"], info["norm_factor"], info["lower_bound"], info["upper_bound"]) == (
                    0.0,
                    1.0,
                    -1e32,
                    1e32,
                )
            else:
                assert (info["median"], info["norm_factor"]) == (v.center, v.scale)
                assert (info["lower_bound"], info["upper_bound"]) == (v.clip_min, v.clip_max)
            assert info["pad"] == v.pad_value and info["replace_inf_value"] == 0.0
    dc = prep["pf_features"]["var_infos"]["part_deta"]
    assert (dc["median"], dc["norm_factor"], dc["lower_bound"], dc["upper_bound"], dc["pad"]) == (
        0.01,
        5,
        -2,
        2,
        -3,
    )
    # applying the file to the raw branches gives the inputs the model was trained on (real particles)
    raw = read_table(d / "val_0.parquet")
    table = {k: raw[k] for k in raw.fields}
    table["part_pt_log"] = np.log(np.hypot(raw["part_px"], raw["part_py"]))
    arrays = load_arrays([d / "val_0.parquet"], cfg, train=False)
    n = min(int(ak.num(raw["part_px"])[0]), 12)
    for group in ("pf_features", "pf_vectors"):
        ours = arrays.inputs[group][0][:, :n]
        np.testing.assert_allclose(
            _cmssw_preprocess(prep, group, table, 12)[:, :n], ours, rtol=1e-5, atol=1e-5
        )


def test_validation_metrics_are_reduced_over_processes():
    sums = {"loss_sum": 6.0, "correct": 3.0, "n": 4.0, "has_acc": 1.0}
    assert reduce_validation(sums) == {"val_loss": 1.5, "val_acc": 0.75}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    try:
        assert reduce_validation(sums) == {"val_loss": 1.5, "val_acc": 0.75}
    finally:
        torch.distributed.destroy_process_group()
