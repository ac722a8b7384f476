"""Data config and loader: weaver compatibility, restricted expressions, padding, labels, weights, bad
inputs."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from higgsflow.data import DataConfig, load_arrays, pad_jagged, write_table
from higgsflow.data.expr import evaluate
from higgsflow.data.loader import auto_standardize
from higgsflow.data.toy import JETCLASS_LABELS, make_toy_jets, write_toy_jets
from higgsflow.errors import ConfigError, DataError, SchemaError

PT_CONFIGS = Path(__file__).parent / "data" / "particle_transformer"


@pytest.fixture(scope="module")
def jetclass_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("jc") / "jets.root"
    return write_toy_jets(path, ["QCD", "Hbb", "Tbqq"], 40, seed=3, label_names=JETCLASS_LABELS)


def small_config(**overrides) -> dict:
    cfg = {
        "new_variables": {"part_mask": "ak.ones_like(part_energy)", "part_pt": "np.hypot(part_px, part_py)"},
        "inputs": {
            "pf_features": {
                "length": 8,
                "pad_mode": "constant",
                "vars": [["part_pt", 10.0, 0.5, -5, 5, -1.0]],
            },
            "pf_mask": {"length": 8, "vars": ["part_mask"]},
        },
        "labels": {"type": "simple", "value": ["label_a", "label_b"]},
    }
    cfg.update(overrides)
    return cfg


def two_jets(path: Path, **extra) -> Path:
    cols = {
        "part_px": ak.Array([[3.0, 4.0], [1.0, 2.0, 3.0]]),
        "part_py": ak.Array([[4.0, 3.0], [0.0, 0.0, 0.0]]),
        "part_energy": ak.Array([[5.0, 5.0], [1.0, 2.0, 3.0]]),
        "label_a": np.array([1.0, 0.0]),
        "label_b": np.array([0.0, 1.0]),
        "jet_pt": np.array([10.0, 6.0]),
    }
    cols.update(extra)
    return write_table(path, cols)


@pytest.mark.parametrize("name", ["kin", "kinpid", "full"])
def test_particle_transformer_jetclass_configs_load_unchanged(name, jetclass_file):
    cfg = DataConfig.load(PT_CONFIGS / f"JetClass_{name}.yaml")
    arrays = load_arrays([jetclass_file], cfg, train=False)
    n_features = {"kin": 7, "kinpid": 13, "full": 17}[name]
    assert arrays.inputs["pf_features"].shape == (120, n_features, 128)
    assert arrays.inputs["pf_vectors"].shape == (120, 4, 128)
    table = make_toy_jets(["QCD", "Hbb", "Tbqq"], 40, seed=3, label_names=JETCLASS_LABELS)
    counts = ak.to_numpy(ak.num(table["part_px"]))
    # the mask counts the particles; label index follows the config's class order
    np.testing.assert_array_equal(arrays.inputs["pf_mask"][:, 0].sum(1), np.minimum(counts, 128))
    expected_label = np.stack([table[f"label_{c}"] for c in JETCLASS_LABELS], 1).argmax(1)
    np.testing.assert_array_equal(arrays.label, expected_label)
    # part_pt_log standardised as (log pt - 1.7) * 0.7, clipped to [-5, 5]
    pt = ak.to_numpy(np.hypot(table["part_px"][0], table["part_py"][0]))
    np.testing.assert_allclose(
        arrays.inputs["pf_features"][0, 0, : len(pt)], np.clip((np.log(pt) - 1.7) * 0.7, -5, 5), rtol=1e-5
    )
    # wrap padding repeats the particles; the mask is zero there
    n0 = counts[0]
    np.testing.assert_array_equal(
        arrays.inputs["pf_vectors"][0, :, n0 : 2 * n0], arrays.inputs["pf_vectors"][0, :, :n0]
    )
    assert arrays.inputs["pf_mask"][0, 0, n0:].sum() == 0
    assert set(arrays.observers) == {
        f"jet_{v}" for v in ("pt", "eta", "phi", "energy", "nparticles", "sdmass")
    } | {f"jet_tau{i}" for i in range(1, 5)}


def test_padding_constant_wrap_and_truncation():
    x = ak.Array([[1.0, 2.0, 3.0], [], [4.0]])
    np.testing.assert_array_equal(
        pad_jagged(x, 2, mode="constant", pad_value=-1), [[1, 2], [-1, -1], [4, -1]]
    )
    np.testing.assert_array_equal(pad_jagged(x, 4, mode="wrap"), [[1, 2, 3, 1], [0, 0, 0, 0], [4, 4, 4, 4]])
    np.testing.assert_array_equal(pad_jagged(np.array([7.0, 8.0]), 3), [[7, 0, 0], [8, 0, 0]])


def test_manual_standardisation_clip_and_pad_value(tmp_path):
    cfg = DataConfig.from_dict(small_config())
    arr = load_arrays([two_jets(tmp_path / "t.parquet")], cfg, train=False)
    # pt = 5, 5 -> (5 - 10) * 0.5 = -2.5; padded slots hold the pad value -1, not standardised
    np.testing.assert_allclose(arr.inputs["pf_features"][0, 0, :3], [-2.5, -2.5, -1.0])
    np.testing.assert_allclose(arr.inputs["pf_features"][1, 0, :4], [-4.5, -4.0, -3.5, -1.0])
    np.testing.assert_array_equal(arr.label, [0, 1])


@pytest.mark.parametrize(
    "expr",
    [
        "__import__('os').system('echo hi')",
        "np.load('x.npy')",
        "part_px.__class__",
        "open('/etc/passwd')",
        "(lambda: 1)()",
        "[x for x in part_px]",
        "np.lib.format.open_memmap('x')",
        "eval('1')",
        "np",
    ],
)
def test_expressions_that_call_or_import_are_refused(expr, tmp_path):
    opts = small_config(new_variables={"part_mask": "ak.ones_like(part_energy)", "part_pt": expr})
    with pytest.raises(ConfigError, match="refused"):
        DataConfig.from_dict(opts)
    # also refused as a selection, before any file is opened
    with pytest.raises(ConfigError, match="refused"):
        DataConfig.from_dict(small_config(selection=expr))


def test_allowed_expressions_evaluate_like_numpy():
    table = {"a": np.array([1.0, 4.0]), "b": np.array([2.0, 2.0])}
    np.testing.assert_allclose(evaluate("np.sqrt(a) * b + math.pi", table), np.sqrt([1, 4]) * 2 + np.pi)
    np.testing.assert_array_equal(evaluate("(a > 2) & ~(b < 1)", table), [False, True])


def test_unknown_key_and_bad_entries_are_config_errors():
    with pytest.raises(ConfigError, match=r"input: unknown key \(expected one of treename"):
        DataConfig.from_dict(small_config(input={}))
    with pytest.raises(ConfigError, match="pad_mode"):
        bad = small_config()
        bad["inputs"]["pf_mask"]["pad_mode"] = "wrap"
        DataConfig.from_dict(bad)
    with pytest.raises(ConfigError, match="labels"):
        DataConfig.from_dict(small_config(labels={"type": "weird"}))


def test_missing_variable_names_file_and_branch(tmp_path):
    path = two_jets(tmp_path / "t.parquet")
    cfg = DataConfig.from_dict(small_config(observers=["jet_mass"]))
    with pytest.raises(SchemaError) as err:
        load_arrays([path], cfg, train=False)
    assert "t.parquet" in str(err.value) and "jet_mass" in str(err.value)


def test_non_one_hot_label_names_row(tmp_path):
    path = two_jets(tmp_path / "t.parquet", label_b=np.array([1.0, 1.0]))
    with pytest.raises(DataError, match=r"row 0: labels are not one-hot"):
        load_arrays([path], DataConfig.from_dict(small_config()), train=True)


def test_nan_or_inf_names_variable_and_row(tmp_path):
    path = two_jets(tmp_path / "t.parquet", part_energy=ak.Array([[5.0, 5.0], [1.0, np.nan, 3.0]]))
    opts = small_config()
    opts["new_variables"]["part_e"] = "part_energy * 1"
    opts["inputs"]["pf_features"]["vars"].append("part_e")
    with pytest.raises(DataError, match=r"part_e: row 1: NaN or inf"):
        load_arrays([path], DataConfig.from_dict(opts), train=False)
    # log of a zero gives -inf: also caught
    path2 = two_jets(
        tmp_path / "z.parquet",
        part_px=ak.Array([[0.0, 4.0], [1.0, 2.0, 3.0]]),
        part_py=ak.Array([[0.0, 3.0], [0.0, 0.0, 0.0]]),
    )
    opts = small_config()
    opts["new_variables"]["part_pt"] = "np.log(np.hypot(part_px, part_py))"
    with pytest.raises(DataError, match=r"part_pt: row 0: NaN or inf"):
        load_arrays([path2], DataConfig.from_dict(opts), train=False)


def test_empty_file_is_refused(tmp_path):
    path = write_table(
        tmp_path / "e.parquet",
        {"part_px": ak.Array([[1.0]])[:0], "label_a": np.zeros(0), "label_b": np.zeros(0)},
    )
    with pytest.raises(DataError, match="holds no jets"):
        load_arrays([path], DataConfig.from_dict(small_config()), train=False)


def test_selection_and_custom_regression_labels(tmp_path):
    path = two_jets(tmp_path / "t.parquet")
    cfg = DataConfig.from_dict(
        small_config(selection="jet_pt > 8", labels={"type": "custom", "value": {"target": "np.log(jet_pt)"}})
    )
    arr = load_arrays([path], cfg, train=True)
    assert len(arr) == 1
    np.testing.assert_allclose(arr.targets[:, 0], [np.log(10.0)], rtol=1e-6)


def test_flat_reweighting_equalises_classes_in_two_variables(tmp_path):
    rng = np.random.default_rng(0)
    n = 4000
    pt = np.concatenate([rng.exponential(100, n) + 200, rng.uniform(200, 800, n)])
    eta = rng.uniform(-2, 2, 2 * n)
    cols = {
        "part_px": ak.Array([[1.0]] * (2 * n)),
        "part_py": ak.Array([[1.0]] * (2 * n)),
        "part_energy": ak.Array([[2.0]] * (2 * n)),
        "label_a": np.r_[np.ones(n), np.zeros(n)],
        "label_b": np.r_[np.zeros(n), np.ones(n)],
        "jet_pt": pt,
        "jet_eta": eta,
    }
    path = write_table(tmp_path / "w.parquet", cols)
    cfg = DataConfig.from_dict(
        small_config(
            weights={
                "reweight_vars": {"jet_pt": [200, 300, 400, 500, 800], "jet_eta": [-2, 0, 2]},
                "reweight_classes": ["label_a", "label_b"],
                "class_weights": [1, 1],
                "reweight_threshold": 0,
            }
        )
    )
    arr = load_arrays([path], cfg, train=True)
    bins = np.digitize(pt, [200, 300, 400, 500, 800]) - 1
    for c in (0, 1):
        sel = arr.label == c
        per_bin = np.array([arr.weight[sel & (bins == b)].sum() for b in range(4)])
        np.testing.assert_allclose(per_bin / per_bin.sum(), 0.25, rtol=0.08)  # flat in pT
    np.testing.assert_allclose(arr.weight[arr.label == 0].sum(), arr.weight[arr.label == 1].sum(), rtol=1e-6)


def test_auto_standardisation_is_stored_and_reused(tmp_path):
    path = two_jets(tmp_path / "t.parquet")
    opts = small_config(preprocess={"method": "auto"})
    opts["inputs"]["pf_features"]["vars"] = ["part_pt"]
    cfg_path = tmp_path / "cfg.yaml"
    DataConfig.from_dict(opts).dump(cfg_path)
    cfg = DataConfig.load(cfg_path)
    assert cfg.needs_auto_standardization
    with pytest.raises(ConfigError, match="auto"):
        load_arrays([path], cfg, train=False)
    cfg2 = auto_standardize(cfg, [path])
    pts = np.array([5.0, 5.0, 1.0, 2.0, 3.0])
    lo, med, hi = np.percentile(pts, [16, 50, 84])
    v = cfg2.inputs["pf_features"].variables[0]
    assert v.center == pytest.approx(med) and v.scale == pytest.approx(1 / max(hi - med, med - lo))
    reloaded = DataConfig.load(cfg_path)  # picks up cfg.yaml.auto.yaml
    assert not reloaded.needs_auto_standardization
    assert reloaded.inputs["pf_features"].variables[0].center == pytest.approx(med)
