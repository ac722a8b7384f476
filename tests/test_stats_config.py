"""The analysis YAML: cabinetry's key names as aliases, per-sample selections (one file, several samples), weight
expressions, plot metadata, and the shipped example on a scored file as ``higgsflow predict`` writes it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

import higgsflow.stats as st
from higgsflow.cli import main
from higgsflow.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "stats" / "analysis.yaml"


def scored_file(path: Path, n_per_class: int = 400, seed: int = 7) -> dict[str, np.ndarray]:
    """A jet file as ``higgsflow predict`` writes it: one-hot label_<Class>, softmax score_<Class>, jet_pt."""
    from higgsflow.data.io import write_table

    rng = np.random.default_rng(seed)
    classes = ["QCD", "Hbb", "Tbqq"]
    n = n_per_class * len(classes)
    truth = np.repeat(np.arange(len(classes)), n_per_class)
    logits = rng.normal(0.0, 1.0, (n, len(classes)))
    logits[np.arange(n), truth] += 3.0  # a good but imperfect tagger
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    cols = {"jet_pt": rng.uniform(500.0, 1000.0, n).astype(np.float32)}
    for k, c in enumerate(classes):
        cols[f"label_{c}"] = (truth == k).astype(np.int32)
    for k, c in enumerate(classes):
        cols[f"score_{c}"] = scores[:, k].astype(np.float32)
    write_table(path, cols)
    return cols


def test_example_config_builds_and_limits_on_a_scored_file(tmp_path, capsys):
    cols = scored_file(tmp_path / "scored" / "test.root")
    shutil.copy(EXAMPLE, tmp_path / "analysis.yaml")  # as the header says: next to scored/
    ws, lim = tmp_path / "workspace.json", tmp_path / "limit.json"
    assert main(["stats", "build", str(tmp_path / "analysis.yaml"), "-o", str(ws)]) == 0
    spec = json.loads(ws.read_text())
    # each sample took its own jets from the one file: label selection AND the region's jet_pt selection
    for channel, in_region in (("pt500to700", cols["jet_pt"] < 700), ("pt700to1000", cols["jet_pt"] >= 700)):
        ch = next(c for c in spec["channels"] if c["name"] == channel)
        yields = {s["name"]: sum(s["data"]) for s in ch["samples"]}
        assert yields["Hbb"] == pytest.approx(np.sum(in_region & (cols["label_Hbb"] == 1)))
        assert yields["QCD"] == pytest.approx(np.sum(in_region & (cols["label_QCD"] == 1)))
    assert main(["stats", "limit", str(ws), "-o", str(lim)]) == 0
    res = json.loads(lim.read_text())
    assert res["poi"] == "mu_Hbb"
    # ~200 signal jets per region against a few QCD jets at high score: the expected limit lies well below μ = 1
    assert 0 < res["expected"][0] < res["expected"][2] < res["expected"][4] < 0.5
    assert "mu_Hbb: observed" in capsys.readouterr().out


def test_example_header_says_how_to_run_it():
    text = EXAMPLE.read_text()
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    assert "higgsflow predict tour/run tour/test.root --out tour/scored" in header
    assert "higgsflow stats build examples/stats/analysis.yaml --inputs tour" in header
    assert "higgsflow stats limit" in header and "relative sample paths" in header.lower()


def test_inputs_option_resolves_sample_paths_against_another_folder(tmp_path, capsys):
    """The shipped example, unchanged, on scored files that live elsewhere (the README tour's layout)."""
    scored_file(tmp_path / "tour" / "scored" / "test.root")
    ws = tmp_path / "workspace.json"
    args = ["stats", "build", str(EXAMPLE), "--inputs", str(tmp_path / "tour"), "--out", str(ws)]
    assert main(args) == 0 and json.loads(ws.read_text())["channels"]
    missing = tmp_path / "nowhere"
    capsys.readouterr()
    assert (
        main(["stats", "build", str(EXAMPLE), "--inputs", str(missing), "--out", str(tmp_path / "w2.json")])
        == 1
    )
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(missing) in err and "input folder not found" in err


def _cabinetry_style(tmp_path: Path) -> dict:
    return {
        "General": {
            "Measurement": "m",
            "POI": "mu",
            "InputPath": "inputs/{SamplePath}",
            "HistogramFolder": "histograms/",
            "SqrtS": 13.6,
            "Lumi": {"Value": 138, "Uncertainty": 0.016},
        },
        "Regions": [
            {"Name": "SR", "Variable": "score", "Binning": [0, 0.5, 1], "Filter": "pt > 10", "Label": "s"}
        ],
        "Samples": [
            {"Name": "sig", "SamplePath": "a.root", "Filter": "label_sig == 1", "Weight": "w * 2"},
            {
                "Name": "bkg",
                "SamplePath": ["a.root", "b.root"],
                "Filter": "label_bkg == 1",
                "DisableStaterror": True,
            },
        ],
        "NormFactors": [{"Name": "mu", "Samples": "sig"}],
        "Systematics": [
            {
                "Name": "jes",
                "Type": "NormPlusShape",
                "ModifierName": "jes_param",
                "Up": {"Weight": "w_up", "SamplePath": "up.root"},
                "Down": {"Symmetrize": True},
                "Samples": "bkg",
            }
        ],
    }


def test_cabinetry_key_names_are_aliases(tmp_path):
    cfg_path = tmp_path / "sub" / "analysis.yaml"
    cfg_path.parent.mkdir()
    cfg_path.write_text(yaml.safe_dump(_cabinetry_style(tmp_path)))
    cfg = st.load_config(cfg_path)
    here = cfg_path.parent
    assert cfg.regions[0].selection == "pt > 10" and cfg.regions[0].axis_label == "s"
    sig, bkg = cfg.samples
    assert sig.selection == "label_sig == 1" and sig.path == str(here / "inputs" / "a.root")
    assert bkg.paths == [str(here / "inputs" / "a.root"), str(here / "inputs" / "b.root")]
    assert sig.mcstat and not bkg.mcstat
    syst = cfg.systematics[0]
    assert syst.modifier == "jes_param" and syst.symmetrize and syst.up["Path"] == str(here / "up.root")
    assert cfg.sqrt_s == 13.6 and cfg.luminosity == 138 and cfg.lumi_uncertainty == 0.016


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["Regions"][0].update(Selection="pt > 1"), "both 'Selection' and its alias 'Filter'"),
        (lambda c: c["General"].update(Fixed=[{"Name": "mu", "Value": 1}]), "cabinetry's key 'Fixed'"),
        (lambda c: c["General"].update(SqrtS="high"), "General.SqrtS: not a number"),
        (lambda c: c["General"]["Lumi"].update(Unit="fb"), "General.Lumi: unknown key"),
    ],
)
def test_config_errors_name_the_key(tmp_path, change, message):
    raw = _cabinetry_style(tmp_path)
    change(raw)
    path = tmp_path / "a.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=message) as info:
        st.load_config(path)
    assert str(path) in str(info.value)


def test_sample_selection_combines_with_the_region_and_weight_expressions():
    cfg = st.load_config(
        {
            "General": {"POI": "mu"},
            "Regions": [{"Name": "SR", "Variable": "x", "Binning": [0, 1, 2], "Selection": "pt > 10"}],
            "Samples": [
                {"Name": "sig", "Selection": "label == 1", "Weight": "w * 2"},
                {"Name": "bkg", "Filter": "label == 0"},
            ],
            "NormFactors": [{"Name": "mu", "Samples": ["sig"]}],
        }
    )
    one_file = {
        "x": np.array([0.5, 1.5, 1.5, 0.5, 1.5]),
        "pt": np.array([20.0, 20.0, 5.0, 20.0, 20.0]),
        "label": np.array([1, 1, 1, 0, 0]),
        "w": np.array([1.0, 3.0, 100.0, 7.0, 9.0]),
    }
    t = st.templates_from_arrays(cfg, {"sig": one_file, "bkg": one_file})
    np.testing.assert_allclose(t[("SR", "sig", "nominal")].yields, [2.0, 6.0])  # pt > 10 & label == 1, w·2
    np.testing.assert_allclose(
        t[("SR", "bkg", "nominal")].yields, [1.0, 1.0]
    )  # no "weight" column: unit weights


def test_unknown_column_in_a_sample_selection_names_the_key():
    cfg = st.load_config(
        {
            "General": {"POI": "mu"},
            "Regions": [{"Name": "SR", "Variable": "x", "Binning": [0, 1]}],
            "Samples": [{"Name": "sig", "Selection": "label_Hcc == 1"}],
            "NormFactors": [{"Name": "mu"}],
        }
    )
    with pytest.raises(ConfigError, match=r"Samples\.sig\.Selection: unknown column 'label_Hcc'"):
        st.templates_from_arrays(cfg, {"sig": {"x": np.array([0.5])}})


def test_truncated_scored_file_is_one_line_naming_it(tmp_path, capsys):
    """A scored file cut short (an incomplete copy): `stats build` says which file, exit 1, not a bug."""
    good = tmp_path / "full.root"
    scored_file(good)
    (tmp_path / "scored").mkdir()
    data = good.read_bytes()
    (tmp_path / "scored" / "test.root").write_bytes(data[: len(data) // 2])
    args = ["stats", "build", str(EXAMPLE), "--inputs", str(tmp_path), "--out", str(tmp_path / "ws.json")]
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error:") and str(tmp_path / "scored" / "test.root") in err
    assert not (tmp_path / "ws.json").exists()
