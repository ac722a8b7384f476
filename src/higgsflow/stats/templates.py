"""Histogram templates per region and sample, and the bin merging that keeps every bin usable in a fit.

A :class:`Template` holds the weighted yields and the sums of squared weights of one sample in one region (and
one systematic variation). Templates are filled with :mod:`hist` from arrays of any observable (typically a
classifier score, dimensionless) with per-event weights (events for the chosen luminosity).
"""

from __future__ import annotations

import ast
import logging
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from higgsflow.errors import ConfigError, DataError, SchemaError

__all__ = [
    "Template",
    "evaluate_selection",
    "expression_columns",
    "fill_template",
    "merge_bins",
    "merged_edges",
    "read_columns",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Template:
    """One binned template: yields and sum of squared weights on ``edges``.

    Attributes
    ----------
    yields: expected events per bin (shape ``(nbins,)``).
    sumw2: sum of squared event weights per bin (the MC statistical variance, events²).
    edges: bin edges of the observable (``nbins + 1`` increasing values, units of the observable).
    """

    yields: np.ndarray
    sumw2: np.ndarray
    edges: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        y = np.asarray(self.yields, dtype=float)
        w2 = np.asarray(self.sumw2, dtype=float)
        e = np.asarray(self.edges, dtype=float)
        if y.ndim != 1 or w2.shape != y.shape or e.shape != (y.size + 1,):
            raise DataError(
                "inconsistent template shapes",
                field="yields/sumw2/edges",
                expected=f"yields, sumw2 of shape (n,), edges (n+1,); got {y.shape}, {w2.shape}, {e.shape}",
            )
        object.__setattr__(self, "yields", y)
        object.__setattr__(self, "sumw2", w2)
        object.__setattr__(self, "edges", e)

    @property
    def stat_error(self) -> np.ndarray:
        """The MC statistical uncertainty per bin, sqrt(Σw²) (events)."""
        return np.sqrt(np.clip(self.sumw2, 0.0, None))

    def rebinned(self, edges: np.ndarray) -> Template:
        """Sum the bins of this template into the coarser ``edges`` (a subset of the current edges)."""
        idx = _edge_indices(self.edges, edges)
        return Template(np.add.reduceat(self.yields, idx[:-1]), np.add.reduceat(self.sumw2, idx[:-1]), edges)

    def scaled(self, factor: float | np.ndarray) -> Template:
        """The template with yields times ``factor`` (and variances times factor²)."""
        f = np.asarray(factor, dtype=float)
        return Template(self.yields * f, self.sumw2 * f**2, self.edges)


def _edge_indices(fine: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(fine, coarse)
    idx = np.clip(idx, 0, fine.size - 1)
    if not np.allclose(fine[idx], coarse):
        raise DataError("the new bin edges are not a subset of the old ones", field="edges")
    return idx


def fill_template(
    values: np.ndarray,
    edges: np.ndarray | list[float],
    weights: np.ndarray | None = None,
    *,
    name: str = "observable",
    flow: bool = True,
) -> Template:
    """Fill a weighted histogram of ``values`` on ``edges`` (with :mod:`hist`, ``Weight`` storage).

    Parameters
    ----------
    values: the observable per event (e.g. a classifier score).
    edges: increasing bin edges (variable binning allowed).
    weights: per-event weights (events); ``None`` means unit weights.
    name: the observable's name, used in error messages.
    flow: add the under/overflow into the first/last bin, so that no event is lost.
    """
    import hist

    values = np.asarray(values, dtype=float)
    edges = np.asarray(edges, dtype=float)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ConfigError("bin edges must be at least two strictly increasing numbers", field=name)
    w = np.ones_like(values) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != values.shape:
        raise DataError("weights and values differ in length", field=name, expected=f"{values.shape}")
    bad = ~np.isfinite(values) | ~np.isfinite(w)
    if np.any(bad):
        raise DataError(
            f"{int(bad.sum())} non-finite values or weights", field=name, row=int(np.flatnonzero(bad)[0])
        )
    h = hist.Hist(hist.axis.Variable(edges, name=name), storage=hist.storage.Weight())
    h.fill(values, weight=w)
    view = h.view(flow=True)
    y, w2 = np.array(view.value), np.array(view.variance)
    if flow:
        y[1] += y[0]
        w2[1] += w2[0]
        y[-2] += y[-1]
        w2[-2] += w2[-1]
    return Template(y[1:-1], w2[1:-1], edges)


def merged_edges(
    edges: np.ndarray,
    background: np.ndarray,
    background_sumw2: np.ndarray,
    *,
    min_yield: float = 0.0,
    max_rel_stat: float | None = None,
) -> np.ndarray:
    """Merge adjacent bins until each holds at least ``min_yield`` background events and a relative MC
    statistical uncertainty sqrt(Σw²)/B of at most ``max_rel_stat``.

    Bins are accumulated from the high edge (the signal-like end of a classifier score) downwards; a
    remainder at the low end that fails the criteria is merged into its neighbour. Returns the new edges,
    a subset of ``edges`` that keeps both end points.
    """
    edges = np.asarray(edges, dtype=float)
    b = np.asarray(background, dtype=float)
    w2 = np.asarray(background_sumw2, dtype=float)

    def ok(y: float, v: float) -> bool:
        if y <= 0 or y < min_yield:
            return False
        return max_rel_stat is None or np.sqrt(max(v, 0.0)) / y <= max_rel_stat

    keep = [edges.size - 1]  # indices into edges, from the top
    acc_y = acc_v = 0.0
    for i in range(b.size - 1, -1, -1):
        acc_y += b[i]
        acc_v += w2[i]
        if ok(acc_y, acc_v) and i > 0:
            keep.append(i)
            acc_y = acc_v = 0.0
    keep.append(0)
    keep = sorted(set(keep))
    if len(keep) > 2 and not ok(float(b[: keep[1]].sum()), float(w2[: keep[1]].sum())):
        keep.pop(1)  # the lowest remainder fails: merge it into its neighbour
    new = edges[keep]
    if new.size < edges.size:
        log.info("merged %d bins into %d", edges.size - 1, new.size - 1)
    return new


def merge_bins(
    templates: Mapping[str, Template],
    background: list[str],
    *,
    min_yield: float = 0.0,
    max_rel_stat: float | None = None,
) -> dict[str, Template]:
    """Rebin all ``templates`` of one region with edges chosen by :func:`merged_edges` on the summed
    ``background`` samples."""
    missing = [s for s in background if s not in templates]
    if missing:
        raise ConfigError("unknown background sample(s) for bin merging", field=", ".join(missing))
    ref = templates[background[0]]
    b = sum(templates[s].yields for s in background)
    v = sum(templates[s].sumw2 for s in background)
    edges = merged_edges(ref.edges, b, v, min_yield=min_yield, max_rel_stat=max_rel_stat)
    return {k: t.rebinned(edges) for k, t in templates.items()}


_BINOPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.BitAnd: operator.and_,
    ast.BitOr: operator.or_,
}
_CMPOPS = {
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


def evaluate_selection(
    expression: str,
    columns: Mapping[str, np.ndarray],
    *,
    file: str | Path | None = None,
    field: str = "Selection",
    source: str | None = None,
) -> np.ndarray:
    """Evaluate a selection or observable expression on named columns, without ``eval``.

    Allowed: column names, numbers, ``+ - * / **``, comparisons (chains allowed), ``&``, ``|``, ``~``,
    ``and``/``or``/``not`` and parentheses, e.g. ``"score_cc / (score_cc + score_lf) > 0.5 & njet >= 4"``.
    ``file`` and ``field`` (the config file and key holding the expression) and ``source`` (where the columns
    come from) only go into error messages.
    """
    try:
        tree = ast.parse(str(expression), mode="eval")
    except SyntaxError as exc:
        raise ConfigError(f"cannot parse expression {expression!r}", file=file, field=field) from exc
    origin = f" of {source}" if source else ""

    def ev(node: ast.AST):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in columns:
                raise ConfigError(
                    f"unknown column {node.id!r} in {expression!r}",
                    file=file,
                    field=field,
                    expected=f"a column{origin}: " + ", ".join(sorted(columns)),
                )
            return np.asarray(columns[node.id])
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, (ast.Invert, ast.Not)):
                return np.logical_not(ev(node.operand))
            if isinstance(node.op, ast.USub):
                return -ev(node.operand)
        if isinstance(node, ast.BoolOp):
            vals = [ev(v) for v in node.values]
            fn = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            out = vals[0]
            for v in vals[1:]:
                out = fn(out, v)
            return out
        if isinstance(node, ast.Compare):
            left = ev(node.left)
            out = None
            for op, comp in zip(node.ops, node.comparators, strict=True):
                if type(op) not in _CMPOPS:
                    break
                right = ev(comp)
                res = _CMPOPS[type(op)](left, right)
                out = res if out is None else np.logical_and(out, res)
                left = right
            else:
                return out
        raise ConfigError(
            f"unsupported element {ast.dump(node)[:40]} in {expression!r}",
            file=file,
            field=field,
            expected="columns, numbers, + - * / **, comparisons, & | ~, and/or/not",
        )

    return ev(tree)


def expression_columns(
    expression: str, *, file: str | Path | None = None, field: str = "Selection"
) -> set[str]:
    """The column names an expression (as :func:`evaluate_selection` reads it) refers to."""
    try:
        tree = ast.parse(str(expression), mode="eval")
    except SyntaxError as exc:
        raise ConfigError(f"cannot parse expression {expression!r}", file=file, field=field) from exc
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def read_columns(path: str | Path, columns: list[str], *, tree: str = "tree") -> dict[str, np.ndarray]:
    """Read flat numeric ``columns`` from a Parquet (awkward) or ROOT (uproot, ``tree``) file by suffix."""
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", file=path)
    cols = sorted(set(columns))
    if path.suffix == ".parquet":
        import awkward as ak

        try:
            arr = ak.from_parquet(path, columns=cols)
        except Exception as exc:
            raise SchemaError(f"cannot read columns: {exc}", file=path, field=", ".join(cols)) from exc
        return {c: ak.to_numpy(arr[c]).astype(float) for c in cols}
    if path.suffix == ".root":
        import awkward as ak

        from higgsflow.data.io import read_table

        arr = read_table(path, cols, tree=tree)  # names a missing tree or branch, a truncated or corrupt file
        return {c: ak.to_numpy(arr[c]).astype(float) for c in cols}
    raise DataError("unknown file type", file=path, expected="a .parquet or .root file")
