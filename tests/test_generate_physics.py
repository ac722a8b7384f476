"""Physics of generated jets: seeded AK8 and AK4 samples made once per test session (about 1 min of CPU),
shared by every test."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")

from higgsflow.data.io import describe_file, read_metadata, read_table
from higgsflow.generate import generate_jets

CLASSES = ("QCD", "Hbb", "Wqq", "Zqq", "Tbqq")
N_PER_CLASS = 150


@pytest.fixture(scope="session")
def jets_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("generate") / "jets.root"
    return generate_jets(CLASSES, N_PER_CLASS, out, seed=20261123, chunk_size=N_PER_CLASS)


@pytest.fixture(scope="session")
def jets(jets_file, tmp_path_factory):
    table = read_table(jets_file)
    out = {c: table[ak.to_numpy(table[f"label_{c}"]) == 1] for c in CLASSES}
    # more QCD jets (another seed) for the background fraction in the Higgs window, a small number
    extra = generate_jets(
        ["QCD"], 150, tmp_path_factory.mktemp("qcd") / "qcd.parquet", seed=99, chunk_size=150
    )
    out["QCD_sdmass"] = np.concatenate(
        [ak.to_numpy(out["QCD"].jet_sdmass), ak.to_numpy(read_table(extra, ["jet_sdmass"]).jet_sdmass)]
    )
    return out


def test_every_jet_has_exactly_one_label_and_the_requested_counts(jets_file):
    summary = describe_file(jets_file)  # raises if any row is not one-hot
    assert summary.entries == N_PER_CLASS * len(CLASSES)
    for c in CLASSES:
        assert summary.label_counts[f"label_{c}"] == N_PER_CLASS
    # the ten JetClass labels are always there (zeros for classes not generated)
    for c in ("Hcc", "H4q", "Hqql", "Tbl", "Hgg"):
        assert summary.label_counts[f"label_{c}"] == 0
    meta = read_metadata(jets_file)
    assert meta["settings"]["seed"] == 20261123
    assert "pythia8mc" in meta["versions"]


def test_jets_are_in_the_jetclass_window(jets):
    for c in CLASSES:
        pt, eta = ak.to_numpy(jets[c].jet_pt), ak.to_numpy(jets[c].jet_eta)
        assert np.all((pt > 500) & (pt < 1000) & (np.abs(eta) < 2))
        n = ak.num(jets[c].part_px)
        assert np.array_equal(ak.to_numpy(n), ak.to_numpy(jets[c].jet_nparticles).astype(int))
        # constituents sum to the jet and lie within R = 0.8 of its axis
        ppt = np.hypot(ak.sum(jets[c].part_px, axis=1), ak.sum(jets[c].part_py, axis=1))
        np.testing.assert_allclose(ak.to_numpy(ppt), pt, rtol=1e-3)
        # (anti-kT merges prongs up to ΔR ≈ R apart, and cones are in rapidity: a few spill over)
        dr = ak.to_numpy(ak.flatten(np.hypot(jets[c].part_deta, jets[c].part_dphi)))
        assert np.mean(dr < 0.8) > 0.99 and np.all(dr < 1.3)


@pytest.mark.parametrize(("cls", "lo", "hi"), [("Hbb", 105, 145), ("Wqq", 65, 95), ("Zqq", 75, 105),
                                               ("Tbqq", 145, 200)])  # fmt: skip
def test_softdrop_mass_windows_hold_half_of_each_class(jets, cls, lo, hi):
    m = ak.to_numpy(jets[cls].jet_sdmass)
    assert np.mean((m > lo) & (m < hi)) >= 0.5


def test_few_qcd_jets_in_the_higgs_window(jets):
    m = jets["QCD_sdmass"]
    assert len(m) == 300
    assert np.mean((m > 105) & (m < 145)) < 0.15


def test_nsubjettiness_separates_prongs(jets):
    def med(c, a, b):
        return np.median(ak.to_numpy(jets[c][f"jet_tau{a}"] / jets[c][f"jet_tau{b}"]))

    assert med("Wqq", 2, 1) < med("QCD", 2, 1) - 0.1
    assert med("Tbqq", 3, 2) < med("QCD", 3, 2) - 0.1


def _displaced_fraction(j):
    charged = j.part_charge != 0
    sig = ak.flatten(np.abs(j.part_d0val[charged]) / j.part_d0err[charged])
    return float(np.mean(ak.to_numpy(sig) > 3))


def test_impact_parameter_significance_of_hbb_over_qcd(jets):
    assert _displaced_fraction(jets["Hbb"]) >= 2 * _displaced_fraction(jets["QCD"])


def test_hbb_jets_carry_two_b_hadrons(jets):
    assert np.mean(ak.to_numpy(jets["Hbb"].aux_n_bhadrons) >= 2) > 0.9
    assert np.mean(ak.to_numpy(jets["Wqq"].aux_n_bhadrons) > 0) < 0.05  # W → cs̄, ud̄ only


def test_truth_branches(jets):
    hbb = jets["Hbb"]
    assert np.all(ak.to_numpy(hbb.aux_resonance_pid) == 25)
    np.testing.assert_allclose(ak.to_numpy(hbb.aux_resonance_mass), 125.0, atol=1.0)
    assert np.all(ak.to_numpy(jets["QCD"].aux_resonance_pid) == 0)
    # generator jets: the detector-level pT is close to the generator-level one; neutrinos only add
    ratio = ak.to_numpy(hbb.jet_pt / hbb.jet_genjet_pt)
    assert 0.95 < np.median(ratio) < 1.05
    assert np.all(ak.to_numpy(hbb.jet_genjet_wnu_pt) >= ak.to_numpy(hbb.jet_genjet_pt) * 0.97)
    assert 110 < np.median(ak.to_numpy(hbb.aux_genjet_sdmass)) < 135
    # the c quarks among W decay products of tops: about half of W → qq̄′ decays contain one
    n_c = ak.to_numpy(jets["Tbqq"].aux_n_c_from_w)
    assert set(np.unique(n_c)) <= {0, 1} and 0.3 < n_c.mean() < 0.7


def test_particle_flow_content_is_jetclass_like(jets):
    j = jets["QCD"]
    flags = [
        j.part_isChargedHadron,
        j.part_isNeutralHadron,
        j.part_isPhoton,
        j.part_isElectron,
        j.part_isMuon,
    ]
    total = sum(ak.to_numpy(ak.flatten(f)) for f in flags)
    assert np.all(total == 1)  # one PF type per particle
    charged = ak.to_numpy(ak.flatten(j.part_charge != 0))
    assert 0.4 < charged.mean() < 0.8
    # d0 in mm: prompt light-jet tracks have |d0| of tens of microns
    d0 = np.abs(ak.to_numpy(ak.flatten(j.part_d0val[j.part_charge != 0])))
    assert 0.005 < np.median(d0) < 0.1
    assert 25 < np.mean(ak.to_numpy(j.jet_nparticles)) < 80


JETCLASS_FULL_YAML = """
new_variables:
   part_mask: ak.ones_like(part_energy)
   part_pt: np.hypot(part_px, part_py)
   part_pt_log: np.log(part_pt)
   part_e_log: np.log(part_energy)
   part_logptrel: np.log(part_pt/jet_pt)
   part_logerel: np.log(part_energy/jet_energy)
   part_deltaR: np.hypot(part_deta, part_dphi)
   part_d0: np.tanh(part_d0val)
   part_dz: np.tanh(part_dzval)
preprocess:
  method: manual
  data_fraction: 0.5
inputs:
   pf_points:
      length: 128
      pad_mode: wrap
      vars:
         - [part_deta, null]
         - [part_dphi, null]
   pf_features:
      length: 128
      pad_mode: wrap
      vars:
         - [part_pt_log, 1.7, 0.7]
         - [part_e_log, 2.0, 0.7]
         - [part_logptrel, -4.7, 0.7]
         - [part_logerel, -4.7, 0.7]
         - [part_deltaR, 0.2, 4.0]
         - [part_charge, null]
         - [part_isChargedHadron, null]
         - [part_isNeutralHadron, null]
         - [part_isPhoton, null]
         - [part_isElectron, null]
         - [part_isMuon, null]
         - [part_d0, null]
         - [part_d0err, 0, 1, 0, 1]
         - [part_dz, null]
         - [part_dzerr, 0, 1, 0, 1]
         - [part_deta, null]
         - [part_dphi, null]
   pf_vectors:
      length: 128
      pad_mode: wrap
      vars:
         - [part_px, null]
         - [part_py, null]
         - [part_pz, null]
         - [part_energy, null]
   pf_mask:
      length: 128
      pad_mode: constant
      vars:
         - [part_mask, null]
labels:
   type: simple
   value: [label_QCD, label_Hbb, label_Hcc, label_Hgg, label_H4q, label_Hqql, label_Zqq, label_Wqq,
   label_Tbqq,
           label_Tbl]
observers:
   - jet_pt
   - jet_eta
   - jet_phi
   - jet_energy
   - jet_nparticles
   - jet_sdmass
   - jet_tau1
   - jet_tau2
   - jet_tau3
   - jet_tau4
weights:
"""


def test_weaver_core_reads_the_file_with_the_jetclass_full_config(jets_file, tmp_path):
    pytest.importorskip("torch")
    dataset_mod = pytest.importorskip("weaver.utils.dataset")
    from torch.utils.data import DataLoader

    cfg = tmp_path / "JetClass_full.yaml"
    cfg.write_text(JETCLASS_FULL_YAML)
    ds = dataset_mod.SimpleIterDataset(
        {"_": [str(jets_file)]}, str(cfg), for_training=False, fetch_by_files=True, fetch_step=1,
        async_load=False, name="test",
    )  # fmt: skip
    loader = DataLoader(ds, batch_size=64, num_workers=0)
    x, y, z = next(iter(loader))
    assert set(x) == {"pf_points", "pf_features", "pf_vectors", "pf_mask"}
    assert tuple(x["pf_features"].shape) == (64, 17, 128)
    assert tuple(x["pf_points"].shape) == (64, 2, 128)
    assert tuple(x["pf_vectors"].shape) == (64, 4, 128)
    feats = x["pf_features"].numpy()
    assert np.isfinite(feats).all()
    # every input carries information: no feature is constant over the batch
    assert all(np.ptp(feats[:, i, :]) > 0 for i in range(17))
    labels = y["_label_"].numpy()
    assert set(np.unique(labels)) <= {0, 1, 6, 7, 8}  # QCD Hbb Zqq Wqq Tbqq
    for name in ("jet_pt", "jet_sdmass", "jet_tau4"):
        assert name in z


AK4_CLASSES = ("b", "c", "ud", "bb", "cc")


@pytest.fixture(scope="session")
def ak4_jets(tmp_path_factory):
    out = tmp_path_factory.mktemp("generate_ak4") / "ak4.parquet"
    path = generate_jets(AK4_CLASSES, 40, out, seed=7, jet_type="ak4", chunk_size=40)
    table = read_table(path)
    return {c: table[ak.to_numpy(table[f"label_{c}"]) == 1] for c in AK4_CLASSES}


def test_ak4_impact_parameter_significance_orders_b_c_ud(ak4_jets):
    f_b, f_c, f_l = (_displaced_fraction(ak4_jets[c]) for c in ("b", "c", "ud"))
    assert f_b >= 3 * f_l
    assert f_l < f_c < f_b


def test_ak4_hadron_flavour_counts(ak4_jets):
    assert np.all(ak.to_numpy(ak4_jets["bb"].aux_n_bhadrons) >= 2)
    assert np.all(ak.to_numpy(ak4_jets["b"].aux_n_bhadrons) == 1)
    cc = ak4_jets["cc"]
    assert np.all((ak.to_numpy(cc.aux_n_chadrons) >= 2) & (ak.to_numpy(cc.aux_n_bhadrons) == 0))
    assert np.all(ak.to_numpy(ak4_jets["ud"].aux_n_chadrons) == 0)
    for c in AK4_CLASSES:
        pt, eta = ak.to_numpy(ak4_jets[c].jet_pt), ak.to_numpy(ak4_jets[c].jet_eta)
        assert np.all((pt > 20) & (np.abs(eta) < 2.5))
        assert len(ak4_jets[c]) == 40


def test_secondary_vertices_follow_flavour(ak4_jets, jets):
    def with_sv(j):
        return float(np.mean(ak.to_numpy(ak.num(j.sv_pt)) > 0))

    assert with_sv(ak4_jets["b"]) > with_sv(ak4_jets["c"]) > with_sv(ak4_jets["ud"])
    assert with_sv(ak4_jets["b"]) > 0.5 and with_sv(ak4_jets["ud"]) < 0.2
    assert with_sv(jets["Hbb"]) > 0.9 > 0.5 > with_sv(jets["QCD"])
    sv = jets["Hbb"]
    # displaced, significant, pointing along their momentum, below the b-hadron mass
    assert np.all(ak.to_numpy(ak.flatten(sv.sv_dxysig)) > 3)
    assert np.all(ak.to_numpy(ak.flatten(sv.sv_ntracks)) >= 2)
    assert np.median(ak.to_numpy(ak.flatten(sv.sv_costhetasvpv))) > 0.99
    assert np.all(ak.to_numpy(ak.flatten(sv.sv_mass)) < 5.5)
    assert np.all(np.abs(ak.to_numpy(ak.flatten(np.hypot(sv.sv_deta, sv.sv_dphi)))) < 1.0)
