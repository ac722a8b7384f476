"""Mass-sculpting metric: Jensen–Shannon divergence (natural log) of passing vs failing background m_SD."""

from __future__ import annotations

import math

import numpy as np
import pytest

from higgsflow.errors import DataError
from higgsflow.evaluate import inverse_jsd_vs_rejection, jensen_shannon, jsd_at_efficiency
from higgsflow.evaluate.decorrelation import plot_mass_sculpting


def test_identical_is_zero_and_normalisation_does_not_matter():
    h = np.array([3.0, 1.0, 0.0, 6.0])
    assert jensen_shannon(h, h) == 0.0
    assert jensen_shannon(h, 10 * h) == pytest.approx(0.0, abs=1e-15)


def test_disjoint_is_ln2():
    assert jensen_shannon([1, 2, 0, 0], [0, 0, 5, 1]) == pytest.approx(math.log(2))


def test_symmetric_and_known_value():
    p, q = np.array([1.0, 1.0]), np.array([1.0, 0.0])
    # M = (3/4, 1/4): KL(P‖M) = ½ ln(2/3) + ½ ln 2, KL(Q‖M) = ln(4/3); JSD = ½ (sum)
    expected = 0.5 * (0.5 * math.log(2 / 3) + 0.5 * math.log(2)) + 0.5 * math.log(4 / 3)
    assert jensen_shannon(p, q) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.21576155433883565)
    a, b = np.array([0.2, 0.5, 0.3]), np.array([0.6, 0.1, 0.3])
    assert jensen_shannon(a, b) == pytest.approx(jensen_shannon(b, a), rel=1e-14)
    assert 0 < jensen_shannon(a, b) < math.log(2)


def test_bad_histograms():
    with pytest.raises(DataError, match="empty"):
        jensen_shannon([0, 0], [1, 0])
    with pytest.raises(DataError, match="negative"):
        jensen_shannon([1, -1], [1, 0])
    with pytest.raises(DataError, match="lengths"):
        jensen_shannon([1, 1], [1, 1, 1])


def _qcd(n=100_000, sculpt=True, seed=3):
    rng = np.random.default_rng(seed)
    msd = rng.exponential(60.0, n) + 20.0
    score = rng.random(n)
    if sculpt:  # a mass-correlated tagger: high scores near 125 GeV
        score = 0.7 * score + 0.3 * np.exp(-(((msd - 125.0) / 15.0) ** 2)) * rng.random(n)
    return score, msd


def test_cut_at_efficiency_and_decorrelated_vs_sculpted():
    s_dec, m = _qcd(sculpt=False)
    r = jsd_at_efficiency(s_dec, m, 0.01)
    assert r["efficiency"] == pytest.approx(0.01, abs=2e-4) and r["rejection"] == pytest.approx(100, rel=0.02)
    s_sc, m2 = _qcd(sculpt=True)
    r2 = jsd_at_efficiency(s_sc, m2, 0.01)
    # an independent score leaves the mass shape alone (JSD only from statistics); a correlated one sculpts it
    assert r["jsd"] < 0.02 and r2["jsd"] > 0.3 and r["inverse_jsd"] > 20 * r2["inverse_jsd"]
    curve = inverse_jsd_vs_rejection(s_sc, m2, (0.5, 0.1, 0.01))
    assert [c["rejection"] for c in curve] == pytest.approx([2, 10, 100], rel=0.02)
    assert curve[0]["inverse_jsd"] > curve[1]["inverse_jsd"] > curve[2]["inverse_jsd"]


def test_plot(tmp_path):
    s, m = _qcd(20_000)
    out = plot_mass_sculpting(s, m, tmp_path / "msd.png")
    assert out.stat().st_size > 10_000
    with pytest.raises(DataError):
        plot_mass_sculpting(s, m, tmp_path / "msd.png")  # exists, no overwrite


def test_no_failing_jets_give_an_undefined_not_an_infinite_inverse_jsd():
    # every jet has the same score: the cut keeps them all, the failing histogram is empty
    r = jsd_at_efficiency(np.ones(50), np.linspace(30, 200, 50), 0.5)
    assert r["n_pass"] == 50 and math.isnan(r["jsd"]) and math.isnan(r["inverse_jsd"])


def test_statistical_floor_matches_the_chi2_expectation_and_shrinks_with_more_jets():
    # a random score passing n jets of a spectrum spread over K bins: E[JSD] ≈ (K − 1) / (8 n)
    from higgsflow.evaluate import jsd_floor

    rng = np.random.default_rng(3)
    for n_jets in (20_000, 80_000):
        msd = rng.uniform(20.0, 260.0, n_jets)  # every jet inside the 24 bins
        floor = jsd_floor(msd, 0.01, draws=40, seed=1)
        n_pass = 0.01 * n_jets
        assert floor["jsd"] == pytest.approx(23 / (8 * n_pass), rel=0.2)
        assert floor["inverse_jsd"] == pytest.approx(1 / floor["jsd"])
    # a tagger that sculpts stands far above the floor; one that does not sits on it
    msd = rng.exponential(60.0, 20_000) + 20.0
    sculpting = jsd_at_efficiency(-np.abs(msd - 125.0), msd, 0.01)["jsd"]
    flat = jsd_floor(msd, 0.01, seed=2)
    assert sculpting > 20 * flat["jsd"]
    with pytest.raises(DataError, match="draws"):
        jsd_floor(msd, 0.01, draws=0)
