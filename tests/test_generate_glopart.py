"""GloParT: the generator's 37 classes (labels, prongs, hadrons, flat resonance mass) and the GloParT config
(``examples/tagging/glopart.yaml``: PF + SV ParT with a mass head, per-class flat (p_T, m_SD) reweighting)."""

from __future__ import annotations

import types
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
from scipy import stats

from higgsflow.data import DataConfig, load_arrays, write_table
from higgsflow.data.expr import evaluate
from higgsflow.data.loader import flat_weights
from higgsflow.data.toy import make_toy_jets
from higgsflow.generate.processes import CLASSES, GLOPART_CLASSES, PARTIAL_MASS_MIN
from higgsflow.generate.truth import TAU_E, TAU_H, TAU_MU, Decay, glopart_label, qcd_flavour

CONFIG = Path(__file__).resolve().parents[1] / "examples" / "tagging" / "glopart.yaml"
TINY = {"embed_dims": [16, 16], "pair_embed_dims": [8], "num_heads": 2, "num_layers": 1, "num_cls_layers": 1}
FLAT = "flat:15:250"


# ---------------------------------------------------------------------------------------------- the class table
def test_the_talks_table_37_classes_with_forced_decays():
    assert len(GLOPART_CLASSES) == 37 == len(set(GLOPART_CLASSES))
    families = {
        "X→qq": ["Xbb", "Xcc", "Xss", "Xqq"],
        "X→ττ": ["Xtauhtaue", "Xtauhtaum", "Xtauhtauh"],
        "X→WW 4q/3q": [f"XWW{k}q_{c}c" for k in (4, 3) for c in (0, 1, 2)],
        "X→WW ℓνqq": [f"XWW{lep}qq_{c}c" for lep in ("ev", "mv", "tauev", "taumv", "tauhv") for c in (0, 1)],
        "top had": [f"Topb{k}_{c}c" for k in ("qq", "q") for c in (0, 1)],
        "top lep": [f"Topb{lep}" for lep in ("ev", "mv", "tauev", "taumv", "tauhv")],
        "QCD": ["QCD_bb", "QCD_b", "QCD_cc", "QCD_c", "QCD_light"],
    }
    assert sorted(GLOPART_CLASSES) == sorted(n for v in families.values() for n in v)
    for name in GLOPART_CLASSES:
        spec = CLASSES[name]
        assert spec.scheme == "glopart" and spec.label == f"label_{name}"
        if name.startswith("QCD"):
            assert spec.resonance == 0
            continue
        # the resonance is a narrow state whose decay is forced (no filtering on the decay mode)
        assert spec.resonance == (25 if name.startswith("X") else 6)
        forced = [s for s in spec.settings if "oneChannel" in s or "onIfAny" in s or "IfAny" in s]
        assert forced, name
        assert spec.mass_min == (PARTIAL_MASS_MIN if ("3q" in name or "bq_" in name) else 0.0)


# ---------------------------------------------------------------------------------------------- labelling rules
def _decay(pid, leaves, eta, *, from_w=None, tau=None):
    n = len(leaves)
    return Decay(
        pid, 500.0, 0.0, 0.0, 100.0, list(leaves), list(eta), [0.0] * n,
        list(from_w or [False] * n), list(tau or [0] * n),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("decay", "label"),
    [
        (_decay(25, [5, -5], [0.1, -0.1]), "Xbb"),
        (_decay(25, [5, -5], [0.1, -0.9]), None),  # one b outside the cone
        (_decay(25, [2, -2], [0.1, -0.1]), "Xqq"),
        (_decay(25, [15, -15], [0.1, -0.1], tau=[TAU_H, TAU_E]), "Xtauhtaue"),
        (_decay(25, [15, -15], [0.1, -0.1], tau=[TAU_MU, TAU_H]), "Xtauhtaum"),
        (_decay(25, [15, -15], [0.1, -0.1], tau=[TAU_E, TAU_MU]), None),  # no τ_h
        (_decay(25, [4, -3, 1, -2], [0.1, 0.2, -0.1, -0.2], from_w=[True] * 4), "XWW4q_1c"),
        (_decay(25, [4, -3, -4, 3], [0.1, 0.2, -0.1, -0.2], from_w=[True] * 4), "XWW4q_2c"),
        (_decay(25, [4, -3, -4, 3], [0.1, 0.2, -0.1, -1.5], from_w=[True] * 4), "XWW3q_2c"),
        (_decay(25, [4, -3, -4, 3], [1.5, 0.2, -0.1, -0.2], from_w=[True] * 4), "XWW3q_1c"),
        (_decay(25, [4, -3, -4, 3], [1.5, 0.2, -1.1, -0.2], from_w=[True] * 4), None),  # two out
        (_decay(25, [-11, 12, 2, -1], [0.1, 3.0, 0.2, -0.2], from_w=[True] * 4), "XWWevqq_0c"),
        (
            _decay(25, [-15, 16, 4, -3], [0.1, 3.0, 0.2, -0.2], from_w=[True] * 4, tau=[TAU_H, 0, 0, 0]),
            "XWWtauhvqq_1c",
        ),
        (_decay(6, [5, 4, -3], [0.0, 0.3, -0.3], from_w=[False, True, True]), "Topbqq_1c"),
        (_decay(6, [5, 4, -3], [0.0, 1.3, -0.3], from_w=[False, True, True]), "Topbq_0c"),
        (_decay(6, [5, 4, -3], [0.0, 0.3, -1.3], from_w=[False, True, True]), "Topbq_1c"),
        (_decay(6, [5, 4, -3], [1.0, 0.3, -0.3], from_w=[False, True, True]), None),  # b outside
        (_decay(6, [5, -13, 14], [0.0, 0.3, 2.0], from_w=[False, True, True]), "Topbmv"),
        (
            _decay(6, [5, -15, 16], [0.0, 0.3, 2.0], from_w=[False, True, True], tau=[0, TAU_E, 0]),
            "Topbtauev",
        ),
    ],
)
def test_glopart_label_of_a_decay_follows_the_products_in_the_cone(decay, label):
    b_hadron = np.array([[5, 100.0, 0.0, 0.0]])  # top classes need a b hadron in the cone
    assert glopart_label([decay], b_hadron, 0.0, 0.0, 0.8) == (label, decay)
    if label and label.startswith("Top"):
        assert glopart_label([decay], np.array([[5, 100.0, 2.0, 0.0]]), 0.0, 0.0, 0.8) == (None, decay)


def test_qcd_is_split_by_the_hadrons_in_the_cone_and_two_decays_give_no_label():
    had = np.array([[5, 50.0, 0.1, 0.0], [5, 40.0, -0.2, 0.1], [4, 30.0, 0.3, 0.0], [4, 30.0, 2.0, 0.0]])
    assert glopart_label([], had, 0.0, 0.0, 0.8)[0] == "QCD_bb"
    assert glopart_label([], had[1:], 0.0, 0.0, 0.8)[0] == "QCD_b"
    assert glopart_label([], had[2:], 0.0, 0.0, 0.8)[0] == "QCD_c"  # the second c hadron is outside
    assert glopart_label([], had[3:], 0.0, 0.0, 0.8)[0] == "QCD_light"
    assert [qcd_flavour(0, 2), qcd_flavour(1, 5)] == ["QCD_cc", "QCD_b"]
    a = _decay(25, [5, -5], [0.1, -0.1])
    b = _decay(6, [5, 4, -3], [0.5, 3.0, 3.2], from_w=[False, True, True])  # its b touches the jet
    assert glopart_label([a, b], np.zeros((0, 4)), 0.0, 0.0, 0.8) == (None, None)


# ---------------------------------------------------------------------------------------------- generated jets
@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """``get(name)``: 3 jets of a class (one chunk, flat resonance mass in 15–250 GeV), generated once."""
    pytest.importorskip("pythia8mc")
    from higgsflow.data.io import read_metadata, read_table
    from higgsflow.generate import generate_jets

    d = tmp_path_factory.mktemp("glopart")
    cache: dict[str, tuple[ak.Array, dict, Path]] = {}

    def get(name: str, n: int = 3):
        if name not in cache:
            out = generate_jets([name], n, d / f"{name}.parquet", seed=7, chunk_size=n, resonance_mass=FLAT)
            cache[name] = (read_table(out), read_metadata(out), out)
        return cache[name][:2]

    get.path = lambda name: (get(name), cache[name][2])[1]

    return get


def _col(t, name):
    return ak.to_numpy(t[name])


def _has(t, flag):
    """Whether most jets (≥ 2 of 3) have a candidate with this flag (the lepton identification is not 100%)."""
    return ak.to_numpy(ak.any(t[flag] > 0.5, axis=1)).sum() >= 2


FAMILIES = {
    # name: (prongs in the cone, check)
    "Xbb": (2, lambda t: (_col(t, "aux_n_bhadrons") >= 2).all()),
    "Xcc": (2, lambda t: ((_col(t, "aux_n_chadrons") >= 2) & (_col(t, "aux_n_bhadrons") == 0)).all()),
    "Xtauhtaue": (2, lambda t: _has(t, "part_isElectron") & (_col(t, "aux_lepton_pid") == 15).all()),
    # two c quarks in the cone; a c hadron can end up just outside it
    "XWW4q_2c": (
        4,
        lambda t: (_col(t, "aux_n_c_from_w") == 2).all() & (_col(t, "aux_n_chadrons") >= 1).all(),
    ),
    "XWW3q_1c": (3, lambda t: (_col(t, "aux_n_bhadrons") == 0).all()),
    "XWWmvqq_0c": (3, lambda t: _has(t, "part_isMuon") & (_col(t, "aux_lepton_pid") == 13).all()),
    "Topbqq_1c": (
        3,
        lambda t: (_col(t, "aux_n_bhadrons") >= 1).all() & (_col(t, "aux_n_c_from_w") == 1).all(),
    ),
    "Topbq_0c": (2, lambda t: (_col(t, "aux_n_bhadrons") >= 1).all()),
    "Topbev": (2, lambda t: _has(t, "part_isElectron") & (_col(t, "aux_lepton_pid") == 11).all()),
    "QCD_bb": (0, lambda t: (_col(t, "aux_n_bhadrons") >= 2).all()),
    "QCD_c": (0, lambda t: ((_col(t, "aux_n_chadrons") == 1) & (_col(t, "aux_n_bhadrons") == 0)).all()),
    "QCD_light": (0, lambda t: ((_col(t, "aux_n_chadrons") == 0) & (_col(t, "aux_n_bhadrons") == 0)).all()),
}


@pytest.mark.parametrize("name", list(FAMILIES))
def test_each_family_has_its_prongs_and_hadrons(generated, name):
    t, meta = generated(name)
    prongs, check = FAMILIES[name]
    assert len(t) == 3
    assert (_col(t, f"label_{name}") == 1).all()
    # every GloParT label column is written (0 for the other classes), so the 37-class config reads the file
    others = [g for g in GLOPART_CLASSES if g != name]
    assert all(f"label_{g}" in t.fields for g in others)
    assert sum(_col(t, f"label_{g}").sum() for g in others) == 0
    assert (_col(t, "aux_n_prongs") == prongs).all(), _col(t, "aux_n_prongs")
    assert check(t), name
    mass = _col(t, "aux_resonance_mass")
    if name.startswith("QCD"):
        assert (_col(t, "aux_resonance_pid") == 0).all() and (mass == 0).all()
        return
    # the chunk's resonance mass, drawn flat in [15, 250] GeV (≥ 40 GeV for the partly merged classes)
    (drawn,) = meta["chunk_resonance_masses"].values()
    assert max(15.0, CLASSES[name].mass_min) <= drawn <= 250.0
    np.testing.assert_allclose(mass, drawn, rtol=0.1 if name.startswith("Top") else 0.01)


def test_chunk_masses_of_the_families_are_uniform(generated):
    """The chunk masses of the generated signal families (one chunk each, reused) are uniform in each class's
    range [max(15, mass_min), 250] GeV (Kolmogorov–Smirnov on the masses mapped to [0, 1])."""
    u = []
    for name in FAMILIES:
        if name.startswith("QCD"):
            continue
        (m,) = generated(name)[1]["chunk_resonance_masses"].values()
        low = max(15.0, CLASSES[name].mass_min)
        u.append((m - low) / (250.0 - low))
    assert len(u) == 9 and min(u) >= 0 and max(u) <= 1
    assert stats.kstest(u, "uniform").pvalue > 1e-3, u


@pytest.mark.slow
def test_every_glopart_class_is_generated(generated):
    for name in GLOPART_CLASSES:
        t, _ = generated(name)
        assert len(t) == 3 and (_col(t, f"label_{name}") == 1).all(), name


@pytest.mark.slow
def test_flat_resonance_mass_over_many_chunks(tmp_path):
    """40 chunks of one X → bb̄ jet: the resonance-mass histogram is flat in 15–250 GeV (χ² over 5 bins)."""
    pytest.importorskip("pythia8mc")
    from higgsflow.data.io import read_table
    from higgsflow.generate import generate_jets

    out = generate_jets(["Xbb"], 40, tmp_path / "m.parquet", seed=3, chunk_size=1, resonance_mass=FLAT)
    m = _col(read_table(out), "aux_resonance_mass")
    assert len(np.unique(np.round(m, 3))) == 40  # one mass per chunk
    counts, _ = np.histogram(m, bins=np.linspace(15, 250, 6))
    assert counts.sum() == 40
    assert stats.chisquare(counts).pvalue > 1e-3, counts


# ---------------------------------------------------------------------------------------------- the config
def test_config_builds_part_sv_with_the_mass_head_and_the_glopart_inputs():
    from higgsflow.models import build_model

    cfg = DataConfig.load(CONFIG)
    assert cfg.label_names == [f"label_{c}" for c in GLOPART_CLASSES]
    assert cfg.inputs["pf_features"].length == 128 and cfg.inputs["sv_features"].length == 7
    model = build_model("part_sv", cfg, **TINY)
    assert model.heads == ("logits", "mass_corr")
    w = cfg.weights
    assert list(w["reweight_vars"]) == ["jet_pt", "jet_sdmass"]
    pt_edges, m_edges = (np.asarray(v) for v in w["reweight_vars"].values())
    assert pt_edges[0] == 200 and pt_edges[-1] == 2500
    np.testing.assert_array_equal(m_edges, np.arange(20, 261, 10))
    assert w["reweight_classes"] == [f"label_{c}" for c in GLOPART_CLASSES]
    # the mass target: the resonance mass for signal, the generator-level soft-drop mass for QCD, relative to the
    # ungroomed jet mass (sqrt(E² - (p_T cosh η)²), here 50, 200 and 40 GeV at η = 0 and 1)
    pt = np.array([300.0, 500.0, 400.0])
    eta = np.array([0.0, 1.0, 0.0])
    m_jet = np.array([50.0, 200.0, 40.0])
    table = ak.Array(
        {"aux_resonance_pid": [25, 6, 0], "aux_resonance_mass": [60.0, 172.0, 0.0],
         "aux_genjet_sdmass": [55.0, 150.0, 33.0], "jet_pt": pt, "jet_eta": eta,
         "jet_energy": np.sqrt(m_jet**2 + (pt * np.cosh(eta)) ** 2)}
    )  # fmt: skip
    table = ak.with_field(table, evaluate(cfg.new_variables["jet_mass"], table), "jet_mass")
    np.testing.assert_allclose(np.asarray(table["jet_mass"]), m_jet, rtol=1e-6)
    np.testing.assert_allclose(
        evaluate(cfg.targets["mass_corr"], table), [60 / 50, 172 / 200, 33 / 40], rtol=1e-6
    )
    assert cfg.target_space["mass_corr"] == "log" and cfg.log_heads() == {
        "mass_corr"
    }  # trained on ln(m / m_jet)
    assert [(t["term"], t.get("head", "logits")) for t in cfg.loss_terms] == [
        ("cross_entropy", "logits"),
        ("logcosh", "mass_corr"),
    ]


def test_the_config_reads_generated_glopart_files(generated):
    cfg = DataConfig.load(CONFIG)
    files = [generated.path("Xbb"), generated.path("QCD_light")]
    arrays = load_arrays(files, cfg)
    assert len(arrays) == 6
    np.testing.assert_array_equal(arrays.label, [0, 0, 0, 36, 36, 36])  # Xbb, QCD_light in the table order
    xbb, qcd = generated("Xbb")[0], generated("QCD_light")[0]
    m_jet = [
        np.sqrt(_col(t, "jet_energy") ** 2 - (_col(t, "jet_pt") * np.cosh(_col(t, "jet_eta"))) ** 2)
        for t in (xbb, qcd)
    ]
    m_target = [_col(xbb, "aux_resonance_mass"), _col(qcd, "aux_genjet_sdmass")]
    expected = np.concatenate(m_target) / np.concatenate(m_jet)
    np.testing.assert_allclose(arrays.target_values["mass_corr"], expected, rtol=1e-3)
    np.testing.assert_allclose(arrays.observers["jet_mass"], np.concatenate(m_jet), rtol=1e-3)
    assert (_col(qcd, "aux_genjet_sdmass") > 0).all()


def _toy_pt_msd(rng, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """p_T and m_SD of class k: a falling p_T spectrum and a class-dependent mass peak, over a flat floor that
    fills every reweighting bin."""
    flat = rng.random(n) < 0.6
    pt = np.where(flat, rng.uniform(200, 2500, n), 200 + rng.exponential(300 + 10 * k, n))
    msd = np.where(flat, rng.uniform(20, 260, n), rng.normal(30 + 6 * k, 15, n))
    return pt, msd


def _flatness_pvalues(cfg, pt, msd, cls, weight):
    edges = [np.asarray(v, float) for v in cfg.weights["reweight_vars"].values()]
    out = []
    for c in np.unique(cls):
        s = cls == c
        h, _, _ = np.histogram2d(pt[s], msd[s], bins=edges, weights=weight[s])
        v, _, _ = np.histogram2d(pt[s], msd[s], bins=edges, weights=weight[s] ** 2)
        chi2 = float((((h - h.mean()) ** 2) / np.maximum(v, 1e-12)).sum())
        out.append(stats.chi2.sf(chi2, h.size - 1))
    return np.array(out)


def test_reweighting_makes_every_class_flat_in_pt_and_msd():
    cfg = DataConfig.load(CONFIG)
    rng = np.random.default_rng(1)
    n = 40_000  # about 60 jets per bin from the flat part: the 10%-percentile weight cap stays small
    pts, msds, cls = [], [], []
    for k in range(len(GLOPART_CLASSES)):
        pt, msd = _toy_pt_msd(rng, k, n)
        pts.append(pt)
        msds.append(msd)
        cls.append(np.full(n, k))
    pt, msd, cls = (np.concatenate(x) for x in (pts, msds, cls))
    arrays = types.SimpleNamespace(observers={"_rw_jet_pt": pt, "_rw_jet_sdmass": msd, "_rw_class": cls})
    w = flat_weights(cfg, arrays).astype(np.float64)
    inside = (pt >= 200) & (pt <= 2500) & (msd >= 20) & (msd <= 260)
    assert (w[~inside] == 0).all() and (w[inside] > 0).all()
    # before: nothing is flat; after: every class flat within statistics, and the classes weigh the same
    assert (_flatness_pvalues(cfg, pt, msd, cls, np.ones_like(w)) < 1e-6).all()
    p = _flatness_pvalues(cfg, pt, msd, cls, w)
    assert (p > 1e-3).all(), p.min()
    totals = np.bincount(cls, weights=w)
    np.testing.assert_allclose(totals, totals.mean(), rtol=1e-6)


def test_loading_a_toy_file_gives_the_flat_weights(tmp_path):
    """End to end: the loader applies the config's reweighting to a toy file of three GloParT classes."""
    rename = {"QCD": "QCD_light", "Hbb": "Xbb", "Tbqq": "Topbqq_0c"}
    n = 1500
    c = make_toy_jets(list(rename), n, seed=2, n_min=4, n_max=12)
    labels = {f"label_{g}": np.zeros(3 * n, np.float32) for g in GLOPART_CLASSES}
    for old, new in rename.items():
        labels[f"label_{new}"] = np.asarray(c.pop(f"label_{old}"), np.float32)
    cls = np.stack([labels[f"label_{g}"] for g in rename.values()], axis=1).argmax(axis=1)
    rng = np.random.default_rng(3)
    pt, msd = np.empty(3 * n), np.empty(3 * n)
    for k in range(3):
        pt[cls == k], msd[cls == k] = _toy_pt_msd(rng, 10 * k, int((cls == k).sum()))
    c.update(labels)
    c["jet_pt"], c["jet_sdmass"] = pt.astype(np.float32), msd.astype(np.float32)
    m_jet = np.where(cls == 0, msd, 130.0)  # the ungroomed jet mass
    c["jet_energy"] = np.hypot(m_jet, pt * np.cosh(np.asarray(c["jet_eta"]))).astype(np.float32)
    c["aux_resonance_pid"] = np.where(cls == 0, 0, np.where(cls == 1, 25, 6)).astype(np.int32)
    c["aux_resonance_mass"] = np.where(cls == 0, 0.0, 125.0).astype(np.float32)
    c["aux_genjet_sdmass"] = msd.astype(np.float32)
    f = write_table(tmp_path / "toy.parquet", c)
    cfg = DataConfig.load(CONFIG)
    arrays = load_arrays([f], cfg)
    assert arrays.inputs["pf_features"].shape[-1] == 128 and arrays.inputs["sv_features"].shape[-1] == 7
    lab = arrays.label
    kept_pt, kept_m = arrays.observers["jet_pt"].astype(float), arrays.observers["jet_sdmass"].astype(float)
    assert (arrays.weight[(kept_m < 20) | (kept_m > 260)] == 0).all()
    # the weights are those of the reweighting shown flat above, computed from the file's (p_T, m_SD, class)
    obs = {"_rw_jet_pt": kept_pt, "_rw_jet_sdmass": kept_m, "_rw_class": lab}
    expected = flat_weights(cfg, types.SimpleNamespace(observers=obs))
    np.testing.assert_allclose(arrays.weight, expected, rtol=1e-5)
    totals = np.bincount(lab, weights=arrays.weight.astype(float))[np.unique(lab)]
    np.testing.assert_allclose(totals, totals.mean(), rtol=1e-5)
    sig = lab == GLOPART_CLASSES.index("Xbb")
    np.testing.assert_allclose(arrays.target_values["mass_corr"][sig], 125 / 130, rtol=1e-3)  # m_res / m_jet
    # QCD: gen m_SD = m_jet here, to the digits m_jet keeps from float32 E and p (below 20 GeV it loses more; under 1 GeV
    # it is floored at 1 GeV)
    qcd = (lab == GLOPART_CLASSES.index("QCD_light")) & (kept_m > 20)
    np.testing.assert_allclose(arrays.target_values["mass_corr"][qcd], 1.0, rtol=1e-2)
