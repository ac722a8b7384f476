"""Real CMS PFNano jets in the generator's schema: every constituent once, the jet rebuilt from them, the
vertices attached to their jets, and a tagger's data config reading them (skips without the real files)."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from higgsflow.data import DataConfig, load_arrays, read_table, write_table
from higgsflow.data.nano import read_pfnano_jets
from higgsflow.errors import SchemaError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "tagging"


@pytest.fixture(scope="module")
def pfnano(real_data_dir):
    path = real_data_dir / "pfnano.root"
    return path, read_pfnano_jets(path)


def test_every_constituent_once_and_the_jet_rebuilt_from_them(pfnano):
    path, c = pfnano
    raw = read_table(
        path, ["Jet_nConstituents", "Jet_pt", "Jet_eta", "Jet_phi", "JetSVs_jetIdx"], tree="Events"
    )
    assert len(c["jet_pt"]) == len(ak.flatten(raw["Jet_pt"])) == 64
    np.testing.assert_array_equal(c["jet_nparticles"], ak.to_numpy(ak.flatten(raw["Jet_nConstituents"])))
    pt = np.hypot(c["part_px"], c["part_py"])
    assert ak.all(pt[:, :-1] >= pt[:, 1:] * (1 - 1e-5))  # sorted by decreasing pT (float32 rounding)
    # the sum of the constituents points along the jet and carries its (uncorrected) pT
    px, py, pz = (ak.to_numpy(ak.sum(c[f"part_{k}"], axis=1)) for k in ("px", "py", "pz"))
    spt = np.hypot(px, py)
    deta = np.arcsinh(pz / spt) - c["jet_eta"]
    dphi = (np.arctan2(py, px) - c["jet_phi"] + np.pi) % (2 * np.pi) - np.pi
    hard = c["jet_pt"] > 50
    assert np.hypot(deta, dphi)[hard].max() < 0.05
    ratio = spt[hard] / c["jet_pt"][hard]
    assert 0.85 < np.median(ratio) < 1.05  # the stored pT is energy-corrected, the constituents are not
    # neutral candidates carry no track parameters; charged ones do (in mm)
    neutral = c["part_charge"] == 0
    assert ak.all(c["part_d0val"][neutral] == 0) and ak.all(c["part_d0err"][neutral] == 0)
    assert 0.001 < np.median(ak.to_numpy(ak.flatten(c["part_d0err"][~neutral]))) < 1.0
    flags = sum(c[f"part_is{k}"] for k in ("ChargedHadron", "NeutralHadron", "Photon", "Electron", "Muon"))
    assert ak.all(flags <= 1) and ak.mean(flags) > 0.95  # one PF type per candidate (a few are others)
    # the vertices sit with their jets
    n_sv = ak.num(c["sv_pt"]) + c["aux_n_sv_unlisted"]
    assert ak.sum(n_sv) == ak.sum(ak.num(raw["JetSVs_jetIdx"])) and ak.sum(ak.num(c["sv_pt"])) > 20
    assert ak.all(np.hypot(c["sv_deta"], c["sv_dphi"]) < 0.4)


def test_a_tagger_config_reads_the_converted_jets_without_truth(pfnano, tmp_path):
    _, c = pfnano
    path = write_table(tmp_path / "jets.parquet", c)
    cfg = DataConfig.load(EXAMPLES / "pf_sv_regression.yaml")
    cfg = DataConfig(
        {**cfg.options, "observers": ["jet_pt"]}, source=cfg.source
    )  # no soft-drop mass in PFNano
    # real jets have no label or regression-target branches: scored without them
    arrays = load_arrays([path], cfg, train=False)
    assert arrays.label is None and arrays.target_values == {}
    assert len(arrays) == 64
    n_real = arrays.inputs["pf_mask"][:, 0].sum(axis=1)
    length = cfg.inputs["pf_mask"].length
    np.testing.assert_array_equal(n_real, np.minimum(c["jet_nparticles"], length))
    for x in arrays.inputs.values():
        assert np.isfinite(x).all()
    # a training read still insists on the truth
    with pytest.raises(SchemaError, match="label_"):
        load_arrays([path], cfg, train=True)


def test_a_file_without_pfnano_links_is_refused(real_data_dir):
    with pytest.raises(SchemaError, match="JetPFCands_jetIdx"):
        read_pfnano_jets(real_data_dir / "nano_tt_v15.root")


def test_convert_command(real_data_dir, tmp_path, capsys):
    from higgsflow.cli import main

    out = tmp_path / "jets.root"
    assert main(["convert", str(real_data_dir / "pfnano.root"), "--out", str(out)]) == 0
    t = read_table(out, ["jet_pt", "part_px", "sv_pt"])
    assert len(t) == 64 and ak.sum(ak.num(t["part_px"])) > 1000
    capsys.readouterr()
    assert main(["convert", str(real_data_dir / "pfnano.root"), "--out", str(out)]) == 1  # never overwritten
    assert main(["convert", str(real_data_dir / "nano_tt_v15.root"), "--out", str(tmp_path / "x.root")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "exists" in err[0] and "JetPFCands_jetIdx" in err[1]
    assert not (tmp_path / "x.root").exists()
