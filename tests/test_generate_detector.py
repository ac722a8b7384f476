"""Closure tests of the parametric CMS detector against the numbers of the Delphes card (no Pythia needed)."""

from __future__ import annotations

import numpy as np
import pytest

from higgsflow.generate import cms_card as card
from higgsflow.generate.detector import helix_impact_parameters, simulate


def _particles(pid, pt, eta, phi, vx=None, vy=None, vz=None, charge=None):
    n = pt.size
    mass = np.where(np.abs(pid) == 211, 0.1396, 0.0)
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    zero = np.zeros(n)
    return {
        "event": np.arange(n),  # one particle per event: no tower sharing
        "pid": pid,
        "charge": np.sign(pid).astype(float) if charge is None else charge,
        "px": px,
        "py": py,
        "pz": pz,
        "e": np.sqrt(px**2 + py**2 + pz**2 + mass**2),
        "vx": zero if vx is None else vx,
        "vy": zero if vy is None else vy,
        "vz": zero if vz is None else vz,
    }


def _pions(n, pt_lo, pt_hi, eta_lo, eta_hi, seed, pid=211):
    rng = np.random.default_rng(seed)
    pt = rng.uniform(pt_lo, pt_hi, n)
    eta = rng.uniform(eta_lo, eta_hi, n) * rng.choice([-1, 1], n)
    phi = rng.uniform(-np.pi, np.pi, n)
    charge = -np.sign(np.full(n, pid)).astype(float) if abs(pid) in (11, 13) else np.ones(n)
    return _particles(np.full(n, pid), pt, eta, phi, charge=charge), pt, eta


@pytest.mark.parametrize(("pt_lo", "pt_hi"), [(2.0, 3.0), (20.0, 30.0), (200.0, 300.0)])
@pytest.mark.parametrize(("eta_lo", "eta_hi"), [(0.0, 0.5), (0.5, 1.5), (1.5, 2.5)])
def test_track_pt_pulls_have_unit_width_in_every_card_bin(pt_lo, pt_hi, eta_lo, eta_hi):
    parts, _, _ = _pions(20_000, pt_lo, pt_hi, eta_lo, eta_hi, seed=1)
    flow = simulate(parts, np.random.default_rng(2))
    tracks = flow.gen_index >= 0
    gi = flow.gen_index[tracks]
    pt_true = np.hypot(parts["px"][gi], parts["py"][gi])
    eta_true = np.arcsinh(parts["pz"][gi] / pt_true)
    pt_meas = np.hypot(flow.px[tracks], flow.py[tracks])
    sigma = card.momentum_resolution(np.full(gi.size, 211), pt_true, eta_true) * pt_true
    pull = (pt_meas - pt_true) / sigma
    assert abs(np.mean(pull)) < 0.05
    assert np.std(pull) == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize(("pid", "pt_lo", "pt_hi", "eta_lo", "eta_hi", "expected"), [
    (211, 0.2, 0.9, 0.0, 1.4, 0.70), (211, 2.0, 50.0, 0.0, 1.4, 0.95),
    (211, 0.2, 0.9, 1.6, 2.4, 0.60), (211, 2.0, 50.0, 1.6, 2.4, 0.85), (211, 2.0, 50.0, 2.6, 3.5, 0.0),
    (11, 0.2, 0.9, 0.0, 1.4, 0.73), (11, 2.0, 90.0, 0.0, 1.4, 0.95), (11, 150.0, 300.0, 1.6, 2.4, 0.90),
    (13, 0.2, 0.9, 1.6, 2.4, 0.70), (13, 2.0, 900.0, 0.0, 1.4, 0.99),
])  # fmt: skip
def test_tracking_efficiency_matches_the_card(pid, pt_lo, pt_hi, eta_lo, eta_hi, expected):
    n = 20_000
    parts, _, _ = _pions(n, pt_lo, pt_hi, eta_lo, eta_hi, seed=3, pid=pid)
    flow = simulate(parts, np.random.default_rng(4))
    eff = np.count_nonzero(flow.gen_index >= 0) / n
    err = np.sqrt(max(expected * (1 - expected), 1e-4) / n)
    assert abs(eff - expected) < 4 * err


def test_prompt_tracks_give_unit_width_d0_significance():
    parts, _, _ = _pions(40_000, 0.5, 100.0, 0.0, 2.4, seed=5)
    flow = simulate(parts, np.random.default_rng(6))
    tracks = flow.gen_index >= 0
    sig = flow.d0[tracks] / flow.d0err[tracks]
    core = np.subtract(*np.percentile(sig, [84.135, 15.865])) / 2  # Gaussian-equivalent core width
    assert core == pytest.approx(1.0, abs=0.1)
    sig_z = flow.dz[tracks] / flow.dzerr[tracks]
    assert np.subtract(*np.percentile(sig_z, [84.135, 15.865])) / 2 == pytest.approx(1.0, abs=0.1)
    # errors are the card's table values, in mm
    gi = flow.gen_index[tracks]
    assert np.all((flow.d0err[tracks] >= 0.0088) & (flow.d0err[tracks] <= 0.6970))
    assert gi.size > 30_000


def test_helix_impact_parameters_geometry():
    # a straight-line limit: high-pT track along +x from (0, 0.1 mm): d0 = (x py − y px)/pT = −0.1 mm
    d0, dz = helix_impact_parameters(*map(np.atleast_1d, (0.0, 0.1, 2.0, 1000.0, 0.0, 0.0, 1.0)))
    assert d0[0] == pytest.approx(-0.1, abs=1e-6)
    assert dz[0] == pytest.approx(2.0)
    # prompt tracks have zero impact parameters whatever their curvature
    d0, dz = helix_impact_parameters(*map(np.atleast_1d, (0.0, 0.0, 0.0, 0.7, -0.3, 0.4, -1.0)))
    assert abs(d0[0]) < 1e-9 and abs(dz[0]) < 1e-9
    # a displaced start 5 mm down the track: extrapolated back, dz = z − 5 mm · pz/pT
    d0, dz = helix_impact_parameters(*map(np.atleast_1d, (5.0, 0.0, 1.0, 1000.0, 0.0, 500.0, 1.0)))
    assert abs(d0[0]) < 5e-5  # the sagitta 5²/(2R) = 1.4e-5 mm of a 1 TeV track
    assert dz[0] == pytest.approx(1.0 - 2.5, abs=1e-4)
    # curved track (R ≈ 877 mm at 1 GeV): |d0| equals the distance of the circle to the origin
    x, y, px, py, q = 0.0, 1.0, 1.0, 0.0, 1.0
    d0, _ = helix_impact_parameters(*map(np.atleast_1d, (x, y, 0.0, px, py, 0.0, q)))
    radius = 1.0 / (0.299792458e-3 * 3.8)
    centre = np.array([x + q * radius * py, y - q * radius * px])
    assert abs(d0[0]) == pytest.approx(abs(np.hypot(*centre) - radius), rel=1e-6)


def test_neutral_hadron_energy_is_smeared_with_the_hcal_resolution():
    n = 5000
    parts = _particles(np.full(n, 2112), np.full(n, 50.0), np.zeros(n), np.zeros(n), charge=np.zeros(n))
    parts["e"] = np.sqrt(50.0**2 + 0.94**2) * np.ones(n)
    flow = simulate(parts, np.random.default_rng(7))
    assert np.all(flow.kind == 4)
    e_true = parts["e"][0]
    sigma = card.hcal_resolution(np.array([e_true]), np.array([0.0]))[0]
    assert np.mean(flow.energy) == pytest.approx(e_true, rel=0.01)
    assert np.std(flow.energy) == pytest.approx(sigma, rel=0.05)


def test_photons_in_one_ecal_tower_merge_and_tracked_hadrons_leave_no_neutral():
    # two 10 GeV photons 0.005 apart in one 0.0174 x 1° tower → one photon of ≈ 20 GeV
    parts = _particles(np.array([22, 22]), np.array([10.0, 10.0]), np.array([0.301, 0.306]),
                       np.array([0.0010, 0.0030]), charge=np.zeros(2))  # fmt: skip
    parts["event"] = np.zeros(2, dtype=int)
    flow = simulate(parts, np.random.default_rng(8))
    assert np.count_nonzero(flow.kind == 3) == 1
    assert flow.energy[flow.kind == 3][0] == pytest.approx(20.0 * np.cosh(0.3035), rel=0.1)
    # isolated 20 GeV charged pions with a track: their HCAL energy is explained by the track almost always
    pions, _, _ = _pions(2000, 19.9, 20.1, 0.0, 1.0, seed=9)
    flow = simulate(pions, np.random.default_rng(10))
    n_tracked = np.count_nonzero(flow.gen_index >= 0)
    n_neutral = np.count_nonzero(flow.kind == 4)
    assert n_neutral < 0.35 * n_tracked  # only upward fluctuations beyond 1σ of the tower


def test_neutrinos_and_particles_born_outside_the_tracker_are_invisible():
    parts = _particles(np.array([12, 211, 211]), np.array([30.0, 30.0, 30.0]), np.zeros(3), np.zeros(3),
                       vx=np.array([0.0, 1500.0, 0.0]), charge=np.array([0.0, 1.0, 1.0]))  # fmt: skip
    flow = simulate(parts, np.random.default_rng(11))
    assert set(flow.event.tolist()) <= {2}
