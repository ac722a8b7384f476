"""The torch likelihood of higgsflow.sannt against pyhf and against closed-form answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from higgsflow.errors import DataError
from higgsflow.sannt.likelihood import (
    Templates,
    code4_factor,
    code4p_shift,
    expected_yields,
    fisher_information,
    profiled_sigma,
    yield_jacobian,
)

pyhf = pytest.importorskip("pyhf")


def random_templates(seed: int, scale: float = 1.0) -> Templates:
    """Two signals (two POIs), two backgrounds, two shape nuisances, one normalisation-only nuisance and one
    nuisance with both a shape and a normalisation effect."""
    rng = np.random.default_rng(seed)
    b = 7
    nom = (
        np.stack(
            [rng.uniform(5, 20, b), rng.uniform(2, 10, b), rng.uniform(50, 200, b), rng.uniform(20, 80, b)]
        )
        * scale
    )
    up = np.repeat(nom[None], 4, 0)
    down = up.copy()
    up[0, 2] *= rng.uniform(0.8, 1.25, b)
    down[0, 2] *= rng.uniform(0.8, 1.25, b)
    up[1, 0] *= rng.uniform(0.9, 1.1, b)
    down[1, 0] *= rng.uniform(0.9, 1.1, b)
    up[3, 3] *= rng.uniform(0.95, 1.1, b)
    down[3, 3] *= rng.uniform(0.9, 1.05, b)
    ku, kd = np.ones((4, 4)), np.ones((4, 4))
    ku[2, 3], kd[2, 3] = 1.1, 0.85
    ku[2, 2], kd[2, 2] = 1.2, 0.8
    ku[3, 3], kd[3, 3] = 1.07, 0.9
    poi = np.array([[1, 0], [0, 1], [0, 0], [0, 0]])
    return Templates.from_arrays(
        nom,
        poi_matrix=poi,
        shape_up=up,
        shape_down=down,
        kappa_up=ku,
        kappa_down=kd,
        processes=["s1", "s2", "b1", "b2"],
        nuisances=["shape_a", "shape_b", "norm_c", "both_d"],
        pois=["mu1", "mu2"],
    )


def test_interpolation_codes_match_pyhf():
    from pyhf.interpolators import code4, code4p

    pyhf.set_backend("numpy")
    alphas = np.array([-2.3, -1.0, -0.7, -0.2, 0.0, 0.05, 0.5, 1.0, 1.7])
    nom, up, dn = np.array([10.0, 3.0]), np.array([12.5, 2.0]), np.array([9.0, 3.5])
    ref_shift = code4p([[[dn.tolist(), nom.tolist(), up.tolist()]]])(np.array([alphas]))[0, 0]
    ours = code4p_shift(torch.tensor(alphas)[:, None], torch.tensor(nom), torch.tensor(up), torch.tensor(dn))
    np.testing.assert_allclose(ours.numpy(), ref_shift, rtol=1e-12, atol=1e-12)
    ref_factor = code4([[[[0.8], [1.0], [1.3]]]])(np.array([alphas]))[0, 0, :, 0]
    ours = code4_factor(
        torch.tensor(alphas), torch.tensor(1.3, dtype=torch.float64), torch.tensor(0.8, dtype=torch.float64)
    )
    np.testing.assert_allclose(ours.numpy(), ref_factor, rtol=1e-12)


def test_interpolation_is_smooth_at_nominal():
    # no kink: left and right derivatives at η = 0 agree (they would not with pyhf's default codes 0/1)
    eps = 1e-6
    d64 = torch.float64

    def f(e):
        return float(
            code4_factor(torch.tensor(e, dtype=d64), torch.tensor(1.3, dtype=d64), torch.tensor(0.9))
        )

    right, left = (f(eps) - f(0.0)) / eps, (f(0.0) - f(-eps)) / eps
    assert right == pytest.approx(left, rel=1e-4)

    def g(e):
        return float(code4p_shift(torch.tensor(e, dtype=d64), torch.tensor(10.0), torch.tensor(13.0), 9.5))

    assert (g(eps) - g(0.0)) / eps == pytest.approx((g(0.0) - g(-eps)) / eps, rel=1e-4)


def test_expected_yields_match_pyhf_model():
    from higgsflow.sannt.pyhf_model import MODIFIER_SETTINGS, workspace_from_templates

    t = random_templates(3)
    pyhf.set_backend("numpy")
    model = pyhf.Workspace(workspace_from_templates(t)).model(modifier_settings=MODIFIER_SETTINGS)
    rng = np.random.default_rng(0)
    for _ in range(4):
        theta = torch.tensor([1.3, 0.7, *rng.uniform(-2.0, 2.0, 4)], dtype=torch.float64)
        values = dict(zip(t.parameters, theta.tolist(), strict=True))
        pars = [values[name] for name in model.config.par_order]
        np.testing.assert_allclose(
            model.expected_actualdata(pars), expected_yields(t, theta).numpy(), rtol=1e-10
        )


def test_analytic_jacobian_equals_autograd():
    t = random_templates(5)
    theta0 = torch.tensor([1.0, 1.0, 0, 0, 0, 0], dtype=torch.float64)
    auto = torch.autograd.functional.jacobian(lambda th: expected_yields(t, th), theta0)
    torch.testing.assert_close(yield_jacobian(t), auto, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", [1, 2])
def test_sigma_equals_pyhf_hesse(seed):
    """Acceptance: torch σ(μ) = pyhf σ(μ) to 1e-3 on the same histograms (codes 4 / 4p on both sides)."""
    from higgsflow.sannt.pyhf_model import pyhf_sigma

    t = random_templates(seed)
    ours = profiled_sigma(fisher_information(t), 2).numpy()
    ref = pyhf_sigma(t)  # pyhf's Minuit fit to Asimov data, Hesse matrix of pyhf's own −2 ln L
    assert ours[0] == pytest.approx(ref["mu1"], rel=1e-3)
    assert ours[1] == pytest.approx(ref["mu2"], rel=1e-3)
    full = torch.linalg.inv(fisher_information(t)).diagonal().sqrt().numpy()
    for i, name in enumerate(t.parameters):
        assert full[i] == pytest.approx(ref[name], rel=1e-3)
    assert torch.get_default_dtype() == torch.float32  # pyhf's 64-bit backend must not leak into torch


def test_two_bin_fisher_equals_analytic_inverse_hessian():
    """ν_i = μ s_i + b_i + η Δ_i (code 4p at η = 0), Gaussian constraint on η, Asimov data n_i = s_i + b_i.

    −ln L Hessian at the minimum: H = [[Σ s²/ν, Σ sΔ/ν], [Σ sΔ/ν, Σ Δ²/ν + 1]], σ(μ)² = H_ηη / det H.
    """
    s, b, d_up, d_dn = [4.0, 9.0], [25.0, 6.0], [3.0, -0.5], [-2.0, 1.0]
    nom = np.array([s, b])
    up = np.array([[s, [b[0] + d_up[0], b[1] + d_up[1]]]])
    dn = np.array([[s, [b[0] + d_dn[0], b[1] + d_dn[1]]]])
    t = Templates.from_arrays(nom, poi_matrix=[[1.0], [0.0]], shape_up=up, shape_down=dn)
    delta = [(u - d) / 2 for u, d in zip(d_up, d_dn, strict=True)]
    nu = [si + bi for si, bi in zip(s, b, strict=True)]
    h_mm = sum(si**2 / n for si, n in zip(s, nu, strict=True))
    h_me = sum(si * di / n for si, di, n in zip(s, delta, nu, strict=True))
    h_ee = sum(di**2 / n for di, n in zip(delta, nu, strict=True)) + 1
    det = h_mm * h_ee - h_me**2
    sigma_mu, sigma_eta = math.sqrt(h_ee / det), math.sqrt(h_mm / det)
    info = fisher_information(t)
    torch.testing.assert_close(info, torch.tensor([[h_mm, h_me], [h_me, h_ee]], dtype=torch.float64))
    assert float(profiled_sigma(info, 1)[0]) == pytest.approx(sigma_mu, rel=1e-12)
    assert float(profiled_sigma(info)[1]) == pytest.approx(sigma_eta, rel=1e-12)

    # the Fisher information is the Hessian of −ln L on Asimov data (autograd of the explicit likelihood)
    n_obs = torch.tensor(nu, dtype=torch.float64)

    def nll(theta):
        lam = expected_yields(t, theta)
        return (lam - n_obs * torch.log(lam)).sum() + 0.5 * theta[1] ** 2

    hess = torch.autograd.functional.hessian(nll, torch.tensor([1.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(hess, info, rtol=1e-10, atol=1e-10)


def test_empty_bins_are_stable():
    nom = torch.tensor([[5.0, 0.0, 2.0, 0.0], [40.0, 0.0, 0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    up = (nom * torch.tensor([1.0, 1, 1, 1.0]))[None].clone()
    up = up + torch.tensor([[[0.0, 0, 0, 0], [3.0, 0.0, 0.5, 0.0]]], dtype=torch.float64)
    t = Templates(
        nom,
        up,
        nom[None],
        torch.ones(1, 2, dtype=torch.float64),
        torch.ones(1, 2, dtype=torch.float64),
        torch.tensor([[1.0], [0.0]], dtype=torch.float64),
    )
    sigma = profiled_sigma(fisher_information(t), 1)
    sigma.sum().backward()
    assert torch.isfinite(sigma).all()
    assert torch.isfinite(nom.grad).all()
    # the empty bins carry no information: σ equals that of the model without them
    t2 = Templates.from_arrays(
        nom.detach()[:, [0, 2]],
        poi_matrix=[[1.0], [0.0]],
        shape_up=up.detach()[:, :, [0, 2]],
        shape_down=nom.detach()[None][:, :, [0, 2]],
    )
    assert float(sigma.detach()) == pytest.approx(float(profiled_sigma(fisher_information(t2), 1)), rel=1e-12)


def test_bad_templates_raise():
    with pytest.raises(DataError, match="kappa"):
        Templates.from_arrays([[1.0, 2.0]], poi_matrix=[[1.0]], kappa_up=[[-1.0]], kappa_down=[[0.9]])
    with pytest.raises(DataError, match="NaN"):
        Templates.from_arrays([[1.0, float("nan")]], poi_matrix=[[1.0]])
    with pytest.raises(DataError, match="singular"):
        profiled_sigma(fisher_information(Templates.from_arrays([[0.0, 0.0]], poi_matrix=[[1.0]])), 1)


def test_counting_experiment_without_nuisances():
    # one bin, no nuisance parameters: σ(μ) = sqrt(s + b) / s
    t = Templates.from_arrays([[10.0], [90.0]], poi_matrix=[[1.0], [0.0]])
    assert float(profiled_sigma(fisher_information(t), 1)[0]) == pytest.approx(
        math.sqrt(100.0) / 10.0, rel=1e-12
    )
    # at μ₀ = 2 the Asimov yield is 2s + b
    sigma2 = profiled_sigma(fisher_information(t, poi_values=torch.tensor([2.0], dtype=torch.float64)), 1)
    assert float(sigma2[0]) == pytest.approx(math.sqrt(110.0) / 10.0, rel=1e-12)
