"""The event ParT and the DNN baseline train with `higgsflow train` on event files (jagged jet/lepton columns
padded by the data config, MET as one token): on synthetic events where ttH(cc)'s jets have high CvsL the event
ParT separates ttH(cc) from tt+light; the chain from events to the fit runs end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from higgsflow.cli import main
from higgsflow.data.config import DataConfig
from higgsflow.data.io import read_table, write_table
from higgsflow.data.loader import load_arrays
from higgsflow.errors import DataError
from higgsflow.evaluate.metrics import auc_with_error
from higgsflow.events import prepare_events, toy_events
from higgsflow.models import build_model

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "tthcc"
SMALL = {
    "embed_dims": [32, 32],
    "pair_embed_dims": [16, 16],
    "num_heads": 4,
    "num_layers": 2,
    "num_cls_layers": 1,
}


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one thread is much faster than several on a shared, loaded machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("tthcc")
    out = {}
    for name, n, seed in (("train", 300, 1), ("val", 100, 2), ("test", 200, 3)):
        raw = d / f"{name}_raw.parquet"
        write_table(raw, toy_events(n, classes=("ttHcc", "ttlf"), seed=seed))
        prepare_events(raw, d / f"{name}.parquet")
        out[name] = d / f"{name}.parquet"
    return out


def test_config_pads_jagged_jets_and_leptons_and_met_is_one_massless_token(files):
    cfg = DataConfig.load(EXAMPLES / "event_part.yaml")
    arrays = load_arrays([files["test"]], cfg)
    table = read_table(files["test"])
    n_jets = np.minimum(np.asarray([len(x) for x in table["jet_pt"].to_list()]), 10)
    mask = arrays.inputs["jet_mask"][:, 0, :]
    np.testing.assert_array_equal(mask.sum(axis=1), n_jets)
    assert arrays.inputs["jet_features"].shape[1:] == (8, 10)
    assert arrays.inputs["lep_vectors"].shape[1:] == (4, 2)
    met = arrays.inputs["met_vectors"][:, :, 0]
    np.testing.assert_allclose(met[:, 2], 0.0)
    np.testing.assert_allclose(met[:, 3], np.hypot(met[:, 0], met[:, 1]), rtol=1e-5)
    # the first jet's BvsAll is passed unchanged
    np.testing.assert_allclose(
        arrays.inputs["jet_features"][:, 4, 0], [x[0] for x in table["jet_btagB"].to_list()], rtol=1e-6
    )
    model = build_model("event_part", cfg, **SMALL)
    assert model.input_names() == list(cfg.inputs)


def _auc(run: Path, test: Path, tmp: Path, name: str) -> float:
    assert main(["predict", str(run), str(test), "-o", str(tmp / name), "--backend", "torch"]) == 0
    t = read_table(tmp / name / test.name, ["score_ttHcc", "label_ttHcc"])
    auc, _ = auc_with_error(np.asarray(t["score_ttHcc"]), np.asarray(t["label_ttHcc"]) == 1)
    return auc


def test_event_part_separates_tthcc_from_ttlf(files, tmp_path):
    run = tmp_path / "run_part"
    args = ["train", "-c", str(EXAMPLES / "event_part.yaml"), "-n", "event_part", "--train", str(files["train"]),
            "--val", str(files["val"]), "-o", str(run), "--epochs", "6", "--batch-size", "64", "--lr", "3e-3", "--optimizer", "adamw",
            "--network-options", json.dumps(SMALL)]  # fmt: skip
    assert main(args) == 0
    auc = _auc(run, files["test"], tmp_path, "scored_part")
    print(f"event ParT AUC(ttHcc vs ttlf) = {auc:.3f}")
    assert auc > 0.9, auc
    # the default predict path (ONNX export) gives the same scores as PyTorch
    assert main(["predict", str(run), str(files["test"]), "-o", str(tmp_path / "onnx")]) == 0
    cols = [f"score_{c}" for c in ("ttHcc", "ttlf", "tt2c")]
    a = read_table(tmp_path / "onnx" / files["test"].name, cols)
    b = read_table(tmp_path / "scored_part" / files["test"].name, cols)
    for c in cols:
        np.testing.assert_allclose(np.asarray(a[c]), np.asarray(b[c]), atol=1e-4)


def test_dnn_baseline_trains_on_the_high_level_features(files, tmp_path):
    run = tmp_path / "run_dnn"
    args = ["train", "-c", str(EXAMPLES / "dnn.yaml"), "-n", "dnn", "--train", str(files["train"]),
            "--val", str(files["val"]), "-o", str(run), "--epochs", "4", "--batch-size", "64", "--lr", "3e-3"]  # fmt: skip
    assert main(args) == 0
    # the most c-like jets' CvsL is among its inputs: it separates too
    assert _auc(run, files["test"], tmp_path, "scored_dnn") > 0.85


def _empty_region(cols, regions):
    from higgsflow.events import assign_regions

    idx = assign_regions(cols, regions)
    return any(not np.any(idx == i) for i in range(len(regions)))


def test_the_chain_from_events_to_a_fit(tmp_path):
    """Toy events of every class → prepared events → event ParT (tiny, 2 epochs) → scored events → 27 regions →
    pyhf fit and κ_c scan: every step consumes what the one before writes."""
    from higgsflow.events import build_fit, default_regions, read_scored_events
    from higgsflow.stats import StatModel, fit
    from higgsflow.stats.kappa import kappa_scan

    files = {}
    for name, n, seed in (("train", 40, 11), ("test", 60, 12)):
        raw = tmp_path / f"{name}_raw.root"
        write_table(raw, toy_events(n, seed=seed), tree="events")
        files[name] = tmp_path / f"{name}.root"
        prepare_events(raw, files[name])
    run = tmp_path / "run"
    args = ["train", "-c", str(EXAMPLES / "event_part.yaml"), "-n", "event_part", "--train", str(files["train"]),
            "--val", str(files["train"]), "-o", str(run), "--epochs", "2", "--batch-size", "64",
            "--optimizer", "adamw", "--network-options", json.dumps(SMALL)]  # fmt: skip
    assert main(args) == 0
    assert main(["predict", str(run), str(files["test"]), "-o", str(tmp_path / "scored")]) == 0
    cols = read_scored_events(tmp_path / "scored" / "test.root")
    assert len(cols["weight"]) > 400 and set(np.unique(cols["channel"])) == {1}
    prepared = read_table(files["test"], ["event_id"], tree="events")["event_id"]
    # every scored event traced to its prepared event
    np.testing.assert_array_equal(cols["event_id"], prepared)
    regions = [r for r in default_regions(0.5) if r["Name"][:2] == "1L"]
    if _empty_region(cols, regions):  # a barely trained classifier: a region may have no event
        with pytest.raises(DataError, match="empty region"):
            build_fit(cols, regions, mcstat_threshold=0.2)
    _, spec = build_fit(cols, regions, mcstat_threshold=0.2, drop_empty=True)
    sm = StatModel(spec)
    result = fit(sm, asimov=True)
    assert result["mu_ttHcc"][0] == pytest.approx(1.0, abs=1e-2)
    scan = kappa_scan(sm, [0.0, 2.0, 6.0], asimov=True)
    assert np.isfinite(scan.bestfit)
