"""Quadratic EFT event weights: coefficients, basis points, LHE reweighting weights, Parquet files.

Convention (``docs/conventions.md``): for N Wilson coefficients θ every event carries

    w(θ) = w0 + Σ_i θ_i w_i + ½ Σ_{i,j} θ_i θ_j w_ij,

with the double sum over **all** i, j and w_ij = w_ji. Only i ≤ j is stored. In this module a *coefficient
array* has shape ``(n_events, P)`` with P = 1 + N + N(N+1)/2 columns ordered

    w0, w_1 … w_N, w_11, w_12, …, w_1N, w_22, …, w_NN   (i ≤ j, row-major),

and the Parquet/column names are ``w0``, ``w_<name>``, ``w_<name_i>_<name_j>``.

Weights are in the units of the sample (usually pb per event); θ is dimensionless (Λ fixed by the model).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from higgsflow.errors import ConfigError, DataError, SchemaError

__all__ = [
    "basis_points",
    "coefficient_columns",
    "coefficients_from_points",
    "n_coefficients",
    "pair_indices",
    "quadratic_design",
    "ratio_coefficients",
    "read_lhe_weights",
    "read_sample",
    "weight_at",
    "write_sample",
]

log = logging.getLogger(__name__)


def n_coefficients(n_params: int) -> int:
    """Number of stored coefficients P = 1 + N + N(N+1)/2 = 1 + N(N+3)/2 for N Wilson coefficients."""
    return 1 + n_params + n_params * (n_params + 1) // 2


def pair_indices(n_params: int) -> list[tuple[int, int]]:
    """The (i, j) pairs with i ≤ j in storage order."""
    return [(i, j) for i in range(n_params) for j in range(i, n_params)]


def coefficient_columns(names: Sequence[str]) -> list[str]:
    """Column names ``w0, w_<a>, …, w_<a>_<b> (a ≤ b)`` for the coefficient names ``names``."""
    names = list(names)
    if len(set(names)) != len(names):
        raise ConfigError("duplicate coefficient names", field="names", expected="unique names")
    cols = ["w0"] + [f"w_{n}" for n in names]
    cols += [f"w_{names[i]}_{names[j]}" for i, j in pair_indices(len(names))]
    return cols


def quadratic_design(theta: np.ndarray) -> np.ndarray:
    """Design matrix D with w(θ_m) = D[m] · coeffs for basis points ``theta`` of shape (M, N).

    Row m is ``[1, θ_1 … θ_N, ½θ_1², θ_1θ_2, …, ½θ_N²]`` (½ on the diagonal, 1 off-diagonal, matching the
    symmetric double sum of the convention).
    """
    theta = np.atleast_2d(np.asarray(theta, dtype=float))
    m, n = theta.shape
    cols = [np.ones(m), *(theta[:, i] for i in range(n))]
    for i, j in pair_indices(n):
        cols.append(0.5 * theta[:, i] ** 2 if i == j else theta[:, i] * theta[:, j])
    return np.stack(cols, axis=1)


def basis_points(n_params: int, scale: float = 1.0) -> np.ndarray:
    """A minimal, well-conditioned set of M = 1 + N(N+3)/2 basis points.

    The SM point, ±scale along every axis, and scale·(e_i + e_j) for every pair i < j.
    """
    pts = [np.zeros(n_params)]
    for i in range(n_params):
        for s in (+1.0, -1.0):
            p = np.zeros(n_params)
            p[i] = s * scale
            pts.append(p)
    for i in range(n_params):
        for j in range(i + 1, n_params):
            p = np.zeros(n_params)
            p[i] = p[j] = scale
            pts.append(p)
    return np.array(pts)


def coefficients_from_points(
    weights: np.ndarray,
    theta: np.ndarray,
    *,
    max_condition: float = 1e8,
    source: str | os.PathLike[str] | None = None,
) -> np.ndarray:
    """Solve per-event weights at basis points for the quadratic coefficients (least squares).

    Parameters
    ----------
    weights:
        Shape (n_events, M): the weight of every event at each of the M basis points.
    theta:
        Shape (M, N): the basis points; M ≥ 1 + N(N+3)/2 and the design must be well conditioned.
    max_condition:
        Largest accepted 2-norm condition number of the design matrix (after column scaling).
    source:
        File name used in error messages.

    Returns
    -------
    Coefficient array of shape (n_events, P) in the order of :func:`coefficient_columns`.
    """
    weights = np.asarray(weights, dtype=float)
    theta = np.atleast_2d(np.asarray(theta, dtype=float))
    if weights.ndim != 2 or weights.shape[1] != theta.shape[0]:
        raise DataError(
            f"weights have shape {weights.shape} but there are {theta.shape[0]} basis points",
            file=source,
            field="weights",
            expected="shape (n_events, n_points)",
        )
    n = theta.shape[1]
    p = n_coefficients(n)
    if theta.shape[0] < p:
        raise ConfigError(
            f"{theta.shape[0]} basis points cannot determine {p} coefficients",
            file=source,
            field="theta",
            expected=f"at least 1 + N(N+3)/2 = {p} points",
        )
    if not np.all(np.isfinite(weights)):
        bad = int(np.argwhere(~np.isfinite(weights))[0, 0])
        raise DataError("non-finite weight", file=source, field="weights", row=bad, expected="finite numbers")
    # condition number in units where every coordinate spans ±1: independent of the units of θ,
    # but sensitive to points that probe a coefficient or a pair only weakly
    span = np.abs(theta).max(axis=0)
    if np.any(span == 0):
        raise ConfigError(
            "a coefficient is not varied by any basis point",
            file=source,
            field="theta",
            expected="points that vary every coefficient and every pair",
        )
    design = quadratic_design(theta / span)
    cond = np.linalg.cond(design)
    if not np.isfinite(cond) or cond > max_condition:
        raise ConfigError(
            f"basis points are ill-conditioned (condition number {cond:.3g})",
            file=source,
            field="theta",
            expected=f"condition number ≤ {max_condition:.3g}; spread the points",
        )
    sol, *_ = np.linalg.lstsq(design, weights.T, rcond=None)
    # undo the coordinate scaling: column k of the design scales like the product of its spans
    col_scale = np.array([1.0, *span, *(span[i] * span[j] for i, j in pair_indices(n))])
    coeffs = (sol / col_scale[:, None]).T
    design = quadratic_design(theta)
    resid = design @ coeffs.T - weights.T
    scale = np.maximum(np.abs(weights).max(axis=1), np.finfo(float).tiny)
    rel = np.abs(resid).max(axis=0) / scale
    if theta.shape[0] > p and np.any(rel > 1e-6):
        log.warning(
            "weights are not exactly quadratic in θ: largest relative residual %.3g (event %d)",
            rel.max(),
            int(rel.argmax()),
        )
    log.debug("solved %d events for %d coefficients, condition number %.3g", len(weights), p, cond)
    return coeffs


def weight_at(coeffs: np.ndarray, theta: np.ndarray | Sequence[float]) -> np.ndarray:
    """Weights w(θ) of every event at one point θ (shape (N,)), from a coefficient array (n_events, P)."""
    theta = np.asarray(theta, dtype=float).reshape(1, -1)
    coeffs = np.asarray(coeffs, dtype=float)
    if coeffs.shape[-1] != n_coefficients(theta.shape[1]):
        raise ConfigError(
            f"θ has {theta.shape[1]} entries but the coefficients are for a different N",
            field="theta",
            expected=f"{coeffs.shape[-1]} coefficient columns to match 1 + N(N+3)/2",
        )
    return coeffs @ quadratic_design(theta)[0]


def ratio_coefficients(coeffs: np.ndarray) -> np.ndarray:
    """Per-event ratio coefficients (1, R_i, R_ij) = coeffs / w0; raises on w0 ≤ 0."""
    coeffs = np.asarray(coeffs, dtype=float)
    w0 = coeffs[:, 0]
    if np.any(w0 <= 0):
        raise DataError(
            "SM weight w0 must be positive to form ratios", field="w0", row=int(np.argmax(w0 <= 0))
        )
    return coeffs / w0[:, None]


def read_lhe_weights(
    path: str | os.PathLike[str],
    weight_ids: Sequence[str],
    theta: np.ndarray,
    *,
    max_condition: float = 1e8,
) -> np.ndarray:
    """Read named reweighting weights (``<rwgt><wgt id=...>``) from an LHE file; solve for coefficients.

    ``weight_ids[m]`` is the weight id of basis point ``theta[m]``. Returns the (n_events, P) coefficients.
    """
    import pylhe

    path = Path(path)
    if not path.exists():
        raise DataError("LHE file not found", file=path)
    rows = []
    try:
        lhe = pylhe.LHEFile.fromfile(str(path))
        for k, event in enumerate(lhe.events):
            missing = [wid for wid in weight_ids if wid not in event.weights]
            if missing:
                raise SchemaError(
                    "event lacks reweighting weights",
                    file=path,
                    field=missing[0],
                    row=k,
                    expected=f"weights named {list(weight_ids)}",
                )
            rows.append([event.weights[wid] for wid in weight_ids])
    except (ValueError, OSError) as exc:  # malformed XML and the like
        raise DataError(f"cannot read LHE events: {exc}", file=path) from exc
    if not rows:
        raise DataError("no events", file=path, expected="at least one <event>")
    return coefficients_from_points(np.array(rows), theta, max_condition=max_condition, source=path)


def write_sample(
    path: str | os.PathLike[str],
    features: Mapping[str, np.ndarray],
    coeffs: np.ndarray,
    names: Sequence[str],
    *,
    metadata: Mapping[str, str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write an EFT sample (feature columns + weight coefficient columns) as Parquet.

    ``metadata`` (settings, seed, versions) is stored in the Parquet schema metadata.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if path.exists() and not overwrite:
        raise DataError("output exists; pass overwrite=True to replace it", file=path)
    cols = coefficient_columns(names)
    coeffs = np.asarray(coeffs, dtype=float)
    if coeffs.shape[1] != len(cols):
        raise DataError("coefficient array does not match names", file=path, expected=f"{len(cols)} columns")
    table = {k: np.asarray(v) for k, v in features.items()}
    for k, c in enumerate(cols):
        table[c] = coeffs[:, k]
    meta = {"higgsflow.eft.coefficients": ",".join(names)}
    meta.update(dict(metadata or {}))
    t = pa.table(table).replace_schema_metadata({k: str(v) for k, v in meta.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(t, path)
    return path


def read_sample(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], np.ndarray, list[str], dict]:
    """Read a sample written by :func:`write_sample`: (features, coeffs, coefficient names, metadata)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists():
        raise DataError("sample file not found", file=path)
    if path.is_dir():
        raise DataError(
            "sample is a folder", file=path, expected="a Parquet file written by 'eft generate-zh'"
        )
    try:
        t = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(
            f"not a readable Parquet file ({exc})",
            file=path,
            expected="a sample written by 'eft generate-zh'",
        ) from exc
    meta = {k.decode(): v.decode() for k, v in (t.schema.metadata or {}).items()}
    if "higgsflow.eft.coefficients" not in meta:
        raise SchemaError("not an EFT sample", file=path, field="higgsflow.eft.coefficients")
    names = [n for n in meta["higgsflow.eft.coefficients"].split(",") if n]
    cols = coefficient_columns(names)
    missing = [c for c in cols if c not in t.column_names]
    if missing:
        raise SchemaError("weight column missing", file=path, field=missing[0])
    coeffs = np.stack([t.column(c).to_numpy() for c in cols], axis=1)
    if not np.all(np.isfinite(coeffs)):
        raise DataError("non-finite weight coefficients", file=path, field="w*")
    feats = {c: t.column(c).to_numpy() for c in t.column_names if c not in cols}
    return feats, coeffs, names, meta
