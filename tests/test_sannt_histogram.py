"""Exact-forward / surrogate-backward histograms of higgsflow.sannt."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from higgsflow.errors import DataError
from higgsflow.sannt.histogram import (
    category_histogram,
    smooth_category_histogram,
    smooth_histogram,
    soft_histogram,
)

EDGES = torch.tensor([0.0, 0.2, 0.45, 0.5, 0.8, 1.0], dtype=torch.float64)


def _events(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    return torch.tensor(rng.uniform(-0.1, 1.1, n)), torch.tensor(rng.uniform(0.5, 2.0, n))


def test_forward_is_exact_with_open_outer_bins():
    s, w = _events(500, 0)
    h = soft_histogram(s, w, EDGES, 0.05)
    clipped = np.clip(s.numpy(), 0.0, 1.0)  # open outer bins: under/overflow go to the first/last bin
    ref, _ = np.histogram(clipped, bins=EDGES.numpy(), weights=w.numpy())
    np.testing.assert_allclose(h.detach().numpy(), ref, rtol=1e-13)  # up to the order of summation
    counts = soft_histogram(s, torch.ones_like(w), EDGES, 0.05).detach().numpy()
    np.testing.assert_array_equal(
        counts, np.histogram(clipped, bins=EDGES.numpy())[0]
    )  # exact counts, no smearing
    assert float(h.sum()) == pytest.approx(float(w.sum()), rel=1e-12)
    # the smoothed histogram conserves the total yield as well
    assert float(smooth_histogram(s, w, EDGES, 0.05).sum()) == pytest.approx(float(w.sum()), rel=1e-12)


@pytest.mark.parametrize("bandwidth", [0.02, 0.1])
def test_surrogate_gradient_equals_finite_difference_of_smoothed_histogram(bandwidth):
    s, w = _events(40, 1)
    g = torch.tensor([0.3, -1.2, 2.0, 0.7, -0.4], dtype=torch.float64)  # an arbitrary upstream gradient
    s_req = s.clone().requires_grad_(True)
    (g * soft_histogram(s_req, w, EDGES, bandwidth)).sum().backward()
    eps = 1e-6
    fd = torch.empty_like(s)
    for i in range(len(s)):
        d = torch.zeros_like(s)
        d[i] = eps
        plus = (g * smooth_histogram(s + d, w, EDGES, bandwidth)).sum()
        minus = (g * smooth_histogram(s - d, w, EDGES, bandwidth)).sum()
        fd[i] = (plus - minus) / (2 * eps)
    torch.testing.assert_close(s_req.grad, fd, rtol=1e-6, atol=1e-8)
    assert float(s_req.grad.abs().max()) > 0  # the surrogate does move events


def test_weight_gradient_is_exact_indicator():
    s, w = _events(30, 2)
    w_req = w.clone().requires_grad_(True)
    g = torch.arange(5, dtype=torch.float64)
    (g * soft_histogram(s, w_req, EDGES, 0.05)).sum().backward()
    idx = np.clip(np.searchsorted(EDGES.numpy()[1:-1], s.numpy(), side="right"), 0, 4)
    np.testing.assert_array_equal(w_req.grad.numpy(), g.numpy()[idx])


def test_category_histogram_forward_and_surrogate_gradient():
    rng = np.random.default_rng(3)
    logits = torch.tensor(rng.normal(size=(60, 3)))
    w = torch.tensor(rng.uniform(0.5, 1.5, 60))
    edges = torch.linspace(1 / 3, 1, 5, dtype=torch.float64)
    scores = torch.softmax(logits, 1)
    h = category_histogram(scores, w, edges, 0.05)
    cat = scores.argmax(1).numpy()
    top = scores.max(1).values.numpy()
    for c in range(3):
        ref, _ = np.histogram(top[cat == c], bins=edges.numpy(), weights=w.numpy()[cat == c])
        np.testing.assert_allclose(h.detach().numpy()[4 * c : 4 * c + 4], ref, rtol=1e-12)
    # gradient wrt the logits through the softmax = finite differences of the smoothed category histogram
    g = torch.tensor(rng.normal(size=12))
    lg = logits.clone().requires_grad_(True)
    (g * category_histogram(torch.softmax(lg, 1), w, edges, 0.05)).sum().backward()
    eps = 1e-6
    for i, j in [(0, 0), (5, 1), (17, 2), (33, 0)]:
        d = torch.zeros_like(logits)
        d[i, j] = eps
        f = lambda x: (g * smooth_category_histogram(torch.softmax(x, 1), w, edges, 0.05)).sum()  # noqa: E731
        assert float(lg.grad[i, j]) == pytest.approx(
            float((f(logits + d) - f(logits - d)) / (2 * eps)), rel=1e-5
        )


def test_bad_input_raises():
    s, w = _events(10, 4)
    with pytest.raises(DataError, match="weights"):
        soft_histogram(s, w[:5], EDGES, 0.1)
    with pytest.raises(DataError, match="increasing"):
        soft_histogram(s, w, EDGES.flip(0), 0.1)
    with pytest.raises(DataError, match="bandwidth"):
        soft_histogram(s, w, EDGES, 0.0)
