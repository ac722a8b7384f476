"""The neural alternative: weighted cross-entropy with a quadratic ratio head recovers the ratios."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from higgsflow.eft.nn import NeuralRatioEstimator


def test_cross_entropy_minimiser_is_the_likelihood_ratio():
    import torch

    torch.set_num_threads(1)  # tiny network: threads only add overhead on a shared 2-core machine
    rng = np.random.default_rng(0)
    n = 4000
    x = rng.normal(size=(n, 1))
    w0 = np.full(n, 1.0 / n)
    # Gaussian mean toy: p(x|θ)/p(x|0) = exp(θx − θ²/2): R_1 = x, R_11 = x² − 1
    coeffs = np.column_stack([w0, w0 * x[:, 0], w0 * (x[:, 0] ** 2 - 1)])
    model = NeuralRatioEstimator(["mu"], [1.0], hidden=16, epochs=20, batch_size=256, random_state=1)
    xt = rng.normal(size=(2000, 1))
    pred = model.fit(x, coeffs).predict_coefficients(xt)
    assert np.corrcoef(pred[:, 0], xt[:, 0])[0, 1] > 0.93
    assert np.corrcoef(pred[:, 1], xt[:, 0] ** 2 - 1)[0, 1] > 0.8
    # g* = 1/(1 + r): r̂ at θ = 0.3 is close to the true ratio exp(0.3x − 0.045) in the bulk
    bulk = np.abs(xt[:, 0]) < 1.5
    r_hat = model.predict_ratio(xt[bulk], [0.3])
    rel = np.abs(r_hat / np.exp(0.3 * xt[bulk, 0] - 0.045) - 1)
    assert np.median(rel) < 0.08
