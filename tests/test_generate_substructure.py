"""higgsflow.physics.kinematics and .substructure against analytic answers."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from higgsflow.physics.kinematics import delta_phi, delta_r, eta_phi, mass, wrap_phi

pytest.importorskip("fastjet")

from higgsflow.physics.substructure import nsubjettiness, softdrop_mass


def _p(pt, eta, phi):
    return {"px": pt * np.cos(phi), "py": pt * np.sin(phi), "pz": pt * np.sinh(eta), "E": pt * np.cosh(eta)}


def test_angles_wrap_into_minus_pi_pi():
    assert wrap_phi(np.pi) == pytest.approx(np.pi)
    assert wrap_phi(-np.pi) == pytest.approx(np.pi)
    assert wrap_phi(3 * np.pi / 2) == pytest.approx(-np.pi / 2)
    assert delta_phi(3.0, -3.0) == pytest.approx(6.0 - 2 * np.pi)
    assert delta_r(0.0, 3.1, 0.3, -3.1) == pytest.approx(np.hypot(0.3, 2 * np.pi - 6.2))
    eta, phi = eta_phi(np.array([1.0]), np.array([1.0]), np.array([np.sqrt(2) * np.sinh(0.7)]))
    assert eta[0] == pytest.approx(0.7) and phi[0] == pytest.approx(np.pi / 4)
    assert mass(np.array([1.0]), np.array([1.0]), np.array([0.0]), np.array([1e-9]))[0] == 0.0


def test_softdrop_keeps_symmetric_prongs_and_grooms_soft_ones():
    # two 300 GeV massless prongs ΔR = 0.4 apart: m² = 2 pT1 pT2 (cosh Δη − cos Δφ)
    sym = [_p(300.0, 0.0, 0.0), _p(300.0, 0.0, 0.4)]
    # a hard core plus a 10 GeV particle at ΔR = 0.5 (z ≈ 0.03 < 0.1): groomed away
    soft = [_p(500.0, 0.0, 0.0), _p(10.0, 0.5, 0.0)]
    jets = ak.Array([[{k: float(v) for k, v in c.items()} for c in j] for j in (sym, soft)])
    m = softdrop_mass(jets)
    assert m[0] == pytest.approx(np.sqrt(2 * 300 * 300 * (1 - np.cos(0.4))), rel=1e-6)
    assert m[1] == pytest.approx(0.0, abs=1e-3)
    # without grooming (z_cut = 0) the soft particle stays
    assert softdrop_mass(jets, z_cut=0.0)[1] > 10.0


def test_nsubjettiness_counts_prongs():
    rng = np.random.default_rng(1)

    def prong(pt, eta, phi, n=10):
        return [_p(pt / n, eta + rng.normal(0, 0.005), phi + rng.normal(0, 0.005)) for _ in range(n)]

    def to_jet(parts):
        return [{k: float(v) for k, v in p.items()} for p in parts]

    one = prong(600, 0, 0)
    two = prong(300, 0, 0) + prong(300, 0, 0.5)
    three = prong(200, 0, 0) + prong(200, 0.4, 0.2) + prong(200, -0.3, 0.35)
    tau = nsubjettiness(ak.Array([to_jet(one), to_jet(two), to_jet(three)]))
    t21 = tau[:, 1] / tau[:, 0]
    t32 = tau[:, 2] / tau[:, 1]
    assert t21[1] < 0.1 < t21[0]
    assert t32[2] < 0.1 < t32[1]
    # τ1 of two equal prongs ΔR apart around their axis: each prong ΔR/2 from it, so τ1 ≈ (ΔR/2)/R0
    assert tau[1, 0] == pytest.approx(0.25 / 0.8, rel=0.05)
    # a single particle has all τ_N = 0
    assert np.all(nsubjettiness(ak.Array([to_jet([_p(100.0, 0.0, 0.0)])])) == 0)
