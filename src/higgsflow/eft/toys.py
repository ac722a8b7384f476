"""Toy models with analytic scores for validating BITs (as in the BIT paper, Chatterjee et al. 2022).

Each toy samples x from p(x|θ0) (so w0 = 1/n per event) and returns the exact derivative weights
w' = w0 · ∂_θ log p(x|θ)|θ0 and w'' = w0 · ∂²_θ p(x|θ)/p(x|θ0)|θ0. The Fisher information per unit weight is
E[t²] with t = ∂_θ log p.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from higgsflow.errors import ConfigError

__all__ = ["TOYS", "ToySample", "make_toy", "multi_exponential"]


@dataclass
class ToySample:
    """Features (n, F), SM weights (n,), first and second derivative weights (n,), analytic Fisher info."""

    x: np.ndarray
    w0: np.ndarray
    w1: np.ndarray
    w2: np.ndarray
    fisher: float


def _exponential(n, rng, theta0=1.0):
    x = rng.exponential(1.0 / theta0, n)
    t = 1.0 / theta0 - x
    t2 = x**2 - 2 * x / theta0  # p''/p of θe^{-θx}
    return x, t, t2, 1.0 / theta0**2


def _power_law(n, rng, theta0=2.0, x_min=1.0, x_max=20.0):
    # p(x|θ) = x^-θ / N(θ) on [x_min, x_max]
    a = 1.0 - theta0
    u = rng.uniform(size=n)
    x = (x_min**a + u * (x_max**a - x_min**a)) ** (1.0 / a)
    grid = np.geomspace(x_min, x_max, 20001)
    lg = np.log(grid)
    dens = grid**-theta0
    norm = np.trapezoid(dens, grid)
    m1 = np.trapezoid(lg * dens, grid) / norm
    m2 = np.trapezoid(lg**2 * dens, grid) / norm
    t = -(np.log(x) - m1)
    t2 = t**2 - (m2 - m1**2)  # p''/p = t² + ∂t/∂θ
    return x, t, t2, m2 - m1**2


def _gaussian_mean(n, rng, theta0=0.0, sigma=1.0):
    x = rng.normal(theta0, sigma, n)
    t = (x - theta0) / sigma**2
    return x, t, t**2 - 1.0 / sigma**2, 1.0 / sigma**2


def _gaussian_width(n, rng, theta0=1.0):
    x = rng.normal(0.0, theta0, n)
    t = x**2 / theta0**3 - 1.0 / theta0
    dt = -3 * x**2 / theta0**4 + 1.0 / theta0**2
    return x, t, t**2 + dt, 2.0 / theta0**2


TOYS = {
    "exponential": _exponential,
    "power_law": _power_law,
    "gaussian_mean": _gaussian_mean,
    "gaussian_width": _gaussian_width,
}


def make_toy(name: str, n_events: int, seed: int) -> ToySample:
    """Sample a 1D toy by name (see :data:`TOYS`)."""
    if name not in TOYS:
        raise ConfigError(f"unknown toy {name!r}", field="name", expected=", ".join(TOYS))
    rng = np.random.default_rng(seed)
    x, t, t2, fisher = TOYS[name](n_events, rng)
    w0 = np.full(n_events, 1.0 / n_events)
    return ToySample(x[:, None], w0, w0 * t, w0 * t2, fisher)


def multi_exponential(n_events: int, n_features: int, seed: int) -> ToySample:
    """Independent exponentials with rates λ_k(θ) = 1 + a_k θ, a_k = 2^-k (later features ≈ noise).

    Score t = Σ_k a_k (1 − x_k) at θ = 0; Fisher information Σ_k a_k².
    """
    rng = np.random.default_rng(seed)
    a = 0.5 ** np.arange(n_features)
    x = rng.exponential(1.0, (n_events, n_features))
    t = (a * (1.0 - x)).sum(axis=1)
    w0 = np.full(n_events, 1.0 / n_events)
    return ToySample(x, w0, w0 * t, w0 * (t**2 - (a**2).sum()), float((a**2).sum()))
