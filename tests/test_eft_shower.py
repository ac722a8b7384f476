"""Pythia 8 showering of the ZH LHE events and particle-level reconstruction (weights ride along)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")

from higgsflow.eft import zh
from higgsflow.eft.shower import particle_level_features, shower_lhe
from higgsflow.eft.weights import read_sample


def test_shower_keeps_event_order_and_reconstructs_zh(tmp_path):
    ev = zh.generate(150, seed=4)
    path = zh.write_lhe(ev, tmp_path / "zh.lhe")
    obj = shower_lhe(path, seed=1)
    assert len(obj["ok"]) == len(ev) and obj["ok"].all()
    sel = obj["selected"]
    assert 0.1 < sel.mean() < 0.6
    # the dressed leptons are the hard-process leptons of the same event (order preserved)
    has = obj["p_lminus"][:, 0] > 0
    a, b = obj["p_lminus"][has, 1:], ev.p_lminus[has, 1:]
    cos = np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert np.mean(cos > 0.99) > 0.7
    feats = particle_level_features(obj)
    m = feats["m_bb"][sel]
    assert 95 < np.median(m) < 130  # b-jet response below 1 (neutrinos, out-of-cone radiation)
    np.testing.assert_allclose(np.median(feats["m_zh"][sel] / ev.features["m_zh"][sel]), 1.0, atol=0.15)


def _m_ll(obj):
    p = obj["p_lminus"] + obj["p_lplus"]
    has = obj["p_lminus"][:, 0] > 0
    return np.sqrt(np.maximum(p[has, 0] ** 2 - np.sum(p[has, 1:] ** 2, axis=1), 0))


def test_detector_model_against_particle_level(tmp_path):
    ev = zh.generate(300, seed=8)
    path = zh.write_lhe(ev, tmp_path / "zh.lhe")
    tag = dict(btag_efficiency=1.0, mistag=0.0)  # no random tagging: the same events can be compared
    det = shower_lhe(path, seed=2, **tag)  # default: the generator's CMS-like detector
    gen = shower_lhe(path, seed=2, detector=False, **tag)
    m_det, m_gen = _m_ll(det), _m_ll(gen)
    # both peak at m_Z; tracker resolution (≈ 1–2 % at these p_T) widens the peak beyond the FSR tail
    assert abs(np.median(m_det) - 91.19) < 1.5 and abs(np.median(m_gen) - 91.19) < 1.0
    core = lambda m: np.subtract(*np.percentile(m[(m > 80) & (m < 100)], [75, 25]))  # noqa: E731
    assert core(m_det) > core(m_gen)
    # lepton identification and tracking efficiencies < 1: fewer lepton pairs and selected events
    assert len(m_det) < len(m_gen) and det["selected"].sum() <= gen["selected"].sum() + 3
    fd, fg = particle_level_features(det), particle_level_features(gen)
    both = det["selected"] & gen["selected"]
    assert both.sum() > 30
    # calorimeter response: the H → bb̄ candidate keeps its mass scale within 10 %
    np.testing.assert_allclose(np.median(fd["m_bb"][both] / fg["m_bb"][both]), 1.0, atol=0.1)


def test_generate_with_shower_and_background(tmp_path):
    import json

    from higgsflow.eft.pipeline import background_path, generate_zh_sample

    out = generate_zh_sample(tmp_path / "s.parquet", 60, seed=2, shower=True, background_events=150)
    feats, coeffs, _, meta = read_sample(out)
    assert "pythia8+cms-detector" in meta["settings"] and (tmp_path / "s.lhe").exists()
    assert len(coeffs) == len(feats["reco_selected"]) == 60
    bf, bc, names, bmeta = read_sample(background_path(out))
    assert list(names) == list(zh.COEFFICIENTS)
    assert "qqbar2gmZg" in bmeta["settings"] and len(bc) == 150 and set(bf) >= {"reco_m_zh", "reco_f_ll"}
    assert np.all(bc[:, 1:] == 0) and bc[:, 0].sum() > 0
    sel = bf["reco_selected"].astype(bool)
    sigma = json.loads(bmeta["settings"])["sigma_pb"]
    # w0 = σ/N × P(b-tags): zero when not selected, at most σ/N × P(boosted or ≥ 2 tags) ≤ σ/N (1 − 0.51²)
    assert np.all(bc[~sel, 0] == 0) and sel.any()
    assert np.all(bc[sel, 0] <= sigma / 150 * (1 - 0.51**2) * (1 + 1e-12))


def test_zjets_background_truth_tagging_and_sigma():
    from higgsflow.eft.shower import generate_background

    obj, sigma = generate_background(300, seed=3)
    again, sigma2 = generate_background(300, seed=3)
    np.testing.assert_array_equal(obj["tag_weight"], again["tag_weight"])  # seeded
    assert sigma == sigma2
    # LO σ(Z/γ*(→ee,μμ)+jet, p̂T > 20 GeV, 60 < m_ll < 120 GeV) at 13 TeV: O(10^2–10^3) pb
    assert 100 < sigma < 3000
    w, sel, nb = obj["tag_weight"], obj["selected"], obj["n_bjets"]
    assert np.all((w >= 0) & (w <= 1)) and np.all(w[~sel] == 0)
    # truth tagging = the tagging rule in expectation: light-jet pairs weigh mistag² = 1e-4, events with
    # two b-matched jets up to eff² = 0.49
    light = sel & (nb == 0)
    assert light.any() and np.all(w[light] < 3 * 0.01**2 + 1e-12)
    assert np.all(w[sel & (nb >= 2)] > 0.2)
    # the dilepton pair is a Z: the dressed-lepton mass peaks at m_Z
    pz = obj["p_lminus"][obj["ok"]] + obj["p_lplus"][obj["ok"]]
    m = np.sqrt(np.maximum(pz[:, 0] ** 2 - np.sum(pz[:, 1:] ** 2, axis=1), 0))
    m = m[m > 0]
    assert 86 < np.median(m) < 96


def test_limits_use_pythia_background_when_present(tmp_path):
    from higgsflow.eft.pipeline import (
        background_path,
        expected_limits,
        generate_background_sample,
        generate_zh_sample,
        train_bits,
    )

    sample = generate_zh_sample(tmp_path / "s.parquet", 1500, seed=5)
    bkg = generate_background_sample(background_path(sample), 200, seed=6)
    bf, bc, _, _ = read_sample(bkg)
    sel = bf["reco_selected"].astype(bool) & (bf["reco_m_bb"] > 90) & (bf["reco_m_bb"] < 150)
    model = train_bits(sample, tmp_path / "b.npz", n_trees=5, max_depth=2, min_size=10, mode="hist")
    kw = dict(n_bins=3, n_trials=2, n_scan=5, profile=False, contour=None)
    res = expected_limits(sample, model, tmp_path / "lim", **kw)
    assert res["background"]["source"].startswith("pythia8") and res["m_bb_window"] == [90, 150]
    assert res["background"]["n_events"] == sel.sum()
    np.testing.assert_allclose(res["background"]["yield_pb"], bc[sel, 0].sum())
    # the background reaches the fit: B in the template = Σ w0 × L over the selected events, in both templates
    for entry in res["templates"].values():
        np.testing.assert_allclose(sum(entry["yields"]["background"]), bc[sel, 0].sum() * 138e3, rtol=1e-10)
    bkg.unlink()
    res2 = expected_limits(sample, model, tmp_path / "lim", overwrite=True, **kw)
    assert res2["background"]["source"].startswith("placeholder") and res2["m_bb_window"] is None


def test_fastjet_banner_never_on_stdout(tmp_path):
    """Standard output carries results: FastJet's banner goes to stderr, once, in a fresh process."""
    import subprocess
    import sys

    code = (
        "from higgsflow.eft import zh; from higgsflow.eft.shower import shower_lhe; "
        f"p = zh.write_lhe(zh.generate(10, seed=1), {str(tmp_path / 'zh.lhe')!r}); "
        "o = shower_lhe(p, seed=1); print('events', len(o['ok']))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "FastJet" not in proc.stdout and "events 10" in proc.stdout
    assert proc.stderr.count("Welcome to FastJet") <= 1
