"""Differentiable binned Poisson likelihood with nuisance parameters and its Asimov Fisher information
(torch).

The statistical model is HistFactory's, with the interpolation codes pyhf calls ``code4`` (normalisation
uncertainties, ``normsys``) and ``code4p`` (shape uncertainties, ``histosys``), so that a pyhf workspace
built from the same templates with ``modifier_settings={"normsys": {"interpcode": "code4"}, "histosys":
{"interpcode": "code4p"}}`` is *the same* likelihood. For bins b, processes p, POIs m and nuisance
parameters k:

    ν_b(μ, η) = Σ_p [Π_m μ_m^{P_pm}] · [Π_k κ_pk(η_k)] · (h_pb + Σ_k δ_pkb(η_k))

    −ln L = Σ_b (ν_b − n_b ln ν_b) + Σ_k η_k² / 2

with P_pm = 1 when POI m scales process p, κ the code-4 factor (exponential outside |η| ≤ 1, a degree-6
polynomial inside that matches value, first and second derivative at ±1 — no kink at η = 0) and δ the code-4p
shift (linear outside |η| ≤ 1, a degree-6 polynomial inside). On Asimov data n = ν(θ₀) the expected Fisher
information of θ = (μ, η) is

    I_ij = Σ_b (∂ν_b/∂θ_i)(∂ν_b/∂θ_j) / ν_b + δ_ij [i is a nuisance]

and the profiled expected uncertainty of POI m is σ(μ_m) = sqrt((I⁻¹)_mm). Yields are in expected events.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from higgsflow.errors import DataError

__all__ = [
    "Templates",
    "code4_factor",
    "code4p_shift",
    "expected_yields",
    "fisher_information",
    "profiled_sigma",
    "yield_jacobian",
]

log = logging.getLogger(__name__)

# rows of the inverse of pyhf's 6x6 boundary-condition matrix at alpha0 = 1 (see pyhf.interpolators.code4)
_CODE4_AINV = torch.tensor(
    [
        [15.0 / 16, -15.0 / 16, -7.0 / 16, -7.0 / 16, 1.0 / 16, -1.0 / 16],
        [3.0 / 2, 3.0 / 2, -9.0 / 16, 9.0 / 16, 1.0 / 16, 1.0 / 16],
        [-5.0 / 8, 5.0 / 8, 5.0 / 8, 5.0 / 8, -1.0 / 8, 1.0 / 8],
        [-3.0 / 2, -3.0 / 2, 7.0 / 8, -7.0 / 8, -1.0 / 8, -1.0 / 8],
        [3.0 / 16, -3.0 / 16, -3.0 / 16, -3.0 / 16, 1.0 / 16, -1.0 / 16],
        [1.0 / 2, 1.0 / 2, -5.0 / 16, 5.0 / 16, 1.0 / 16, 1.0 / 16],
    ],
    dtype=torch.float64,
)


def _code4_coefficients(kappa_up: torch.Tensor, kappa_down: torch.Tensor) -> torch.Tensor:
    """The polynomial coefficients a_1..a_6 of code 4 (shape ``(6, *kappa.shape)``)."""
    lu, ld = torch.log(kappa_up), torch.log(kappa_down)
    b = torch.stack(
        [kappa_up - 1, kappa_down - 1, lu * kappa_up, -ld * kappa_down, lu**2 * kappa_up, ld**2 * kappa_down]
    )
    ainv = _CODE4_AINV.to(dtype=b.dtype, device=b.device)
    return torch.einsum("rc,c...->r...", ainv, b)


def code4_factor(eta: torch.Tensor, kappa_up: torch.Tensor, kappa_down: torch.Tensor) -> torch.Tensor:
    """Normalisation factor κ(η) of pyhf's interpolation code 4 (``normsys``), broadcasting over all inputs.

    κ(η) = κ_up^η for η ≥ 1, κ_down^(−η) for η ≤ −1 and 1 + Σ_{i=1..6} a_i η^i in between, with a_i fixed by
    continuity of the value and of the first and second derivatives at η = ±1. κ_up, κ_down must be > 0.
    """
    eta, kappa_up, kappa_down = torch.broadcast_tensors(eta, kappa_up, kappa_down)
    a = _code4_coefficients(kappa_up, kappa_down)
    powers = torch.stack([eta**i for i in range(1, 7)])
    inside = 1 + (a * powers).sum(0)
    up = kappa_up ** eta.clamp(min=1.0)
    down = kappa_down ** (-eta).clamp(min=1.0)
    return torch.where(eta >= 1, up, torch.where(eta <= -1, down, inside))


def code4p_shift(
    eta: torch.Tensor, nominal: torch.Tensor, up: torch.Tensor, down: torch.Tensor
) -> torch.Tensor:
    """Additive shape shift δ(η) of pyhf's interpolation code 4p (``histosys``), broadcasting over all inputs.

    δ(η) = η (up − nom) for η > 1, η (nom − down) for η < −1 and η (S + η A (15 + η² (3η² − 10))) in between,
    with S = (up − down)/2 and A = (up + down − 2 nom)/16 (continuous value, first and second derivative).
    """
    d_up, d_dn = up - nominal, nominal - down
    s = 0.5 * (d_up + d_dn)
    a = 0.0625 * (d_up - d_dn)
    inside = eta * (s + eta * a * (15 + eta**2 * (3 * eta**2 - 10)))
    return torch.where(eta > 1, eta * d_up, torch.where(eta < -1, eta * d_dn, inside))


@dataclass
class Templates:
    """Binned templates of all processes with their systematic variations (torch tensors, yields in events).

    Attributes
    ----------
    nominal:
        ``(P, B)`` nominal expected yields of P processes in B bins.
    shape_up, shape_down:
        ``(K, P, B)`` yields at η_k = ±1 for the shape (``histosys``) part of nuisance k; equal to
        ``nominal`` for processes the nuisance does not affect.
    kappa_up, kappa_down:
        ``(K, P)`` normalisation factors at η_k = ±1 (``normsys``, code 4); 1 where the nuisance has no
        normalisation effect.
    poi_matrix:
        ``(P, M)`` with 1 where POI m scales process p, else 0.
    processes, nuisances, pois:
        Names, in the order of the axes above.
    """

    nominal: torch.Tensor
    shape_up: torch.Tensor
    shape_down: torch.Tensor
    kappa_up: torch.Tensor
    kappa_down: torch.Tensor
    poi_matrix: torch.Tensor
    processes: list[str] = field(default_factory=list)
    nuisances: list[str] = field(default_factory=list)
    pois: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        p, b = self.nominal.shape
        k = self.kappa_up.shape[0]
        expected = {
            "shape_up": (k, p, b),
            "shape_down": (k, p, b),
            "kappa_up": (k, p),
            "kappa_down": (k, p),
        }
        for name, shape in expected.items():
            if tuple(getattr(self, name).shape) != shape:
                raise DataError(
                    f"templates have shape {tuple(getattr(self, name).shape)}",
                    field=name,
                    expected=f"shape {shape} (nuisances, processes, bins)",
                )
        if self.poi_matrix.shape[0] != p:
            raise DataError(
                "POI matrix does not match the processes", field="poi_matrix", expected=f"{p} rows"
            )
        if bool((self.kappa_up <= 0).any()) or bool((self.kappa_down <= 0).any()):
            raise DataError("normalisation factors must be positive", field="kappa_up/kappa_down")
        for name in ("nominal", "shape_up", "shape_down", "kappa_up", "kappa_down"):
            if not bool(torch.isfinite(getattr(self, name)).all()):
                raise DataError("templates hold NaN or inf", field=name, expected="finite yields")
        self.processes = self.processes or [f"process{i}" for i in range(p)]
        self.nuisances = self.nuisances or [f"nuisance{i}" for i in range(k)]
        self.pois = self.pois or [f"mu{i}" for i in range(self.poi_matrix.shape[1])]

    @property
    def n_pois(self) -> int:
        return self.poi_matrix.shape[1]

    @property
    def parameters(self) -> list[str]:
        """Parameter names in the order of θ = (μ_1..μ_M, η_1..η_K)."""
        return [*self.pois, *self.nuisances]

    def numpy(self) -> dict[str, np.ndarray]:
        """The tensors as detached float64 numpy arrays (for building a pyhf workspace)."""
        names = ("nominal", "shape_up", "shape_down", "kappa_up", "kappa_down", "poi_matrix")
        return {n: getattr(self, n).detach().cpu().double().numpy() for n in names}

    @classmethod
    def from_arrays(
        cls,
        nominal: np.ndarray | torch.Tensor,
        *,
        poi_matrix: np.ndarray | torch.Tensor,
        shape_up: np.ndarray | torch.Tensor | None = None,
        shape_down: np.ndarray | torch.Tensor | None = None,
        kappa_up: np.ndarray | torch.Tensor | None = None,
        kappa_down: np.ndarray | torch.Tensor | None = None,
        processes: Sequence[str] = (),
        nuisances: Sequence[str] = (),
        pois: Sequence[str] = (),
    ) -> Templates:
        """Build templates from any arrays (float64); missing shape/normalisation parts mean "no effect"."""
        nom = torch.as_tensor(nominal, dtype=torch.float64)
        if nom.ndim != 2:
            raise DataError(
                "nominal templates must be 2-d", field="nominal", expected="shape (processes, bins)"
            )
        ks = [len(x) for x in (shape_up, kappa_up) if x is not None]
        k = ks[0] if ks else 0
        su = nom.expand(k, *nom.shape).clone() if shape_up is None else torch.as_tensor(shape_up).double()
        sd = nom.expand(k, *nom.shape).clone() if shape_down is None else torch.as_tensor(shape_down).double()
        ones = torch.ones(k, nom.shape[0], dtype=torch.float64)
        ku = ones.clone() if kappa_up is None else torch.as_tensor(kappa_up, dtype=torch.float64)
        kd = ones.clone() if kappa_down is None else torch.as_tensor(kappa_down, dtype=torch.float64)
        return cls(
            nom,
            su,
            sd,
            ku,
            kd,
            torch.as_tensor(poi_matrix, dtype=torch.float64),
            list(processes),
            list(nuisances),
            list(pois),
        )


def _poi_scale(poi_values: torch.Tensor, poi_matrix: torch.Tensor) -> torch.Tensor:
    """Π_m μ_m^{P_pm} for every process p (shape ``(P,)``)."""
    return torch.where(poi_matrix > 0, poi_values[None, :], torch.ones_like(poi_matrix)).prod(1)


def expected_yields(templates: Templates, theta: torch.Tensor) -> torch.Tensor:
    """Expected yields ν_b(θ) per bin for θ = (μ_1..μ_M, η_1..η_K), exactly as pyhf with codes 4 / 4p."""
    t = templates
    mu, eta = theta[: t.n_pois], theta[t.n_pois :]
    scale = _poi_scale(mu, t.poi_matrix)  # (P,)
    shift = code4p_shift(eta[:, None, None], t.nominal[None], t.shape_up, t.shape_down).sum(0)  # (P, B)
    norm = code4_factor(eta[:, None], t.kappa_up, t.kappa_down).prod(0)  # (P,)
    return ((scale * norm)[:, None] * (t.nominal + shift)).sum(0)


def yield_jacobian(templates: Templates, poi_values: torch.Tensor | None = None) -> torch.Tensor:
    """Analytic ∂ν_b/∂θ_i at θ₀ = (μ₀, η = 0), shape ``(B, M + K)``; differentiable in the templates.

    At η = 0 code 4p gives ∂δ/∂η = (up − down)/2 and code 4 gives ∂κ/∂η = a_1(κ_up, κ_down).
    """
    t = templates
    m = t.n_pois
    mu0 = (
        torch.ones(m, dtype=t.nominal.dtype)
        if poi_values is None
        else torch.as_tensor(poi_values).to(t.nominal)
    )
    scale = _poi_scale(mu0, t.poi_matrix)  # (P,)
    cols = []
    for j in range(m):
        others = mu0.clone()
        others[j] = 1.0
        d_scale = _poi_scale(others, t.poi_matrix) * (t.poi_matrix[:, j] > 0)
        cols.append((d_scale[:, None] * t.nominal).sum(0))
    a1 = _code4_coefficients(t.kappa_up, t.kappa_down)[0]  # (K, P)
    d_shape = 0.5 * (t.shape_up - t.shape_down)  # (K, P, B)
    d_eta = (scale[None, :, None] * (d_shape + a1[:, :, None] * t.nominal[None])).sum(1)  # (K, B)
    return torch.cat([torch.stack(cols, 1), d_eta.T], 1) if cols else d_eta.T


def fisher_information(
    templates: Templates, poi_values: torch.Tensor | None = None, min_yield: float = 1e-3
) -> torch.Tensor:
    """Expected (Asimov) Fisher information of θ = (μ, η) at θ₀ = (μ₀, 0), shape ``(M + K, M + K)``.

    I = Jᵀ diag(1/ν) J + diag(0..0, 1..1): Poisson terms of all bins plus the unit Gaussian constraints.
    Bins whose total expected yield is at most ``min_yield`` events carry no information (they are left
    out, which keeps the loss finite and its gradient defined when the network empties a bin); pyhf
    workspaces built by :func:`higgsflow.sannt.pyhf_model.workspace_from_templates` leave out the same bins.
    """
    t = templates
    mu0 = torch.ones(t.n_pois, dtype=t.nominal.dtype) if poi_values is None else torch.as_tensor(poi_values)
    nu = (_poi_scale(mu0.to(t.nominal), t.poi_matrix)[:, None] * t.nominal).sum(0)
    jac = yield_jacobian(t, mu0)
    keep = nu > min_yield
    inv_nu = torch.where(keep, 1.0 / torch.where(keep, nu, torch.ones_like(nu)), torch.zeros_like(nu))
    info = jac.T @ (inv_nu[:, None] * jac)
    constraint = torch.cat([torch.zeros(t.n_pois), torch.ones(len(t.nuisances))]).to(info)
    return info + torch.diag(constraint)


def profiled_sigma(fisher: torch.Tensor, n_pois: int | None = None) -> torch.Tensor:
    """Profiled expected uncertainties σ(μ_m) = sqrt((I⁻¹)_mm) of the first ``n_pois`` parameters.

    Raises DataError if the information matrix is singular (e.g. a POI whose processes are all empty).
    """
    n = fisher.shape[0] if n_pois is None else n_pois
    eye = torch.eye(fisher.shape[0], dtype=fisher.dtype)[:, :n]
    try:
        chol = torch.linalg.cholesky(fisher)
    except torch.linalg.LinAlgError as err:
        raise DataError(
            "Fisher information is singular", field="fisher", expected="a POI with non-zero expected yield"
        ) from err
    cov_cols = torch.cholesky_solve(eye, chol)  # columns of I⁻¹
    var = cov_cols[torch.arange(n), torch.arange(n)]
    return var.sqrt()
