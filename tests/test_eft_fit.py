"""EFT likelihood (iminuit) against pyhf at fixed θ, expected intervals, the BIT template and θ* search."""

from __future__ import annotations

import numpy as np
import pytest

from higgsflow.eft import zh
from higgsflow.eft.fit import EFTLikelihood
from higgsflow.eft.template import build_template, expected_widths, optimise_theta_star
from higgsflow.errors import ConfigError


def _toy_likelihood(data=None):
    # two coefficients, three bins; yields quadratic in θ
    sig = np.array(
        [
            [10.0, 2.0, 0.5, 1.0, 0.2, 0.6],
            [5.0, 3.0, -1.0, 4.0, 0.5, 1.5],
            [2.0, 4.0, 0.0, 8.0, 0.0, 0.3],
        ]
    )
    return EFTLikelihood(
        ["a", "b"],
        sig,
        backgrounds={"zbb": np.array([50.0, 10.0, 1.0])},
        norm_uncertainties={"signal": 0.1, "zbb": 0.2},
        data=data,
    )


@pytest.mark.parametrize("theta", [[0.0, 0.0], [0.3, -0.5], [-1.0, 2.0]])
def test_nll_equals_pyhf_at_fixed_theta(theta):
    import pyhf

    lik = _toy_likelihood(data=np.array([55.0, 17.0, 4.0]))
    model, data = lik.pyhf_model(np.array(theta))
    rng = np.random.default_rng(1)
    for _ in range(3):
        alpha = rng.normal(size=2)
        pars = np.array(model.config.suggested_init(), float)
        pars[model.config.par_slice("mu")] = 1.0
        pars[model.config.par_slice("alpha_signal")] = alpha[0]
        pars[model.config.par_slice("alpha_zbb")] = alpha[1]
        ref = -float(model.logpdf(pars, data)[0])
        assert lik.nll(np.array(theta), alpha) == pytest.approx(ref, rel=1e-8)
        np.testing.assert_allclose(model.expected_actualdata(pars), lik.expected(np.array(theta), alpha))
    # the profiled fit at fixed θ agrees with pyhf's fixed-POI fit
    _, _, a_hat = lik.fit(fixed={0: theta[0], 1: theta[1]})
    init = model.config.suggested_init()
    fixed = model.config.suggested_fixed()
    fixed[model.config.poi_index] = True
    best = pyhf.infer.mle.fixed_poi_fit(1.0, data, model, init_pars=init, par_bounds=None, fixed_params=fixed)
    assert a_hat[0] == pytest.approx(float(best[model.config.par_slice("alpha_signal")][0]), abs=2e-3)


def test_asimov_intervals():
    lik = _toy_likelihood()
    assert lik.q({0: 0.0, 1: 0.0}, profile=False) == pytest.approx(0.0, abs=1e-6)
    values = np.linspace(-3, 3, 61)
    iv, _ = lik.interval(0, values, cl=0.95)
    assert len(iv.pieces) == 1 and iv.pieces[0][0] < 0 < iv.pieces[0][1]
    # without nuisances the Asimov q matches the direct Poisson formula
    bare = EFTLikelihood(["a", "b"], lik.signal, backgrounds=lik.backgrounds)
    t = 0.7
    nu = bare.expected(np.array([t, 0.0]))
    n = bare.data
    direct = 2 * np.sum(nu - n + n * np.log(n / nu))
    assert bare.q({0: t}, profile=False) == pytest.approx(direct, rel=1e-8)
    # profiling the other coefficient and the nuisances can only widen the interval
    ivp, _ = lik.interval(0, values, cl=0.95, profile=True)
    assert ivp.width >= iv.width - 1e-6
    # the quick width estimate agrees with the scan without nuisances
    ivb, _ = bare.interval(0, np.linspace(-3, 3, 601), cl=0.95)
    w = expected_widths(bare.signal, sum(bare.backgrounds.values()), 2)
    assert w[0] == pytest.approx(ivb.width, rel=0.02)
    with pytest.raises(ConfigError, match="unknown sample"):
        EFTLikelihood(["a", "b"], lik.signal, norm_uncertainties={"ttbar": 0.1})


def test_template_and_theta_star_search():
    ev = zh.generate(6000, seed=5)
    exact = ev.coeffs[:, 1:] / ev.coeffs[:, :1]  # the best-possible template
    n = len(zh.COEFFICIENTS)
    tpl = build_template(exact, ev.coeffs, np.full(n, 0.1), n_bins=6, lumi_fb=138.0)
    assert tpl.signal[:, 0].sum() == pytest.approx(ev.coeffs[:, 0].sum() * 138e3)
    # SM quantile bins: equal SM yields
    np.testing.assert_allclose(tpl.signal[:, 0], tpl.signal[0, 0], rtol=0.2)
    ranges = [0.5, 0.2, 0.5, 0.5, 0.2, 0.2]
    _, val, hist = optimise_theta_star(exact, ev.coeffs, n, 6, 138.0, ranges, n_trials=12, seed=3)
    assert len(hist) == 12 and val == pytest.approx(max(hist))
    # the optimised template is at least as sensitive as the SM-only (θ* ≈ 0 ⇒ flat score) binning
    flat = build_template(exact, ev.coeffs, np.full(n, 1e-6), 6, 138.0)
    assert val >= -np.sum(np.log(expected_widths(flat.signal, flat.background, n))) - 1e-9
