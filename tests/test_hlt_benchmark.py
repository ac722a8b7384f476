"""The rate matching of benchmarks/hlt.py on hand-made events (the benchmark itself generates and trains: minutes)."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from higgsflow.tagging.hlt import TALK_PATHS, emulate, rate_hz, threshold_for_rate


@pytest.fixture(scope="module")
def bench(load_script):
    return load_script("benchmarks/hlt.py")


def _event(mean):
    """An event whose 2023-like b-tag value is ``mean`` (4 jets passing HT > 280, 4 × 30 GeV), or one failing
    the kinematics (3 jets) for -inf."""
    if not np.isfinite(mean):
        return [{"pt": 100.0, "eta": 0.0, "btagPNetB": 0.99}] * 3
    pts = (100.0, 100.0, 50.0, 50.0)
    return [{"pt": p, "eta": 0.0, "btagPNetB": b} for p, b in zip(pts, (mean, mean, 0.0, 0.0), strict=True)]


# QCD: weights (pb, up to a scale) and 2023-like values; the legacy path passes events 0 and 2
QCD_W = np.array([1.0, 1.0, 2.0, 2.0, 4.0, 10.0])
QCD_VALUE = np.array([0.9, 0.8, 0.7, 0.6, -np.inf, 0.3])
QCD_LEGACY = np.array([True, False, True, False, False, False])
HH_VALUE = np.array([0.95, 0.75, 0.5, -np.inf])
HH_LEGACY = np.array([True, False, False, False])
SIGMA_PB = 1.0e6  # σ L = 2e4 Hz at 2e34


def test_rate_matched_by_hand(bench):
    b = bench
    r = b.rate_matched(QCD_LEGACY, QCD_VALUE, QCD_W, HH_LEGACY, HH_VALUE, SIGMA_PB)
    # legacy: weights 1 + 2 of 20 → ε = 0.15 → 3000 Hz
    assert r["legacy_rate_hz"] == pytest.approx(0.15 * 2.0e4)
    # fraction above t: t = 0.6 → (1 + 1 + 2) / 20 = 0.2 > 0.15; t = 0.7 → 2 / 20 = 0.1: the threshold is 0.7
    assert r["threshold"] == pytest.approx(0.7)
    assert r["rate_2023_hz"] == pytest.approx(0.1 * 2.0e4) and r["rate_2023_hz"] <= r["legacy_rate_hz"]
    # signal: 0.95 and 0.75 are above 0.7 → 2 / 4; legacy 1 / 4
    assert (r["eff_2023"], r["eff_legacy"]) == (pytest.approx(0.5), pytest.approx(0.25))
    assert r["gain"] == pytest.approx(2.0)
    # the same events as a part of a sample of total weight 40: half the fractions, the same threshold
    half = b.rate_matched(QCD_LEGACY, QCD_VALUE, QCD_W, HH_LEGACY, HH_VALUE, SIGMA_PB, qcd_total=40.0)
    assert half["legacy_rate_hz"] == pytest.approx(1500.0) and half["threshold"] == pytest.approx(0.7)


def test_rate_matched_equals_the_library_on_jets(bench):
    b = bench
    jets = ak.Array([_event(v) for v in QCD_VALUE])
    p23 = TALK_PATHS["HH2023"]
    # the hand-made jets give the intended values
    assert emulate(jets, p23.with_threshold(0.65)).tolist() == [True, True, True, False, False, False]
    r = b.rate_matched(QCD_LEGACY, QCD_VALUE, QCD_W, HH_LEGACY, HH_VALUE, SIGMA_PB)
    lib = threshold_for_rate(jets, p23, r["legacy_rate_hz"], SIGMA_PB, weights=QCD_W)
    assert lib == pytest.approx(r["threshold"])
    passed = emulate(jets, p23.with_threshold(lib))
    assert rate_hz(QCD_W[passed].sum() / QCD_W.sum(), SIGMA_PB) == pytest.approx(r["rate_2023_hz"])
    # a looser legacy rate (it passes everything but the heavy event) → everything that has the kinematics
    loose = b.rate_matched(QCD_VALUE > -1, QCD_VALUE, QCD_W, HH_LEGACY, HH_VALUE, SIGMA_PB)
    assert loose["threshold"] < 0.3 and loose["eff_2023"] == pytest.approx(0.75)
    # no QCD event passes the legacy path: the cut sits at the highest QCD value, no QCD rate is left
    none = b.rate_matched(QCD_VALUE > 5, QCD_VALUE, QCD_W, HH_LEGACY, HH_VALUE, SIGMA_PB)
    assert none["threshold"] == pytest.approx(0.9) and none["rate_2023_hz"] == 0.0
    assert none["eff_2023"] == pytest.approx(0.25)


def test_bootstrap_brackets_and_light_working_point(bench):
    b = bench
    rng = np.random.default_rng(3)
    n = 4000
    w = rng.exponential(1.0, n)
    val = rng.random(n)
    legacy = rng.random(n) < 0.05
    hh_val = rng.random(500) ** 0.3
    hh_leg = rng.random(500) < 0.3
    args = (legacy, val, w, hh_leg, hh_val)
    main = b.rate_matched(*args, SIGMA_PB)
    boot = b.bootstrap(args, SIGMA_PB, 60, seed=1)
    assert boot["replicas"] == 60
    # the threshold keeps ~5% of uniform values: ~0.95, and the replicas scatter around it
    assert main["threshold"] == pytest.approx(0.95, abs=0.01)
    lo, hi = boot["threshold"]
    assert lo < main["threshold"] < hi and hi - lo < 0.02
    lo, hi = boot["eff_2023"]
    assert lo <= main["eff_2023"] <= hi
    # 1% light mistag: the 99% quantile of the light jets above 30 GeV within |η| < 2.5 (b jets ignored)
    score = np.r_[np.linspace(0, 1, 1001), np.ones(50), np.ones(50)]
    flav = np.r_[np.zeros(1001, int), np.full(50, 5), np.zeros(50, int)]
    pt = np.r_[np.full(1001, 40.0), np.full(50, 40.0), np.full(50, 25.0)]
    assert b.light_threshold(score, flav, pt, np.zeros_like(pt)) == pytest.approx(0.99)


def test_resampled_scores_come_from_jets_of_the_same_flavour_and_keep_the_rate(bench):
    b = bench
    rng = np.random.default_rng(5)
    n = 3000
    # events of 4 jets (pT 40-120 GeV): 2 light (scores ~ U(0, 0.5)) and, in 20% of them, 2 b jets (~ U(0.5, 1))
    has_b = rng.random(n) < 0.2
    flav = np.where(has_b[:, None], [5, 5, 0, 0], [0, 0, 0, 0])
    pt = rng.uniform(40, 120, (n, 4))
    score = np.where(flav == 5, rng.uniform(0.5, 1.0, (n, 4)), rng.uniform(0.0, 0.5, (n, 4)))
    jets = ak.zip({"pt": pt, "eta": np.zeros((n, 4)), "btagPNetB": score, "btagDeepFlavB": 1 - score})
    jets = ak.Array(jets.tolist())
    w = rng.exponential(1.0, n)
    keep = np.arange(n) % 2 == 0
    rep, rw, group = b.resample_scores(jets, ak.Array(flav.tolist()), w, keep, 20, seed=2)
    assert len(rep) == 20 * keep.sum() and np.all(keep[group])
    assert rw.sum() == pytest.approx(w[keep].sum())
    # every copied jet's scores are those of a donor of its flavour, drawn jointly (PNet + DeepJet = 1)
    f = ak.to_numpy(ak.flatten(ak.Array(flav.tolist())[group]))
    s = ak.to_numpy(ak.flatten(rep.btagPNetB))
    assert np.all(s[f == 5] >= 0.5) and np.all(s[f == 0] < 0.5)
    assert np.allclose(ak.to_numpy(ak.flatten(rep.btagDeepFlavB)), 1 - s)
    # the donors are mixed: copies of one event differ, and the mean-of-two rate is the one of the sample
    assert len(np.unique(s[:8])) == 8
    path = TALK_PATHS["HH2023"].with_threshold(0.8)
    direct = np.average(emulate(jets[keep], path), weights=w[keep])
    resampled = np.average(emulate(rep, path), weights=rw)
    assert resampled == pytest.approx(direct, abs=0.02)


def test_crossing_rate_of_efficiency_rate_curves(bench):
    b = bench

    def curve(points):
        return [{"threshold": 0.0, "qcd_rate_hz": r, "hh_eff": e} for r, e in points]

    # legacy: ε = 0.1 at 1 Hz ... 0.4 at 1000 Hz; 2023-like: steeper, crossing between 10 and 100 Hz
    legacy = curve([(1, 0.1), (10, 0.2), (100, 0.3), (1000, 0.4)])
    steep = curve([(1, 0.02), (10, 0.1), (100, 0.4), (1000, 0.7)])
    assert b.crossing_rate({"legacy": legacy, "2023-like": steep}) == (10, 100)
    # always better / never better
    assert b.crossing_rate({"legacy": legacy, "2023-like": curve([(1, 0.5), (1000, 0.9)])}) == (-np.inf, 1)
    lo, hi = b.crossing_rate({"legacy": legacy, "2023-like": curve([(1, 0.0), (1000, 0.1)])})
    assert lo == 1000 and np.isnan(hi)
