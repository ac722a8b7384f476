"""A small Les Houches Event (LHE v3) writer with named reweighting weights.

Events are written from plain arrays; reading goes through ``pylhe`` (see
:func:`higgsflow.eft.weights.read_lhe_weights`). Momenta in GeV.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from higgsflow.errors import DataError
from higgsflow.physics.constants import SQRT_S_RUN2

__all__ = ["write_lhe"]

log = logging.getLogger(__name__)


def write_lhe(
    path: str | os.PathLike[str],
    pdg: np.ndarray,
    status: np.ndarray,
    mothers: np.ndarray,
    momenta: np.ndarray,
    masses: np.ndarray,
    *,
    colors: np.ndarray | None = None,
    event_weights: np.ndarray | None = None,
    weight_ids: Sequence[str] = (),
    named_weights: np.ndarray | None = None,
    scale: np.ndarray | None = None,
    beam_energy: float = 500.0 * SQRT_S_RUN2,
    cross_section_pb: float = 1.0,
    comment: str = "",
    overwrite: bool = False,
) -> Path:
    """Write events with a fixed number of particles each.

    Parameters
    ----------
    pdg, status:
        Integer arrays (n_events, n_particles) or (n_particles,) broadcast to all events.
    mothers:
        (n_particles, 2) 1-based mother indices (0 = none), common to all events.
    momenta:
        (n_events, n_particles, 4) as (E, px, py, pz) in GeV.
    masses:
        (n_events, n_particles) or (n_particles,) in GeV.
    colors:
        (n_events, n_particles, 2) or (n_particles, 2) colour tags (0 = none).
    event_weights:
        (n_events,) the nominal XWGTUP; default 1.
    weight_ids, named_weights:
        Names and (n_events, len(weight_ids)) values of the ``<rwgt>`` weights.
    scale:
        (n_events,) SCALUP in GeV; default the invariant mass of the final state.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise DataError("output exists; pass overwrite=True to replace it", file=path)
    momenta = np.asarray(momenta, dtype=float)
    n_ev, n_p, _ = momenta.shape
    pdg = np.broadcast_to(np.asarray(pdg, dtype=int), (n_ev, n_p))
    status = np.broadcast_to(np.asarray(status, dtype=int), (n_ev, n_p))
    mothers = np.asarray(mothers, dtype=int).reshape(n_p, 2)
    masses = np.broadcast_to(np.asarray(masses, dtype=float), (n_ev, n_p))
    colors = (
        np.zeros((n_ev, n_p, 2), dtype=int)
        if colors is None
        else np.broadcast_to(np.asarray(colors, dtype=int), (n_ev, n_p, 2))
    )
    xw = np.ones(n_ev) if event_weights is None else np.asarray(event_weights, dtype=float)
    if named_weights is not None:
        named_weights = np.asarray(named_weights, dtype=float).reshape(n_ev, len(weight_ids))
    if not (np.all(np.isfinite(momenta)) and np.all(np.isfinite(xw))):
        raise DataError("non-finite momenta or weights", file=path)
    if scale is None:
        fin = status == 1
        tot = (momenta * fin[..., None]).sum(axis=1)
        scale = np.sqrt(np.maximum(tot[:, 0] ** 2 - (tot[:, 1:] ** 2).sum(axis=1), 0.0))
    lines = ['<LesHouchesEvents version="3.0">', "<header>"]
    if comment:
        lines.append(f"<!-- {comment} -->")
    if weight_ids:
        lines.append("<initrwgt>")
        lines.append('<weightgroup name="eft">')
        lines += [f'<weight id="{wid}"> {wid} </weight>' for wid in weight_ids]
        lines += ["</weightgroup>", "</initrwgt>"]
    lines += ["</header>", "<init>"]
    lines.append(f"2212 2212 {beam_energy:.6e} {beam_energy:.6e} 0 0 0 0 -4 1")
    lines.append(f"{cross_section_pb:.6e} 0.000000e+00 1.000000e+00 1")
    lines.append("</init>")
    for k in range(n_ev):
        lines.append("<event>")
        lines.append(f"{n_p} 1 {xw[k]:.10e} {scale[k]:.6e} 7.816531e-03 1.180000e-01")
        for p in range(n_p):
            e, px, py, pz = momenta[k, p]
            lines.append(
                f"{pdg[k, p]:d} {status[k, p]:d} {mothers[p, 0]:d} {mothers[p, 1]:d} "
                f"{colors[k, p, 0]:d} {colors[k, p, 1]:d} {px:.10e} {py:.10e} {pz:.10e} {e:.10e} "
                f"{masses[k, p]:.10e} 0.0 9.0"
            )
        if weight_ids and named_weights is not None:
            lines.append("<rwgt>")
            lines += [
                f'<wgt id="{wid}"> {named_weights[k, m]:.16e} </wgt>' for m, wid in enumerate(weight_ids)
            ]
            lines.append("</rwgt>")
        lines.append("</event>")
    lines.append("</LesHouchesEvents>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    log.info("wrote %d events to %s", n_ev, path)
    return path
