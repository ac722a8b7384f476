"""The independent measurement: templates → pyhf workspace → profile-likelihood fit to Asimov data → σ(μ).

pyhf is the engine here; nothing of the training code's loss is used. The workspace is built by
:mod:`higgsflow.stats.workspace` (the builder of ``higgsflow stats build``) and has one channel, a
``normfactor`` per POI, a ``histosys`` per shape nuisance and a ``normsys`` per normalisation effect (both
named after the nuisance, so they share one parameter). The model must be built with
``MODIFIER_SETTINGS = {"normsys": {"interpcode": "code4"}, "histosys": {"interpcode": "code4p"}}``, the
interpolation that :mod:`higgsflow.sannt.likelihood` reproduces (pyhf's own defaults, codes 1 and 0, have a
kink at the nominal point).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from typing import Any

import numpy as np

from higgsflow.errors import FitError
from higgsflow.sannt.likelihood import Templates

__all__ = ["MODIFIER_SETTINGS", "pyhf_sigma", "workspace_from_templates"]

log = logging.getLogger(__name__)

MODIFIER_SETTINGS: dict[str, dict[str, str]] = {
    "normsys": {"interpcode": "code4"},
    "histosys": {"interpcode": "code4p"},
}


def workspace_from_templates(
    templates: Templates,
    *,
    channel: str = "sr",
    min_yield: float = 1e-3,
    poi_bounds: tuple[float, float] = (-10, 10),
) -> dict[str, Any]:
    """A pyhf workspace specification (JSON-able dict) with Asimov observations at μ = 1, η = 0, built by
    :func:`higgsflow.stats.workspace.build_workspace` (the builder of ``higgsflow stats build``).

    One region (``channel``) holds all bins of the templates; each POI is a ``NormFactor`` of its processes,
    each nuisance a ``Shape`` systematic (``histosys``) of the processes whose templates it changes and a
    ``Normalization`` systematic (``normsys``) of those whose yield it scales, both on one parameter named after
    the nuisance. There is no MC-statistics or luminosity modifier (the SANNT likelihood has none).

    Bins whose total nominal yield is at most ``min_yield`` events are left out (they carry no information
    and a Poisson term with zero expectation is ill-defined);
    :func:`~higgsflow.sannt.likelihood.fisher_information` does the same.
    """
    from higgsflow.stats.config import AnalysisConfig, NormFactor, Region, Systematic
    from higgsflow.stats.config import Sample as StatsSample
    from higgsflow.stats.templates import Template
    from higgsflow.stats.workspace import build_workspace

    a = templates.numpy()
    nominal = a["nominal"]
    keep = nominal.sum(0) > min_yield  # Asimov data at μ = 1, η = 0
    if not keep.any():
        raise FitError("every bin is empty", field="nominal", expected="a positive total yield in some bin")
    n_kept = int(keep.sum())
    edges = np.arange(n_kept + 1, dtype=float)
    zeros = np.zeros(n_kept)

    def template(y: np.ndarray) -> Template:
        return Template(y[keep], zeros, edges)

    stats_templates = {}
    systematics = []
    for p, proc in enumerate(templates.processes):
        stats_templates[(channel, proc, "nominal")] = template(nominal[p])
    for k, nuis in enumerate(templates.nuisances):
        for p, proc in enumerate(templates.processes):
            up, dn = a["shape_up"][k, p], a["shape_down"][k, p]
            if not (np.array_equal(up, nominal[p]) and np.array_equal(dn, nominal[p])):
                name = f"{nuis}/{proc}/shape"
                systematics.append(Systematic(name, "Shape", samples=[proc], parameter=nuis))
                stats_templates[(channel, proc, f"{name}:up")] = template(up)
                stats_templates[(channel, proc, f"{name}:down")] = template(dn)
            ku, kd = float(a["kappa_up"][k, p]), float(a["kappa_down"][k, p])
            if ku != 1.0 or kd != 1.0:
                systematics.append(
                    Systematic(
                        f"{nuis}/{proc}/norm",
                        "Normalization",
                        up={"Normalization": ku - 1.0},
                        down={"Normalization": kd - 1.0},
                        samples=[proc],
                        parameter=nuis,
                    )
                )
    norm_factors = [
        NormFactor(
            poi,
            [proc for p, proc in enumerate(templates.processes) if a["poi_matrix"][p, m] > 0],
            bounds=tuple(float(b) for b in poi_bounds),
        )
        for m, poi in enumerate(templates.pois)
    ]
    config = AnalysisConfig(
        measurement="asimov",
        pois=list(templates.pois),
        regions=[Region(channel, binning=edges.tolist())],
        samples=[StatsSample(proc, lumi=False, mcstat=False) for proc in templates.processes],
        norm_factors=norm_factors,
        systematics=systematics,
    )
    return build_workspace(config, stats_templates, require_background=False)


@contextlib.contextmanager
def _pyhf_backend(name: str, strategy: int, tolerance: float):
    import pyhf
    import torch

    old_tensor, old_opt = pyhf.get_backend()
    old_dtype = torch.get_default_dtype()  # pyhf's 64-bit pytorch backend changes torch's global default
    tensorlib = (
        pyhf.tensor.pytorch_backend(precision="64b") if name == "pytorch" else pyhf.tensor.numpy_backend()
    )
    pyhf.set_backend(tensorlib, pyhf.optimize.minuit_optimizer(strategy=strategy, tolerance=tolerance))
    try:
        yield pyhf
    finally:
        pyhf.set_backend(old_tensor, old_opt)
        torch.set_default_dtype(old_dtype)


def pyhf_sigma(
    templates: Templates | dict[str, Any],
    *,
    method: str = "autodiff",
    strategy: int = 1,
    tolerance: float = 1e-4,
    min_yield: float = 1e-3,
) -> dict[str, float]:
    """Expected σ of every free parameter from a pyhf maximum-likelihood fit to Asimov data.

    The fit is ``pyhf.infer.mle.fit`` (Minuit) on the Asimov data of the workspace; the covariance is the
    inverse Hesse matrix of pyhf's −2 ln L at the best fit, computed either

    - ``method="autodiff"`` (default): exactly, by differentiating pyhf's own ``model.logpdf`` twice with
    pyhf's
      pytorch backend (float64) — the precise reference; or
    - ``method="minuit"``: by Minuit's numerical HESSE, as pyhf reports it with ``return_uncertainties=True``.
      Minuit's finite-difference steps are a sizeable fraction of σ, so on strongly non-Gaussian or strongly
      correlated likelihoods its σ can be off by percents; use it as a cross-check.

    Parameters
    ----------
    templates: the templates (or an already built workspace specification).
    strategy, tolerance: Minuit settings of the fit.

    Returns
    -------
    ``{parameter name: σ}`` for the POIs and the nuisance parameters (σ of η in units of its prior width).
    """
    if method not in ("autodiff", "minuit"):
        raise FitError(f"unknown method {method!r}", field="method", expected="'autodiff' or 'minuit'")
    spec = (
        workspace_from_templates(templates, min_yield=min_yield)
        if isinstance(templates, Templates)
        else templates
    )
    backend = "pytorch" if method == "autodiff" else "numpy"
    with _pyhf_backend(backend, strategy, tolerance) as pyhf, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Creating a tensor from a list", category=UserWarning)
        ws = pyhf.Workspace(spec)
        model = ws.model(modifier_settings=MODIFIER_SETTINGS)
        data = model.expected_data(model.config.suggested_init())
        try:
            result = pyhf.infer.mle.fit(data, model, return_uncertainties=method == "minuit")
        except Exception as err:  # pyhf raises its own FailedMinimization
            raise FitError(f"pyhf fit to Asimov data failed: {err}", field="workspace") from err
        if method == "minuit":
            errors = np.asarray(result, dtype=float)[:, 1]
        else:
            import torch

            best = torch.as_tensor(result, dtype=torch.float64).detach()
            hess = torch.autograd.functional.hessian(lambda p: -2 * model.logpdf(p, data)[0], best)
            # −2 ln L has Hessian 2 I, so the covariance is 2 H⁻¹
            errors = torch.sqrt(torch.diagonal(2 * torch.linalg.inv(hess))).numpy()
        sigmas = {name: float(errors[model.config.par_slice(name)][0]) for name in model.config.par_order}
    for name, val in sigmas.items():
        if not np.isfinite(val):
            raise FitError(
                "pyhf returned a non-finite uncertainty", field=name, expected="a finite Hesse error"
            )
    log.debug("pyhf Asimov sigmas (%s): %s", method, sigmas)
    return sigmas
