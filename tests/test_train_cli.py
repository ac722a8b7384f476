"""Exit codes of train, evaluate, predict and export: 0 success, 1 a user error in one line naming the file or
option, 2 wrong usage; unwritable outputs are refused before any training or scoring."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from higgsflow.cli import main
from higgsflow.data import DataConfig
from higgsflow.data.toy import write_toy_jets

torch.set_num_threads(1)
CLASSES = ["QCD", "Hbb"]
PFN = '{"phi_sizes": [8], "f_sizes": [8]}'


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    cfg = d / "cfg.yaml"
    DataConfig.from_dict(
        {
            "new_variables": {
                "part_mask": "ak.ones_like(part_energy)",
                "part_pt": "np.hypot(part_px, part_py)",
            },
            "inputs": {
                "pf_features": {"length": 12, "vars": [["part_pt", 10.0, 0.1], ["part_deta", 0, 5]]},
                "pf_mask": {"length": 12, "vars": ["part_mask"]},
            },
            "labels": {"type": "simple", "value": [f"label_{c}" for c in CLASSES]},
        }
    ).dump(cfg)
    tr = write_toy_jets(d / "train.parquet", CLASSES, 20, seed=1, n_min=3, n_max=12)
    va = write_toy_jets(d / "val.parquet", CLASSES, 10, seed=2, n_min=3, n_max=12)
    blocker = d / "afile"
    blocker.write_text("a file, not a folder")
    run = d / "run"
    assert main(_train(cfg, tr, va, run)) == 0
    return {"cfg": cfg, "train": tr, "val": va, "run": run, "blocker": blocker}


def _train(cfg, tr, va, out, *extra) -> list[str]:
    args = ["train", "-c", str(cfg), "--train", str(tr), "--val", str(va), "-o", str(out)]
    return [*args, "-n", "pfn", "--network-options", PFN, "--epochs", "1", "--batch-size", "8", *extra]


def _one_line_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:"), err
    for n in needles:
        assert n in err[0], err[0]
    return err[0]


def test_train_user_errors_exit_1_with_one_line(sample, tmp_path, capsys):
    s = sample
    capsys.readouterr()
    # an unwritable run folder is refused first, before the (missing) data config is even read
    bad_out = s["blocker"] / "run"
    assert main(_train(tmp_path / "nope.yaml", s["train"], s["val"], bad_out)) == 1
    _one_line_error(capsys, str(bad_out), "not a folder")
    assert main(_train(s["cfg"], s["train"], s["val"], s["run"])) == 1  # existing run, no --overwrite
    _one_line_error(capsys, str(s["run"]), "--overwrite")
    assert main(_train(tmp_path / "nope.yaml", s["train"], s["val"], tmp_path / "r1")) == 1
    _one_line_error(capsys, "nope.yaml", "not found")
    assert main(_train(s["cfg"], tmp_path / "missing.parquet", s["val"], tmp_path / "r2")) == 1
    _one_line_error(capsys, "missing.parquet")
    assert main([*_train(s["cfg"], s["train"], s["val"], tmp_path / "r3"), "--network-options", "{oops"]) == 1
    _one_line_error(capsys, "--network-options", "JSON")
    args = _train(s["cfg"], s["train"], s["val"], tmp_path / "r4")
    args[args.index("pfn")] = "transformerxl"
    assert main(args) == 1
    _one_line_error(capsys, "transformerxl", "unknown network")
    assert main(_train(s["cfg"], s["train"], s["val"], tmp_path / "r5", "--resume")) == 1
    _one_line_error(capsys, "nothing to resume")
    assert main(_train(s["cfg"], s["train"], s["val"], tmp_path / "r6", "--checkpoint-every", "0")) == 1
    _one_line_error(capsys, "--checkpoint-every")
    # wrong usage (a required option missing) is exit 2, in one line naming it
    assert main(["train", "-c", str(s["cfg"]), "--train", str(s["train"]), "-o", str(tmp_path / "r7")]) == 2
    _one_line_error(capsys, "--val")
    assert main(["train", "-o", str(tmp_path / "r8"), "--resume"]) == 1  # nothing there to resume
    _one_line_error(capsys, "nothing to resume")


def test_evaluate_user_errors_exit_1(sample, tmp_path, capsys):
    s = sample
    capsys.readouterr()
    bad = s["blocker"] / "eval"
    # the output is checked before the (missing) test file is read or anything is scored
    assert (
        main(["evaluate", str(s["run"]), "--test", str(tmp_path / "missing.parquet"), "--out", str(bad)]) == 1
    )
    _one_line_error(capsys, str(bad), "not a folder")
    assert main(["evaluate", str(tmp_path), "--test", str(s["val"]), "--out", str(tmp_path / "e")]) == 1
    _one_line_error(capsys, str(tmp_path), "not a run folder")
    out = tmp_path / "eval"
    assert main(["evaluate", str(s["run"]), "--test", str(s["val"]), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(s["run"]), "--test", str(s["val"]), "--out", str(out)]) == 1
    _one_line_error(capsys, "metrics.json", "exists")


def test_predict_and_export_user_errors_exit_1(sample, tmp_path, capsys):
    s = sample
    capsys.readouterr()
    bad = s["blocker"] / "scored"
    assert main(["predict", str(s["run"]), str(s["val"]), "-o", str(bad), "--backend", "torch"]) == 1
    _one_line_error(capsys, str(bad), "not a folder")
    assert main(["predict", str(s["run"]), str(s["val"]), "-o", str(tmp_path / "p"), "--backend", "tf"]) == 1
    _one_line_error(capsys, "backend", "onnx or torch")
    bad_onnx = s["blocker"] / "model.onnx"
    assert main(["export", str(s["run"]), "--out", str(bad_onnx)]) == 1
    _one_line_error(capsys, str(bad_onnx), "not a folder")
    assert main(["export", str(s["run"]), "--no-onnx"]) == 1
    _one_line_error(capsys, "--onnx", "nothing to export")
    assert not (s["run"] / "model.onnx").exists()  # nothing written by the refused commands
    out = tmp_path / "m.onnx"
    assert main(["export", str(s["run"]), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["export", str(s["run"]), "--out", str(out)]) == 1
    _one_line_error(capsys, "m.onnx", "exists")
    assert (
        main(["predict", str(s["run"]), str(s["val"]), "-o", str(tmp_path / "p"), "--backend", "torch"]) == 0
    )
    capsys.readouterr()
    assert (
        main(["predict", str(s["run"]), str(s["val"]), "-o", str(tmp_path / "p"), "--backend", "torch"]) == 1
    )
    _one_line_error(capsys, "val.parquet", "never overwrites")


def test_run_folder_with_nothing_left_to_do_is_not_an_error(sample, capsys):
    # resuming a finished run trains no further epoch and exits 0
    s = sample
    assert main(_train(s["cfg"], s["train"], s["val"], s["run"], "--resume")) == 0
    assert Path(s["run"], "checkpoint.pt").is_file()


def test_truncated_root_training_file_exits_1_naming_it(sample, tmp_path, capsys):
    from higgsflow.data.io import read_table, write_table

    table = read_table(sample["train"])
    full = write_table(tmp_path / "full.root", {k: table[k] for k in table.fields})
    cut = tmp_path / "cut.root"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 2 // 3])
    capsys.readouterr()
    assert main(_train(sample["cfg"], cut, sample["val"], tmp_path / "run")) == 1
    _one_line_error(capsys, str(cut))


def test_unknown_network_option_is_one_line_naming_it(sample, tmp_path, capsys):
    """A typo in --network-options was a TypeError from the constructor (exit 3, "a bug")."""
    args = _train(sample["cfg"], sample["train"], sample["val"], tmp_path / "run")
    i = args.index("--network-options")
    args[i + 1] = '{"phi_sizes": [8], "f_size": [8]}'
    capsys.readouterr()
    assert main(args) == 1
    line = _one_line_error(capsys, "--network-options", "'f_size'", "f_sizes")
    assert "bug" not in line and not (tmp_path / "run").exists()


def test_predict_scores_rows_that_match_no_class(sample, tmp_path):
    """The jets file of `generate events` has rows whose labels are all 0 (a jet matching no flavour class):
    predict scores every row all the same (it never needs the labels)."""
    import numpy as np

    from higgsflow.data.io import read_table, write_table

    t = read_table(sample["val"])
    cols = {f: t[f] for f in t.fields}
    cols["label_QCD"] = np.zeros(len(t), dtype=np.int32)
    cols["label_Hbb"] = np.where(np.arange(len(t)) % 2 == 0, 1, 0).astype(np.int32)
    write_table(tmp_path / "event_jets.parquet", cols)
    assert main(["predict", str(sample["run"]), str(tmp_path / "event_jets.parquet"), "-o", str(tmp_path / "s"),
                 "--backend", "torch"]) == 0  # fmt: skip
    scored = read_table(tmp_path / "s" / "event_jets.parquet")
    p = np.asarray(scored["score_QCD"]) + np.asarray(scored["score_Hbb"])
    assert len(p) == len(t) and np.allclose(p, 1.0, atol=1e-5)
