"""Mutually exclusive tagging categories in the (p_B+C, p_BvsC) plane, as the ttH(cc) search defines 11 of them.

The published boundaries of CMS-PAS-HIG-24-018 are not public. higgsflow defines the categories in one of two
ways, both in YAML (``examples/tagging/categories.yaml``):

- explicitly, as rectangles ``{name, p_BplusC: [lo, hi], p_BvsC: [lo, hi]}`` (each interval is [lo, hi), closed
  at 1), which must tile the unit square: :func:`check_categories` refuses an overlap or a gap, naming the
  category or the uncovered cell;
- by efficiency targets (``targets:``), turned into rectangles on labelled jets (:func:`derive_categories`):

  - ``light_mistag`` (default 0.1): the light bin **L** holds p_B+C < t_L, with t_L the cut above which this
    fraction of light jets lies (the loose working point of p_B+C);
  - ``c_fraction`` (default 0.8): above t_L, the p_BvsC split s puts this fraction of the c jets on the c side
    (p_BvsC < s), the rest of the plane being the b side;
  - ``c_bins`` (default [0.2, 0.4, 0.6, 0.8]): on the c side, the p_B+C edges above which these cumulative
    fractions of the c-side c jets lie: **C1** (highest p_B+C, purest against light jets) … **C5**;
  - ``b_bins`` (default [0.2, 0.4, 0.6, 0.8]): on the b side, the p_BvsC edges above which these cumulative
    fractions of the b-side b jets lie: **B1** (highest p_BvsC, purest against c jets) … **B5**.

  With four edges on each side that is 1 + 5 + 5 = 11 categories, b- and c-enriched bins of decreasing purity plus
  one light bin. The derived rectangles are written out with the results, so they can be reused explicitly.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from higgsflow.errors import ConfigError, DataError

__all__ = [
    "DEFAULT_TARGETS",
    "Category",
    "CategoryScheme",
    "assign_categories",
    "category_table",
    "check_categories",
    "derive_categories",
    "load_categories",
    "migration_matrix",
    "plot_migration",
]

AXES = ("p_BplusC", "p_BvsC")
_AXIS_LABEL = {"p_BplusC": "p_B+C", "p_BvsC": "p_BvsC"}
DEFAULT_TARGETS: dict[str, Any] = {
    "light_mistag": 0.1,
    "c_fraction": 0.8,
    "c_bins": [0.2, 0.4, 0.6, 0.8],
    "b_bins": [0.2, 0.4, 0.6, 0.8],
}


@dataclass(frozen=True)
class Category:
    """A rectangle [x_lo, x_hi) × [y_lo, y_hi) of the (p_B+C, p_BvsC) plane (closed at 1)."""

    name: str
    p_BplusC: tuple[float, float]
    p_BvsC: tuple[float, float]

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        (x0, x1), (y0, y1) = self.p_BplusC, self.p_BvsC
        in_x = (x >= x0) & ((x < x1) | ((x1 >= 1.0) & (x <= 1.0)))
        in_y = (y >= y0) & ((y < y1) | ((y1 >= 1.0) & (y <= 1.0)))
        return in_x & in_y

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "p_BplusC": list(self.p_BplusC), "p_BvsC": list(self.p_BvsC)}


@dataclass
class CategoryScheme:
    """Checked categories that tile the plane, with the targets they were derived from (if any)."""

    categories: list[Category]
    targets: dict[str, Any] | None = None
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.categories]

    def as_dict(self) -> dict[str, Any]:
        """``{"categories": [...]}`` (and ``derived_from_targets``), which :func:`load_categories` reads back."""
        out: dict[str, Any] = {"categories": [c.as_dict() for c in self.categories]}
        if self.targets is not None:
            out["derived_from_targets"] = dict(self.targets)
        return out


def _interval(value: Any, where: str, file: Any) -> tuple[float, float]:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise ConfigError(
            "not an interval", file=file, field=where, expected="[lo, hi] with 0 <= lo < hi <= 1"
        )
    try:
        lo, hi = float(value[0]), float(value[1])
    except (TypeError, ValueError):
        raise ConfigError(
            f"not numbers: {value!r}", file=file, field=where, expected="[lo, hi] with 0 <= lo < hi <= 1"
        ) from None
    if not (0.0 <= lo < hi <= 1.0):
        raise ConfigError(
            f"interval [{lo:g}, {hi:g}] is empty or outside [0, 1]",
            file=file,
            field=where,
            expected="[lo, hi] with 0 <= lo < hi <= 1",
        )
    return lo, hi


def _parse(entries: Any, file: Any) -> list[Category]:
    if isinstance(entries, Mapping):  # {name: {p_BplusC: ..., p_BvsC: ...}}
        entries = [{"name": k, **(v if isinstance(v, Mapping) else {})} for k, v in entries.items()]
    if not isinstance(entries, Sequence) or isinstance(entries, str) or not entries:
        raise ConfigError(
            "no categories", file=file, field="categories", expected="a list of {name, p_BplusC, p_BvsC}"
        )
    out, seen = [], set()
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) or not entry["name"]:
            raise ConfigError(
                "category without a name",
                file=file,
                field=f"categories[{i}]",
                expected="{name, p_BplusC, p_BvsC}",
            )
        name = entry["name"]
        if name in seen:
            raise ConfigError("category defined twice", file=file, field=f"categories.{name}")
        seen.add(name)
        unknown = set(entry) - {"name", *AXES}
        if unknown:
            raise ConfigError(
                f"unknown key(s) {', '.join(sorted(unknown))}",
                file=file,
                field=f"categories.{name}",
                expected="name, p_BplusC, p_BvsC",
            )
        for axis in AXES:
            if axis not in entry:
                raise ConfigError("missing interval", file=file, field=f"categories.{name}.{axis}")
        out.append(
            Category(
                name,
                _interval(entry["p_BplusC"], f"categories.{name}.p_BplusC", file),
                _interval(entry["p_BvsC"], f"categories.{name}.p_BvsC", file),
            )
        )
    return out


def check_categories(categories: Sequence[Category], *, file: Any = None) -> None:
    """Raise :class:`ConfigError` unless the rectangles tile the unit square exactly once.

    The edges of all rectangles cut the square into cells; each cell must lie in exactly one category. An overlap
    names both categories and the cell, a gap names the uncovered cell."""
    xs = sorted({0.0, 1.0, *(e for c in categories for e in c.p_BplusC)})
    ys = sorted({0.0, 1.0, *(e for c in categories for e in c.p_BvsC)})
    for x0, x1 in itertools.pairwise(xs):
        for y0, y1 in itertools.pairwise(ys):
            mx, my = np.array([(x0 + x1) / 2]), np.array([(y0 + y1) / 2])
            inside = [c.name for c in categories if c.contains(mx, my)[0]]
            cell = f"p_B+C [{x0:.4g}, {x1:.4g}) × p_BvsC [{y0:.4g}, {y1:.4g})"
            if len(inside) > 1:
                raise ConfigError(
                    f"overlaps {', '.join(inside[:-1])} in {cell}",
                    file=file,
                    field=f"categories.{inside[-1]}",
                    expected="mutually exclusive categories",
                )
            if not inside:
                raise ConfigError(
                    f"gap: no category covers {cell}",
                    file=file,
                    field="categories",
                    expected="categories that cover the whole (p_B+C, p_BvsC) plane [0, 1] × [0, 1]",
                )


def _check_fractions(value: Any, where: str, file: Any, *, many: bool) -> Any:
    values = value if many else [value]
    if many and (not isinstance(value, Sequence) or isinstance(value, str)):
        raise ConfigError("not a list", file=file, field=where, expected="increasing fractions in (0, 1)")
    try:
        values = [float(v) for v in values]
    except (TypeError, ValueError):
        raise ConfigError(f"not a number: {value!r}", file=file, field=where) from None
    if any(not 0 < v < 1 for v in values) or any(b <= a for a, b in itertools.pairwise(values)):
        raise ConfigError(
            f"{value!r} is not a fraction in (0, 1)"
            if not many
            else f"{value!r} are not increasing fractions in (0, 1)",
            file=file,
            field=where,
            expected="increasing fractions in (0, 1)" if many else "a fraction in (0, 1)",
        )
    return values if many else values[0]


def _targets(raw: Any, file: Any) -> dict[str, Any]:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError("not a mapping", file=file, field="targets", expected=", ".join(DEFAULT_TARGETS))
    unknown = set(raw) - set(DEFAULT_TARGETS)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(sorted(unknown))}",
            file=file,
            field="targets",
            expected="; ".join(DEFAULT_TARGETS),
        )
    t = {**DEFAULT_TARGETS, **raw}
    return {
        "light_mistag": _check_fractions(t["light_mistag"], "targets.light_mistag", file, many=False),
        "c_fraction": _check_fractions(t["c_fraction"], "targets.c_fraction", file, many=False),
        "c_bins": _check_fractions(t["c_bins"], "targets.c_bins", file, many=True),
        "b_bins": _check_fractions(t["b_bins"], "targets.b_bins", file, many=True),
    }


def load_categories(source: str | os.PathLike[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    """Read a category YAML (or take a mapping): ``{"categories": [...]}`` → checked :class:`CategoryScheme` under
    ``"scheme"``; ``{"targets": {...}}`` (or None: the defaults) → the checked targets under ``"targets"``."""
    import yaml

    file = None
    if source is None:
        raw: Any = {"targets": {}}
    elif isinstance(source, Mapping):
        raw = source
    else:
        file = Path(source)
        if not file.is_file():
            raise ConfigError("category definition not found", file=file)
        try:
            raw = yaml.safe_load(file.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"not YAML: {' '.join(str(exc).split())[:200]}", file=file) from None
    if not isinstance(raw, Mapping) or not ({"categories", "targets"} & set(raw)):
        raise ConfigError(
            "neither categories nor targets", file=file, expected="a mapping with 'categories:' or 'targets:'"
        )
    if "categories" in raw and "targets" in raw:
        raise ConfigError(
            "both categories and targets given", file=file, field="targets", expected="one of the two"
        )
    if "categories" in raw:
        cats = _parse(raw["categories"], file)
        check_categories(cats, file=file)
        return {"scheme": CategoryScheme(cats, source=None if file is None else os.fspath(file))}
    return {"targets": _targets(raw["targets"], file), "source": None if file is None else os.fspath(file)}


def _upper_edges(values: np.ndarray, fractions: Sequence[float], where: str) -> list[float]:
    """Edges e_k such that a fraction ``fractions[k]`` of ``values`` lies at or above e_k (descending edges)."""
    if values.size == 0:
        raise DataError("no jets to set the edges on", field=where, expected="labelled jets of this flavour")
    v = np.sort(values)[::-1]
    edges = []
    for f in fractions:
        k = min(int(np.ceil(f * v.size)) - 1, v.size - 1)
        edges.append(float(v[max(k, 0)]))
    return edges


def derive_categories(
    p_bplusc: np.ndarray, p_bvsc: np.ndarray, flavour: np.ndarray, targets: Mapping[str, Any] | None = None
) -> CategoryScheme:
    """Rectangles from efficiency ``targets`` (module docstring) on labelled jets (flavour 5/4/0); jets with a
    negative discriminant (not evaluated) are ignored. Raise :class:`DataError` naming the target when two edges
    coincide (too few jets, or a discriminant that saturates)."""
    t = _targets(dict(targets or {}), None)
    x, y = np.asarray(p_bplusc, dtype=np.float64), np.asarray(p_bvsc, dtype=np.float64)
    flavour = np.asarray(flavour)
    ok = (x >= 0) & (y >= 0) & np.isfinite(x) & np.isfinite(y)
    x, y, flavour = x[ok], y[ok], flavour[ok]
    light = np.sort(x[flavour == 0])[::-1]
    if light.size == 0:
        raise DataError("no light jets to set the light bin on", field="targets.light_mistag")
    k = int(np.floor(t["light_mistag"] * light.size + 1e-9))
    t_light = float(np.nextafter(light[min(k, light.size - 1)], 2.0))  # x >= t_light  <=>  x > k-th highest
    tagged = x >= t_light
    c_tag = tagged & (flavour == 4)
    s = _upper_edges(-y[c_tag], [t["c_fraction"]], "targets.c_fraction")[0]  # fraction of c jets with y <= s'
    split = float(np.nextafter(-s, 2.0))  # y < split  <=>  y <= that c jet's value
    c_side = c_tag & (y < split)
    b_side = tagged & (flavour == 5) & (y >= split)
    c_edges = _upper_edges(x[c_side], t["c_bins"], "targets.c_bins")
    b_edges = _upper_edges(y[b_side], t["b_bins"], "targets.b_bins")
    for where, edges, lo in (("targets.c_bins", c_edges, t_light), ("targets.b_bins", b_edges, split)):
        full = [1.0, *edges, lo]
        if any(b >= a for a, b in itertools.pairwise(full)):
            raise DataError(
                f"edges {', '.join(f'{e:.4g}' for e in full)} coincide: too few jets or a saturated discriminant",
                field=where,
                expected="fewer or wider bins, or more labelled jets",
            )
    if not 0 < split < 1 or not 0 < t_light < 1:
        raise DataError(
            f"light cut {t_light:.4g} or b/c split {split:.4g} at the edge of the plane",
            field="targets",
            expected="targets that leave jets on both sides",
        )
    cats = [Category("L", (0.0, t_light), (0.0, 1.0))]
    c_full = [1.0, *c_edges, t_light]
    cats += [Category(f"C{i + 1}", (c_full[i + 1], c_full[i]), (0.0, split)) for i in range(len(c_full) - 1)]
    b_full = [1.0, *b_edges, split]
    cats += [
        Category(f"B{i + 1}", (t_light, 1.0), (b_full[i + 1], b_full[i])) for i in range(len(b_full) - 1)
    ]
    check_categories(cats)
    return CategoryScheme(cats, targets=t)


def assign_categories(p_bplusc: np.ndarray, p_bvsc: np.ndarray, scheme: CategoryScheme) -> np.ndarray:
    """The index (into ``scheme.names``) of each jet's category; -1 for jets without discriminants (negative or
    NaN, e.g. NanoAOD's -1 where the tagger did not run)."""
    x, y = np.asarray(p_bplusc, dtype=np.float64), np.asarray(p_bvsc, dtype=np.float64)
    out = np.full(x.shape, -1, dtype=np.int64)
    valid = np.isfinite(x) & np.isfinite(y) & (x >= 0) & (y >= 0)
    for i, cat in enumerate(scheme.categories):
        inside = valid & cat.contains(x, y)
        if (out[inside] != -1).any():  # cannot happen for a checked scheme
            raise ConfigError("categories overlap", field=f"categories.{cat.name}")
        out[inside] = i
    return out


def category_table(category: np.ndarray, flavour: np.ndarray, names: Sequence[str]) -> list[dict[str, Any]]:
    """Per category: jets of each flavour, the efficiency of each flavour (fraction of all its evaluated jets in
    the category) and the purity (fraction of the category's jets of each flavour)."""
    category, flavour = np.asarray(category), np.asarray(flavour)
    evaluated = category >= 0
    totals = {f: int((evaluated & (flavour == code)).sum()) for code, f in ((5, "b"), (4, "c"), (0, "light"))}
    rows = []
    for i, name in enumerate(names):
        sel = category == i
        n = {f: int((sel & (flavour == code)).sum()) for code, f in ((5, "b"), (4, "c"), (0, "light"))}
        n_all = int(sel.sum())
        row: dict[str, Any] = {"category": name, "jets": n_all}
        for f in ("b", "c", "light"):
            row[f"n_{f}"] = n[f]
            row[f"eff_{f}"] = n[f] / totals[f] if totals[f] else float("nan")
            row[f"purity_{f}"] = n[f] / n_all if n_all else float("nan")
        rows.append(row)
    return rows


def migration_matrix(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int) -> np.ndarray:
    """Counts of (row index, column index) pairs, ignoring negative indices."""
    rows, cols = np.asarray(rows), np.asarray(cols)
    ok = (rows >= 0) & (cols >= 0)
    m = np.zeros((n_rows, n_cols), dtype=np.int64)
    np.add.at(m, (rows[ok], cols[ok]), 1)
    return m


def plot_migration(
    counts: np.ndarray,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    path: str | os.PathLike[str],
    *,
    ylabel: str = "true hadron flavour",
    xlabel: str = "tagging category",
    title: str | None = None,
    com: float | None = None,
    overwrite: bool = False,
) -> Path | None:
    """Draw a migration matrix: each row normalised to 100% (the fraction of that row's jets in each column), with
    the percentage and the row's jet count written in; CMS style. ``title`` (e.g. the tagger) is added to the
    x-axis label, so that it never runs into the CMS header."""
    from higgsflow.plotting import cms_label, save_figure, style

    plt, _ = style()
    counts = np.asarray(counts, dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    frac = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    width = max(8.0, 0.8 * len(col_labels) + 4.0)
    height = max(6.0, 0.8 * len(row_labels) + 4.0)
    fig, ax = plt.subplots(figsize=(width, height))
    image = ax.imshow(100 * frac, cmap="Blues", vmin=0, vmax=100, aspect="auto")
    for i in range(frac.shape[0]):
        for j in range(frac.shape[1]):
            if counts[i, j] > 0:
                colour = "white" if frac[i, j] > 0.55 else "black"
                text = "<1" if frac[i, j] < 0.005 else f"{100 * frac[i, j]:.0f}"
                ax.text(j, i, text, ha="center", va="center", fontsize=14, color=colour)
    ax.set_xticks(range(len(col_labels)), list(col_labels), fontsize=16)
    ax.set_yticks(
        range(len(row_labels)),
        [f"{r} ({int(t)})" for r, t in zip(row_labels, totals[:, 0], strict=True)],
        fontsize=16,
    )
    ax.minorticks_off()
    ax.tick_params(which="both", length=0)
    ax.set_xlabel(xlabel if title is None else f"{xlabel} — {title}", fontsize=20)
    ax.set_ylabel(ylabel + " (jets)", fontsize=20)
    bar = fig.colorbar(image, ax=ax, pad=0.02)
    bar.set_label("fraction of the row's jets [%]", fontsize=16)
    bar.ax.tick_params(labelsize=14)
    cms_label(ax, com=com)
    fig.tight_layout()
    return save_figure(fig, path, overwrite=overwrite)
