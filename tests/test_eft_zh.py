"""The analytic ZH(→ℓℓ bb) SMEFT model: exact quadratic weights and the physics the paper describes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from higgsflow.eft import zh
from higgsflow.eft.bit import BoostedInformationTree, EFTInformationTrees
from higgsflow.eft.pdf import ToyLOPDF
from higgsflow.eft.weights import coefficient_columns, read_lhe_weights, weight_at
from higgsflow.physics import constants
from higgsflow.physics.constants import BR_H_BB, M_H, M_Z, SQRT_S_RUN2


@pytest.fixture(scope="module")
def events():
    return zh.generate(8000, seed=11)


def test_polynomial_weights_reproduce_amplitude_squared(events):
    rng = np.random.default_rng(3)
    for _ in range(2):
        theta = rng.normal(scale=[1, 1, 1, 1, 0.3, 0.3])
        direct = zh.amplitude_squared(events, theta)
        poly = weight_at(events.coeffs, theta)
        np.testing.assert_allclose(poly, direct, rtol=1e-10)
    assert np.all(events.coeffs[:, 0] > 0)


def _sigma_hat_zh(shat, pdg):
    """Textbook LO σ(q q̄ → Z H) in pb (e.g. Djouadi, Phys. Rept. 457 (2008), eq. 3.5)."""
    t3, q = zh._QUARKS[pdg]
    lam = (1 - (M_H + M_Z) ** 2 / shat) * (1 - (M_H - M_Z) ** 2 / shat)
    gf = 1 / (np.sqrt(2) * zh.V_EV**2)
    v, a = 2 * t3 - 4 * q * zh.S2W, 2 * t3
    k = gf**2 * M_Z**4 / (288 * np.pi * shat) * (v * v + a * a) * np.sqrt(lam)
    return k * (lam + 12 * M_Z**2 / shat) / (1 - M_Z**2 / shat) ** 2 * zh.GEV2_TO_PB


def test_model_uses_the_shared_physics_constants(events, monkeypatch):
    """m_H, m_Z, BR(H → bb̄) and √s of the ZH model are those of higgsflow.physics.constants (YR4, Run 2)."""
    for pair, mass in (((events.p_b, events.p_bbar), M_H), ((events.p_lminus, events.p_lplus), M_Z)):
        p = pair[0] + pair[1]
        m = np.sqrt(p[:, 0] ** 2 - np.sum(p[:, 1:] ** 2, axis=1))  # narrow resonances: exactly on shell
        np.testing.assert_allclose(m, mass, rtol=1e-9)
    assert constants.M_H == 125.09 and constants.BR_H_BB == 0.5809
    assert zh.SQRT_S == 1000.0 * SQRT_S_RUN2 == 13000.0
    # the SM weight carries BR(H → bb̄) as one factor: setting it to 1 scales every weight by 1/BR
    monkeypatch.setattr(zh, "BR_H_BB", 1.0)
    w_inclusive = zh.generate(200, seed=11).coeffs[:, 0]
    monkeypatch.undo()
    np.testing.assert_allclose(zh.generate(200, seed=11).coeffs[:, 0] / w_inclusive, BR_H_BB, rtol=1e-12)


def test_sm_rate_matches_textbook_cross_section(events):
    """Σ w0 = ∫ L_qq̄ σ̂(qq̄→ZH) × BR(Z→ee,μμ) × BR(H→bb) for the same PDFs, to MC precision."""
    pdf, s = ToyLOPDF(), (1000.0 * SQRT_S_RUN2) ** 2  # √s in GeV
    shat = np.geomspace((M_Z + M_H) ** 2 * 1.0001, 3000.0**2, 300)
    vals = []
    for sh in shat:
        ym = -0.5 * np.log(sh / s)
        y = np.linspace(-ym, ym, 301)
        x1, x2 = np.sqrt(sh / s) * np.exp(y), np.sqrt(sh / s) * np.exp(-y)
        lum = [
            np.trapezoid(pdf.f(q, x1) * pdf.f(-q, x2) + pdf.f(-q, x1) * pdf.f(q, x2), y) for q in (1, 2, 3, 4)
        ]
        vals.append(
            sum(L * _sigma_hat_zh(sh, 1 + (q % 2 == 0)) for L, q in zip(lum, (1, 2, 3, 4), strict=True))
        )
    gl = zh._LEPTON_G
    br_ll = 2 * M_Z / (24 * np.pi) * (gl[-1] ** 2 + gl[1] ** 2) / zh.GAMMA_Z
    expect = np.trapezoid(np.array(vals) / s, shat) * br_ll * BR_H_BB
    w0 = events.coeffs[:, 0]
    assert w0.sum() == pytest.approx(expect, abs=4 * np.sqrt(np.sum(w0**2)))


def test_sm_angular_distributions(events):
    """At high energy the Z is longitudinal (sin²Θ, sin²θ*: ⟨cos²⟩ → 1/5); near threshold more transverse."""
    f, w0 = events.features, events.coeffs[:, 0]
    high = f["m_zh"] > 800
    low = f["m_zh"] < 300
    for var in ("cos_theta", "cos_theta_star"):
        assert np.average(f[var][high] ** 2, weights=w0[high]) == pytest.approx(0.2, abs=0.02)
        assert np.average(f[var][low] ** 2, weights=w0[low]) > 0.27
    # no azimuthal CP-odd structure in the SM
    assert abs(np.average(np.sin(2 * f["phi_star"]), weights=w0)) < 0.03


def test_cp_odd_term_vanishes_inclusively_but_not_in_sin_phi_odd_observables(events):
    f, w_g4 = events.features, events.coeffs[:, 1 + zh.COEFFICIENTS.index("g4ZZ")]
    err = np.sqrt(np.sum(w_g4**2))
    assert abs(w_g4.sum()) < 4 * err
    w_g2 = events.coeffs[:, 1 + zh.COEFFICIENTS.index("g2ZZ")]
    assert abs(w_g2.sum()) > 10 * np.sqrt(np.sum(w_g2**2))  # the same test sees the CP-even term
    odd = np.sin(f["phi_star"]) * f["cos_theta"] * f["cos_theta_star"]
    assert abs(np.sum(w_g4 * odd)) > 10 * np.sqrt(np.sum((w_g4 * odd) ** 2))
    assert abs(np.sum(w_g4 * np.sin(2 * f["phi_star"]))) > 10 * err
    # the CP-even g2ZZ has no such sin φ term
    assert abs(np.sum(w_g2 * np.sin(2 * f["phi_star"]))) < 4 * np.sqrt(
        np.sum((w_g2 * np.sin(2 * f["phi_star"])) ** 2)
    )


def test_contact_terms_grow_with_energy(events):
    f, c = events.features, events.coeffs
    edges = [216, 350, 600, 1000, 3000]
    for name in ("cHq3", "cHq1", "cHu"):
        k = 1 + zh.COEFFICIENTS.index(name)
        ratios = []
        for lo, hi in itertools.pairwise(edges):
            m = (f["m_zh"] > lo) & (f["m_zh"] < hi)
            ratios.append(abs(c[m, k].sum() / c[m, 0].sum()))
        assert np.all(np.diff(ratios) > 0), name
    # linear term ∝ ŝ/m_Z² at high energy: the ratio grows ≈ 4× from ~500 GeV to ~1 TeV
    k = 1 + zh.COEFFICIENTS.index("cHq3")
    r = [
        c[(f["m_zh"] > a) & (f["m_zh"] < b), k].sum() / c[(f["m_zh"] > a) & (f["m_zh"] < b), 0].sum()
        for a, b in ((450, 550), (900, 1100))
    ]
    assert 3.0 < r[1] / r[0] < 5.0


def test_lhe_round_trip_and_reconstruction(tmp_path, events):
    few = zh.generate(50, seed=2)
    path = zh.write_lhe(few, tmp_path / "zh.lhe")
    import pylhe

    ev = next(iter(pylhe.LHEFile.fromfile(str(path)).events))
    pdgs = [p.id for p in ev.particles]
    assert pdgs[2:4] == [23, 25] and pdgs[6:] == [5, -5]
    mom = np.array([[p.e, p.px, p.py, p.pz] for p in ev.particles])
    np.testing.assert_allclose(mom[0] + mom[1], mom[4:].sum(axis=0), atol=1e-6)  # momentum conservation
    # the named weights are w(θ_m) at the basis points; solving them gives back the exact coefficients
    ids, theta = zh.lhe_basis_points()
    np.testing.assert_allclose(read_lhe_weights(path, ids, theta), few.coeffs, rtol=1e-8, atol=1e-14)
    reco = zh.reconstruct(events, seed=1)
    sel = reco["selected"]
    acc = np.average(sel, weights=events.coeffs[:, 0])
    assert 0.1 < acc < 0.4  # geometric acceptance × (0.7)² b tagging
    m = reco["m_bb"][sel & (reco["category"] == 0)]
    assert abs(np.median(m) - M_H) < 10 and 5 < np.std(m[(m > 80) & (m < 170)]) < 25


@pytest.fixture(scope="module")
def train_test():
    return zh.generate(20_000, seed=21), zh.generate(10_000, seed=22)


_FEATURES = [
    "m_zh",
    "y_zh",
    "cos_theta",
    "cos_theta_star",
    "phi_star",
    *zh.ANGULAR_MOMENTS,
]


@pytest.mark.parametrize("name", ["cHq3", "g2ZZ", "g4ZZ", "cHq3_cHq3"])
def test_bit_learns_zh_ratios(name, train_test):
    """At parton level the learned R_i, R_ij correlate > 0.95 with the exact per-event ratios (held out)."""
    train, test = train_test
    feats = _FEATURES
    x = np.column_stack([train.features[k] for k in feats])
    xt = np.column_stack([test.features[k] for k in feats])
    cols = coefficient_columns(zh.COEFFICIENTS)
    k = cols.index(f"w_{name}")
    model = BoostedInformationTree(n_trees=60, learning_rate=0.3, max_depth=4, min_size=30)
    pred = model.fit(x, train.coeffs[:, 0], train.coeffs[:, k]).predict(xt)
    exact = test.coeffs[:, k] / test.coeffs[:, 0]
    w = test.coeffs[:, 0]
    cov = np.cov(pred, exact, aweights=w)
    assert cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]) > 0.95


@pytest.mark.slow
def test_bit_learns_all_zh_ratios():
    """All 27 R_i, R_ij at parton level (hist mode, 150k events, 300 trees of depth 6): correlation with the
    exact ratios > 0.95 on held-out events; the four L×R interference terms are identically zero and learned
    as ≈ 0. (60k events and 150 trees of depth 5 left R_cHq1,g4ZZ at 0.946.)"""
    train, test = zh.generate(150_000, seed=31), zh.generate(20_000, seed=32)
    x = np.column_stack([train.features[k] for k in _FEATURES])
    xt = np.column_stack([test.features[k] for k in _FEATURES])
    model = EFTInformationTrees(
        list(zh.COEFFICIENTS),
        mode="hist",
        n_bins=128,
        n_trees=300,
        learning_rate=0.2,
        max_depth=6,
        min_size=30,
    )
    pred = model.fit(x, train.coeffs).predict_coefficients(xt)
    exact = test.coeffs[:, 1:] / test.coeffs[:, :1]
    w = test.coeffs[:, 0]
    corr = {}
    for k, col in enumerate(coefficient_columns(zh.COEFFICIENTS)[1:]):
        if np.all(exact[:, k] == 0):
            assert np.max(np.abs(pred[:, k])) < 1e-12, col
            continue
        cov = np.cov(pred[:, k], exact[:, k], aweights=w)
        corr[col] = cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1])
    print("correlations:", {c: round(float(v), 4) for c, v in sorted(corr.items(), key=lambda kv: kv[1])})
    assert min(corr.values()) > 0.95, corr
