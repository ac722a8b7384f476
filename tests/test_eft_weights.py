"""Quadratic EFT weights: basis points → coefficients, LHE named weights, Parquet round trip."""

from __future__ import annotations

import numpy as np
import pytest

from higgsflow.eft import weights as W
from higgsflow.eft.lhe import write_lhe
from higgsflow.errors import ConfigError, DataError


def _true_poly(n_events, n_params, rng):
    """Random per-event coefficients, and a direct evaluator in the convention's double-sum form."""
    w0 = rng.uniform(1, 2, n_events)
    wi = rng.normal(size=(n_events, n_params))
    a = rng.normal(size=(n_events, n_params, n_params))
    wij = a + a.transpose(0, 2, 1)  # symmetric

    def direct(theta):
        theta = np.asarray(theta)
        return w0 + wi @ theta + 0.5 * np.einsum("eij,i,j->e", wij, theta, theta)

    stored = [w0, *wi.T] + [wij[:, i, j] for i, j in W.pair_indices(n_params)]
    return direct, np.stack(stored, axis=1)


@pytest.mark.parametrize("n_params", [1, 2, 3, 6])
def test_basis_points_recover_known_polynomial(n_params):
    rng = np.random.default_rng(1)
    direct, truth = _true_poly(50, n_params, rng)
    theta = W.basis_points(n_params, scale=0.7)
    assert len(theta) == 1 + n_params * (n_params + 3) // 2
    weights = np.stack([direct(t) for t in theta], axis=1)
    coeffs = W.coefficients_from_points(weights, theta)
    np.testing.assert_allclose(coeffs, truth, rtol=1e-9, atol=1e-9)
    # prediction at a random off-basis point agrees with the direct double sum
    t = rng.normal(size=n_params)
    np.testing.assert_allclose(W.weight_at(coeffs, t), direct(t), rtol=1e-10)


def test_overdetermined_random_points():
    rng = np.random.default_rng(2)
    direct, truth = _true_poly(20, 3, rng)
    theta = rng.normal(size=(25, 3))
    weights = np.stack([direct(t) for t in theta], axis=1)
    np.testing.assert_allclose(W.coefficients_from_points(weights, theta), truth, rtol=1e-8, atol=1e-8)


def test_conditioning_and_count_checks():
    theta = W.basis_points(2)
    w = np.ones((3, len(theta)))
    with pytest.raises(ConfigError, match="cannot determine"):
        W.coefficients_from_points(w[:, :4], theta[:4])
    degenerate = np.array([[0, 0], [1, 0], [2, 0], [3, 0], [4, 0], [5, 0]], float)  # θ2 never varied
    with pytest.raises(ConfigError):
        W.coefficients_from_points(np.ones((3, 6)), degenerate)
    nearly = theta.copy()
    nearly[-1] = [1.0, 1e-9]  # pair point almost on an axis
    with pytest.raises(ConfigError, match="ill-conditioned"):
        W.coefficients_from_points(np.ones((3, 6)), nearly)
    bad = np.ones((3, 6))
    bad[1, 2] = np.nan
    with pytest.raises(DataError, match="row 1"):
        W.coefficients_from_points(bad, theta)


def test_columns_and_parquet_round_trip(tmp_path):
    names = ["cHq3", "cHu"]
    assert W.coefficient_columns(names) == ["w0", "w_cHq3", "w_cHu", "w_cHq3_cHq3", "w_cHq3_cHu", "w_cHu_cHu"]
    rng = np.random.default_rng(3)
    _, coeffs = _true_poly(10, 2, rng)
    feats = {"pt": rng.uniform(0, 100, 10)}
    p = W.write_sample(tmp_path / "s.parquet", feats, coeffs, names, metadata={"seed": "3"})
    with pytest.raises(DataError, match="overwrite"):
        W.write_sample(p, feats, coeffs, names)
    f2, c2, n2, meta = W.read_sample(p)
    np.testing.assert_array_equal(c2, coeffs)
    np.testing.assert_array_equal(f2["pt"], feats["pt"])
    assert n2 == names and meta["seed"] == "3"


def test_lhe_named_weights(tmp_path):
    rng = np.random.default_rng(4)
    n_ev, n_params = 7, 2
    direct, truth = _true_poly(n_ev, n_params, rng)
    theta = W.basis_points(n_params, scale=0.5)
    ids = [f"rw{m:02d}" for m in range(len(theta))]
    named = np.stack([direct(t) for t in theta], axis=1)
    mom = np.zeros((n_ev, 2, 4))
    mom[:, :, 0] = 100.0
    mom[:, 0, 3], mom[:, 1, 3] = 100.0, -100.0
    path = write_lhe(
        tmp_path / "e.lhe",
        pdg=[11, -11],
        status=[1, 1],
        mothers=np.zeros((2, 2), int),
        momenta=mom,
        masses=[0.0, 0.0],
        weight_ids=ids,
        named_weights=named,
    )
    coeffs = W.read_lhe_weights(path, ids, theta)
    np.testing.assert_allclose(coeffs, truth, rtol=1e-9, atol=1e-9)
    with pytest.raises(DataError, match="rw_missing"):
        W.read_lhe_weights(path, [*ids[:-1], "rw_missing"], theta)
