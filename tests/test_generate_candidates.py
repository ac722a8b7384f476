"""The per-candidate b-tagging features (``part_btag*``, ``part_drminsv``, ``part_distminsv``): geometry on
analytic tracks, and their physics on generated AK4 and AK8 jets."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from higgsflow.generate.detector import helix_impact_parameters
from higgsflow.generate.tracks import CANDIDATE_FIELDS, candidate_columns, candidate_features


def _displaced_track(length_mm: float, angle: float = 0.05):
    """A 500 GeV track (nearly straight) produced at ``length_mm`` along the jet axis ĵ (η = 0.5, φ = 0.3),
    at ``angle`` from it; its true d0, dz from the helix code."""
    eta, phi = 0.5, 0.3
    j = np.array([np.cos(phi), np.sin(phi), np.sinh(eta)])
    j /= np.linalg.norm(j)
    perp = np.cross(j, [0.0, 0.0, 1.0])
    perp /= np.linalg.norm(perp)
    t = np.cos(angle) * j + np.sin(angle) * perp
    p = 500.0 * t
    v = length_mm * j
    d0, dz = helix_impact_parameters(*(np.array([x]) for x in (*v, *p)), np.array([1.0]))
    return j, t, p, v, d0, dz


@pytest.mark.parametrize("length", [2.0, -2.0])
def test_impact_parameter_sign_geometry_and_decay_length_on_an_analytic_track(length):
    j, t, p, v, d0, dz = _displaced_track(length)
    sv_pos = v.reshape(1, 3)
    f = candidate_features(
        p[:1] * 0 + p[0], np.array([p[1]]), np.array([p[2]]), np.array([1.0]), d0, np.array([0.01]), dz,
        np.array([0.02]), np.array([0]), 100.0 * j.reshape(1, 3), sv_jet=np.array([0]), sv_p3=50.0 * j.reshape(1, 3),
        sv_pos=sv_pos, radius=0.4,
    )  # fmt: skip
    ip3_true = np.linalg.norm(np.cross(v, t))  # distance of the straight line from the origin
    sign = np.sign(length)
    # decay downstream along the jet: positive signed IPs; upstream: negative
    assert np.sign(f["btagSip2dVal"][0]) == sign and np.sign(f["btagSip3dVal"][0]) == sign
    assert f["btagSip3dVal"][0] == pytest.approx(sign * ip3_true, rel=2e-3)
    assert abs(f["btagSip2dVal"][0]) == pytest.approx(abs(d0[0]), rel=1e-9)
    assert f["btagSip2dSig"][0] == pytest.approx(f["btagSip2dVal"][0] / 0.01)
    # the track crosses the jet axis at the decay point: distance ≈ 0, decay length ≈ |L|
    assert abs(f["btagJetDistVal"][0]) < 1e-3 and f["btagJetDistVal"][0] <= 0
    assert f["btagDecayLen"][0] == pytest.approx(abs(length), rel=2e-3)
    # the vertex lies on the track: distance to the nearest SV ≈ 0; ΔR to it = the track's angle to the axis
    assert f["distminsv"][0] < 1e-3
    # kinematics relative to the axis
    assert f["btagPParRatio"][0] == pytest.approx(np.cos(0.05), rel=1e-9)
    assert f["btagPtRatio"][0] == pytest.approx(np.sin(0.05), rel=1e-9)
    assert f["btagPPar"][0] == pytest.approx(500 * np.cos(0.05), rel=1e-9)
    assert f["btagPtRel"][0] == pytest.approx(500 * np.sin(0.05), rel=1e-9)
    assert f["btagEtaRel"][0] == pytest.approx(np.arctanh(np.cos(0.05)), rel=1e-9)


def test_neutral_candidates_have_no_track_features_and_no_sv_gives_the_defaults():
    f = candidate_features(
        np.array([10.0, 5.0]), np.array([1.0, 0.5]), np.array([2.0, 1.0]), np.array([0.0, 1.0]),
        np.array([0.0, 0.05]), np.array([0.0, 0.01]), np.array([0.0, 0.1]), np.array([0.0, 0.02]),
        np.array([0, 0]), np.array([[20.0, 2.0, 4.0]]), radius=0.4,
    )  # fmt: skip
    for k in (
        "btagSip2dVal",
        "btagSip2dSig",
        "btagSip3dVal",
        "btagSip3dSig",
        "btagJetDistVal",
        "btagDecayLen",
    ):
        assert f[k][0] == 0.0 and f[k][1] != 0.0, k
    np.testing.assert_array_equal(f["drminsv"], 0.4)  # the jet radius when the jet has no vertex
    np.testing.assert_array_equal(f["distminsv"], 0.0)
    assert f["btagEtaRel"][0] > 0  # kinematic features exist for neutrals too


pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")


@pytest.fixture(scope="module")
def ak4(tmp_path_factory):
    from higgsflow.data.io import read_table
    from higgsflow.generate import generate_jets

    path = generate_jets(
        ["b", "ud"],
        60,
        tmp_path_factory.mktemp("cand") / "ak4.parquet",
        seed=11,
        jet_type="ak4",
        chunk_size=60,
    )
    t = read_table(path)
    return {c: t[ak.to_numpy(t[f"label_{c}"]) == 1] for c in ("b", "ud")}


@pytest.fixture(scope="module")
def ak8(tmp_path_factory):
    from higgsflow.data.io import read_table
    from higgsflow.generate import generate_jets

    path = generate_jets(["Hbb"], 25, tmp_path_factory.mktemp("cand8") / "ak8.root", seed=12, chunk_size=25)
    return read_table(path)


def _charged(j, name):
    return ak.to_numpy(ak.flatten(j[name][j.part_charge != 0])).astype(np.float64)


def test_signed_ip_significance_is_positive_skewed_for_b_jets_not_ud(ak4):
    frac = {}
    for c in ("b", "ud"):
        for dim in ("2d", "3d"):
            s = _charged(ak4[c], f"part_btagSip{dim}Sig")
            frac[c, dim] = (np.mean(s > 3), np.mean(s < -3))
    for dim in ("2d", "3d"):
        pos_b, neg_b = frac["b", dim]
        pos_l = frac["ud", dim][0]
        assert pos_b > 2.5 * neg_b, (dim, frac)  # lifetime tail on the jet side
        assert pos_b > 2.5 * pos_l, (dim, frac)  # b jets have many more displaced tracks

    # per jet: the 2nd-highest signed 2D significance (a classic track-counting tagger) separates b from ud
    def second(j):
        s = ak.sort(j.part_btagSip2dSig[j.part_charge != 0], axis=1, ascending=False)
        return ak.to_numpy(ak.fill_none(ak.pad_none(s, 2, axis=1)[:, 1], -99.0))

    assert np.median(second(ak4["b"])) > 2.0 > np.median(second(ak4["ud"]))


@pytest.mark.parametrize("jets", ["ak4", "ak8"])
def test_kinematic_relations_hold_on_generated_jets(jets, request):
    t = request.getfixturevalue(jets)
    if isinstance(t, dict):
        t = ak.concatenate(list(t.values()))
    fl = {k: ak.to_numpy(ak.flatten(t[f"part_{k}"])).astype(np.float64) for k in CANDIDATE_FIELDS}
    p = ak.to_numpy(ak.flatten(np.sqrt(t.part_px**2 + t.part_py**2 + t.part_pz**2))).astype(np.float64)
    assert np.all(fl["btagEtaRel"] >= 0)
    assert np.all(fl["btagPPar"] <= p * (1 + 1e-5))
    assert np.all(fl["btagPParRatio"] <= 1 + 1e-6)
    np.testing.assert_allclose(fl["btagPtRatio"] ** 2 + fl["btagPParRatio"] ** 2, 1.0, atol=1e-4)
    np.testing.assert_allclose(fl["btagPtRel"], fl["btagPtRatio"] * p, rtol=1e-4, atol=1e-4)
    # η_rel is large for collinear candidates: it falls as ΔR to the axis grows
    dr = ak.to_numpy(ak.flatten(np.hypot(t.part_deta, t.part_dphi)))
    assert np.corrcoef(dr, fl["btagEtaRel"])[0, 1] < -0.5
    # neutral candidates carry no impact parameter; |IP3D| ≥ |IP2D|; the jet distance is ≤ 0
    neutral = ak.to_numpy(ak.flatten(t.part_charge)) == 0
    assert np.all(fl["btagSip3dVal"][neutral] == 0) and np.all(fl["btagSip2dVal"][neutral] == 0)
    assert np.all(np.abs(fl["btagSip3dVal"]) >= np.abs(fl["btagSip2dVal"]) - 1e-5)
    assert np.all(fl["btagJetDistVal"] <= 0)
    # the nearest SV: within the jet radius; the radius exactly, and distance 0, in jets without a vertex
    radius = 0.4 if jets == "ak4" else 0.8
    assert np.all(fl["drminsv"] <= radius + 1e-6)
    no_sv = ak.num(t.sv_pt) == 0
    assert ak.any(~no_sv) and (ak.any(no_sv) or jets == "ak8")  # boosted H → bb̄ jets nearly always have one
    assert ak.all(np.abs(t.part_drminsv[no_sv] - radius) < 1e-6)
    assert ak.all(t.part_distminsv[no_sv] == 0)
    assert ak.mean(t.part_drminsv[~no_sv]) < radius * 0.8


def test_tracks_of_b_jets_point_to_their_vertex(ak4):
    b = ak4["b"]
    with_sv = b[ak.num(b.sv_pt) > 0]
    d = _charged(with_sv, "part_distminsv")
    sig = _charged(with_sv, "part_btagSip3dSig")
    # displaced tracks (3D significance > 5) mostly pass within 0.1 mm of a vertex; prompt ones far from it
    assert np.median(d[sig > 5]) < 0.1 < np.median(d[np.abs(sig) < 1])


def test_recomputing_from_the_table_matches_the_stored_columns(ak4):
    t = ak4["ud"]
    again = candidate_columns(t, radius=0.4)
    for k in ("btagEtaRel", "btagPParRatio", "btagSip2dVal", "btagSip2dSig", "btagSip3dSig"):
        a = ak.to_numpy(ak.flatten(again[f"part_{k}"]))
        b = ak.to_numpy(ak.flatten(t[f"part_{k}"]))
        # the table's jet axis is (pt, η, φ) in float32: agreement to a part in 10⁴ of the spread
        assert np.abs(a - b).max() < 1e-3 * (np.abs(b).max() + 1), k
