"""A neural alternative to the BIT: the talk's weighted cross-entropy with a quadratic ratio head (torch).

The network maps x to the ratio coefficients (R̂_i, R̂_ij) of the convention in ``docs/conventions.md``;
for a coefficient point θ it forms r̂(x|θ) = 1 + Σθ_i R̂_i + ½Σθ_iθ_j R̂_ij and g(x|θ) = 1/(1 + r̂). The loss

    L[g] = −Σ_events [ w(θ) log(1 − g(x|θ)) + w0 log g(x|θ) ],

averaged over θ drawn per event from N(0, diag(theta_scale²)), is minimised by g* = 1/(1 + r(x|θ, 0)): the
exact likelihood ratio of the weights (the talk's slide), so R̂ converge to E[w_i|x]/E[w0|x] etc.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from higgsflow.errors import ConfigError, DataError

__all__ = ["NeuralRatioEstimator"]

log = logging.getLogger(__name__)


class NeuralRatioEstimator:
    """MLP regressing the quadratic likelihood-ratio coefficients by weighted cross-entropy.

    Parameters
    ----------
    names:
        Coefficient names (N); the head has N(N+3)/2 outputs.
    theta_scale:
        Width of the θ sampling per coefficient (same length as names), in the coefficients' units.
    hidden, n_layers, epochs, batch_size, learning_rate:
        Network and training settings.
    random_state:
        Seed of initialisation, shuffling and θ sampling.
    """

    def __init__(
        self,
        names: Sequence[str],
        theta_scale: Sequence[float],
        hidden: int = 64,
        n_layers: int = 2,
        epochs: int = 30,
        batch_size: int = 1024,
        learning_rate: float = 3e-3,
        random_state: int = 0,
    ) -> None:
        self.names = list(names)
        self.theta_scale = np.asarray(theta_scale, float)
        if self.theta_scale.shape != (len(self.names),) or np.any(self.theta_scale <= 0):
            raise ConfigError("one positive theta_scale per coefficient", field="theta_scale")
        self.hidden, self.n_layers, self.epochs = hidden, n_layers, epochs
        self.batch_size, self.learning_rate, self.random_state = batch_size, learning_rate, random_state

    def _design(self, theta):
        import torch

        n = len(self.names)
        cols = [theta[:, i] for i in range(n)]
        for i in range(n):
            for j in range(i, n):
                cols.append(0.5 * theta[:, i] ** 2 if i == j else theta[:, i] * theta[:, j])
        return torch.stack(cols, dim=1)

    def fit(self, X: np.ndarray, coeffs: np.ndarray) -> NeuralRatioEstimator:
        """Train on features X (n, F) and weight coefficients (n, P) as in ``coefficient_columns``."""
        import torch

        from higgsflow.eft.weights import n_coefficients

        x = np.asarray(X, np.float32)
        c = np.asarray(coeffs, np.float64)
        if c.shape[1] != n_coefficients(len(self.names)) or len(c) != len(x):
            raise DataError("coefficients do not match names or X", field="coeffs")
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(c))):
            raise DataError("non-finite input", field="X")
        torch.manual_seed(self.random_state)
        gen = torch.Generator().manual_seed(self.random_state)
        self.mean_, self.std_ = x.mean(0), x.std(0) + 1e-12
        xt = torch.from_numpy((x - self.mean_) / self.std_)
        # per-event weights normalised to unit mean SM weight, in float32
        scale = c[:, 0].mean()
        ct = torch.from_numpy((c / scale).astype(np.float32))
        k = c.shape[1] - 1
        layers, width = [], x.shape[1]
        for _ in range(self.n_layers):
            layers += [torch.nn.Linear(width, self.hidden), torch.nn.SiLU()]
            width = self.hidden
        layers.append(torch.nn.Linear(width, k))
        self.net_ = torch.nn.Sequential(*layers)
        opt = torch.optim.Adam(self.net_.parameters(), lr=self.learning_rate)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=self.epochs)
        ts = torch.from_numpy(self.theta_scale.astype(np.float32))
        n = len(xt)
        for _ in range(self.epochs):
            perm = torch.randperm(n, generator=gen)
            for start in range(0, n, self.batch_size):
                idx = perm[start : start + self.batch_size]
                theta = torch.randn(len(idx), len(self.names), generator=gen) * ts
                d = self._design(theta)
                w0 = ct[idx, 0]
                w_theta = w0 + (ct[idx, 1:] * d).sum(1)
                r = 1 + (self.net_(xt[idx]) * d).sum(1)
                r = torch.clamp(r, min=1e-4)
                # log g = −log(1+r), log(1−g) = log r − log(1+r)
                loss = -(w_theta * (torch.log(r) - torch.log1p(r)) - w0 * torch.log1p(r)).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            sched.step()
        return self

    def predict_coefficients(self, X: np.ndarray) -> np.ndarray:
        """Learned (R̂_i, R̂_ij), shape (n, N(N+3)/2)."""
        import torch

        if not hasattr(self, "net_"):
            raise ConfigError("NeuralRatioEstimator is not fitted", expected="call fit() first")
        x = (np.asarray(X, np.float32) - self.mean_) / self.std_
        with torch.no_grad():
            return self.net_(torch.from_numpy(x.astype(np.float32))).double().numpy()

    def predict_ratio(self, X: np.ndarray, theta: Sequence[float]) -> np.ndarray:
        """r̂(x|θ, 0)."""
        from higgsflow.eft.weights import quadratic_design

        return (
            1
            + self.predict_coefficients(X) @ quadratic_design(np.asarray(theta, float).reshape(1, -1))[0, 1:]
        )
