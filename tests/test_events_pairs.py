"""Pair features of every object pair of an event (jets, leptons, MET) equal their ParT formulas."""

from __future__ import annotations

import itertools
import math

import awkward as ak
import numpy as np
import pytest

from higgsflow.errors import SchemaError
from higgsflow.events import event_pair_features, event_tokens


def _formulas(a, b):
    """(ln kT, ln z, ln Δ, ln m²) of two objects given as (pt, y-or-eta, phi, mass, is_met) by hand."""

    def p4(o):
        pt, eta, phi, m, is_met = o
        if is_met:  # massless with eta = 0
            return np.array([pt * math.cos(phi), pt * math.sin(phi), 0.0, pt])
        px, py, pz = pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)
        return np.array([px, py, pz, math.sqrt(px * px + py * py + pz * pz + m * m)])

    def rapidity(v):
        return 0.5 * math.log((v[3] + v[2]) / (v[3] - v[2]))

    va, vb = p4(a), p4(b)
    dphi = (a[2] - b[2] + math.pi) % (2 * math.pi) - math.pi
    delta = math.hypot(rapidity(va) - rapidity(vb), dphi)
    ptmin = min(a[0], b[0])
    s = va + vb
    m2 = s[3] ** 2 - s[0] ** 2 - s[1] ** 2 - s[2] ** 2
    return [math.log(ptmin * delta), math.log(ptmin / (a[0] + b[0])), math.log(delta), math.log(m2)]


def test_pair_features_equal_their_formulas_including_met():
    jets = [(120.0, 0.4, 0.3, 15.0), (45.0, -1.7, 2.9, 8.0), (30.0, 2.2, -2.8, 4.0)]  # wraps in φ with jet 1
    leps = [(55.0, -0.6, -1.2, 0.105)]
    met = (80.0, 1.9)
    events = ak.Array(
        [
            {
                "jet_pt": [j[0] for j in jets],
                "jet_eta": [j[1] for j in jets],
                "jet_phi": [j[2] for j in jets],
                "jet_mass": [j[3] for j in jets],
                "lep_pt": [lep[0] for lep in leps],
                "lep_eta": [lep[1] for lep in leps],
                "lep_phi": [lep[2] for lep in leps],
                "lep_mass": [lep[3] for lep in leps],
                "met_pt": met[0],
                "met_phi": met[1],
            }
        ]
    )
    feats, mask = event_pair_features(events, max_jets=4, max_leptons=2)
    assert feats.shape == (1, 7, 7, 4)
    objects = {0: (*jets[0], False), 1: (*jets[1], False), 2: (*jets[2], False), 4: (*leps[0], False)}
    objects[6] = (met[0], 0.0, met[1], 0.0, True)
    real = sorted(objects)
    expected_mask = np.zeros((7, 7), bool)
    for i, j in itertools.permutations(real, 2):
        expected_mask[i, j] = True
        np.testing.assert_allclose(feats[0, i, j], _formulas(objects[i], objects[j]), rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(mask[0], expected_mask)
    # the MET token: massless, η = 0
    p4, tok_mask = event_tokens(events, max_jets=4, max_leptons=2)
    np.testing.assert_allclose(p4[0, 6], [80 * math.cos(1.9), 80 * math.sin(1.9), 0.0, 80.0])
    assert tok_mask[0].tolist() == [True, True, True, False, True, False, True]
    # a massless pair at Δ: m² = 2 pT_a pT_b (cosh Δy − cos Δφ); MET with itself is masked
    assert not mask[0, 6, 6]


def test_pair_features_are_symmetric():
    rng = np.random.default_rng(0)
    n = 5
    events = ak.Array(
        {
            "jet_pt": ak.Array([list(rng.uniform(25, 200, k)) for k in rng.integers(2, 8, n)]),
            "lep_pt": ak.Array([list(rng.uniform(15, 100, k)) for k in rng.integers(0, 3, n)]),
            "met_pt": rng.uniform(5, 100, n),
            "met_phi": rng.uniform(-3, 3, n),
        }
    )
    for p in ("jet", "lep"):
        events = ak.with_field(events, ak.ones_like(events[f"{p}_pt"]) * 0.5, f"{p}_eta")
        events = ak.with_field(events, ak.ones_like(events[f"{p}_pt"]) * rng.uniform(-3, 3), f"{p}_phi")
        events = ak.with_field(events, ak.ones_like(events[f"{p}_pt"]) * 5.0, f"{p}_mass")
    feats, mask = event_pair_features(events)
    np.testing.assert_allclose(feats, feats.transpose(0, 2, 1, 3), rtol=1e-12)
    assert mask.sum() > 0
    with pytest.raises(SchemaError, match="jet_eta"):
        event_tokens(events[["jet_pt"]])
