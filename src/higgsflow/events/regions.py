"""The 27 analysis regions of the ttH(cc) search built from the event classifier's scores, and their pyhf fit.

Per channel (0L, 1L, 2L), with the classifier's class scores ``score_<class>`` (``higgsflow predict``):

- D_ttX = score_ttHcc + score_ttHbb + score_ttZcc + score_ttZbb (``D_ttX``), and
  D_tt+jets = score_ttlf + score_ttb + score_tt2b + score_ttc + score_tt2c (``D_ttjets``);
- D_ttX > cut (per channel) → 4 signal regions ``<ch>_SR_<X>`` by the largest of the four signal scores;
  the fitted observable is D_ttX on [cut, 1];
- otherwise → 5 tt+jets control regions ``<ch>_CR_<Y>`` by the largest tt+jets score; the fitted observable is
  score_Y / D_tt+jets on [0.2, 1] (the largest of five fractions is ≥ 0.2);

3 × (4 + 5) = 27 regions. Ties go to the class listed first, so the regions are mutually exclusive by
construction; :func:`check_regions` verifies it (and that they cover every selected event) for any region
config on random score vectors, and raises :class:`ConfigError` naming the file and the two overlapping regions.

The region config (``examples/tthcc/regions.yaml``) gives the scheme's boundaries (``Scheme``: the D_ttX cut per
channel and the binnings) or an explicit list ``Regions`` (``Name``, ``Selection``, ``Variable``, ``Binning``,
``Label`` as in :mod:`higgsflow.stats.config`) that replaces the scheme.

:func:`analysis_config` turns the regions into a :mod:`higgsflow.stats` analysis config (samples ttHcc, ttHbb,
ttZcc, ttZbb, tt+lf/b/2b/c/2c and QCD in 0L selected by the ``label_*`` columns; POIs mu_ttHcc, mu_ttHbb, mu_ttZcc,
mu_ttZbb; free-floating normalisations k_ttb, k_tt2b, k_ttc, k_tt2c; luminosity, cross sections, MC statistics)
and :func:`build_fit` fills the templates and builds the pyhf workspace with :mod:`higgsflow.stats`. Nothing of
HistFactory is re-implemented here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from higgsflow.errors import ConfigError, DataError, SchemaError

__all__ = [
    "SIGNALS",
    "TTJETS",
    "XSEC_UNCERTAINTIES",
    "analysis_config",
    "assign_regions",
    "build_fit",
    "check_regions",
    "default_regions",
    "load_regions",
    "read_scored_events",
    "region_columns",
    "write_fit",
]

log = logging.getLogger(__name__)

SIGNALS = ("ttHcc", "ttHbb", "ttZcc", "ttZbb")
TTJETS = ("ttlf", "ttb", "tt2b", "ttc", "tt2c")
_CHANNELS = {"0L": 0, "1L": 1, "2L": 2}
_SCHEME_KEYS = {"DttXCut", "SignalBinning", "ControlBinning"}
_DEFAULT_CUT = {"0L": 0.5, "1L": 0.5, "2L": 0.5}
#: relative cross-section uncertainties (up, down) on the samples: ttH at 13 TeV (LHCHWG YR4, scale ⊕ PDF+αs:
#: +6.8%/−9.9%), ttZ (±10%, approximate NLO scale ⊕ PDF), tt̄ (±5%, NNLO+NNLL), QCD multijet in 0L (±50%)
XSEC_UNCERTAINTIES: dict[str, tuple[float, float]] = {
    "ttH": (0.068, -0.099),
    "ttZ": (0.10, -0.10),
    "tt": (0.05, -0.05),
    "QCD": (0.50, -0.50),
}


def _largest(name: str, group: Sequence[str]) -> str:
    """Selection: ``score_<name>`` is the largest of ``group`` (ties to the class listed first)."""
    i = group.index(name)
    parts = [f"(score_{name} > score_{o})" for o in group[:i]] + [
        f"(score_{name} >= score_{o})" for o in group[i + 1 :]
    ]
    return " & ".join(parts)


def default_regions(
    cut: float | Mapping[str, float] | None = None,
    *,
    signal_bins: int = 4,
    control_binning: Sequence[float] = (0.2, 0.4, 0.6, 0.8, 1.0),
) -> list[dict[str, Any]]:
    """The 27 regions (module docstring) as :mod:`higgsflow.stats` region entries: the D_ttX ``cut`` per channel
    (one number for all, default 0.5), ``signal_bins`` equal bins of D_ttX on [cut, 1] and ``control_binning``
    of score_Y / D_tt+jets."""
    cuts = dict(_DEFAULT_CUT)
    if isinstance(cut, Mapping):
        cuts.update({str(k): float(v) for k, v in cut.items()})
    elif cut is not None:
        cuts = {k: float(cut) for k in cuts}
    out = []
    for ch, k in _CHANNELS.items():
        c = cuts[ch]
        for x in SIGNALS:
            out.append(
                {
                    "Name": f"{ch}_SR_{x}",
                    "Selection": f"(channel == {k}) & (D_ttX > {c:g}) & {_largest(x, SIGNALS)}",
                    "Variable": "D_ttX",
                    "Binning": [float(v) for v in np.linspace(c, 1.0, signal_bins + 1)],
                    "Label": "D_ttX",
                }
            )
        for y in TTJETS:
            out.append(
                {
                    "Name": f"{ch}_CR_{y}",
                    "Selection": f"(channel == {k}) & (D_ttX <= {c:g}) & {_largest(y, TTJETS)}",
                    "Variable": f"score_{y} / D_ttjets",
                    "Binning": [float(v) for v in control_binning],
                    "Label": f"D_{y} / D_tt+jets",
                }
            )
    return out


def load_regions(
    source: str | os.PathLike[str] | Mapping[str, Any], *, check: bool = True
) -> list[dict[str, Any]]:
    """The regions of a region config (YAML file or mapping; module docstring), checked for overlaps and
    coverage (:func:`check_regions`) unless ``check=False``."""
    file = None
    if isinstance(source, (str, os.PathLike)):
        import yaml

        file = os.fspath(source)
        if not Path(file).is_file():
            raise ConfigError("region config not found", file=file)
        try:
            raw = yaml.safe_load(Path(file).read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"invalid YAML: {exc}", file=file) from exc
    else:
        raw = dict(source)
    if not isinstance(raw, Mapping):
        raise ConfigError("expected a mapping", file=file, field="<top>", expected="Scheme and/or Regions")
    unknown = set(raw) - {"Scheme", "Regions"}
    if unknown:
        raise ConfigError(
            f"unknown key(s) {sorted(unknown)}", file=file, field="<top>", expected="Scheme, Regions"
        )
    if raw.get("Regions"):
        regions = []
        for i, r in enumerate(raw["Regions"]):
            if not isinstance(r, Mapping) or "Name" not in r or "Selection" not in r:
                raise ConfigError("a region needs Name and Selection", file=file, field=f"Regions[{i}]")
            bad = set(r) - {"Name", "Selection", "Variable", "Binning", "Label", "MergeBins"}
            if bad:
                raise ConfigError(f"unknown key(s) {sorted(bad)}", file=file, field=f"Regions.{r['Name']}")
            regions.append(dict(r))
    else:
        scheme = raw.get("Scheme") or {}
        bad = set(scheme) - _SCHEME_KEYS
        if bad:
            raise ConfigError(
                f"unknown key(s) {sorted(bad)}",
                file=file,
                field="Scheme",
                expected=", ".join(sorted(_SCHEME_KEYS)),
            )
        cut = scheme.get("DttXCut")
        if isinstance(cut, Mapping):
            wrong = [k for k in cut if k not in _CHANNELS]
            if wrong:
                raise ConfigError(
                    f"unknown channel {wrong[0]!r}", file=file, field="Scheme.DttXCut", expected="0L, 1L, 2L"
                )
        values = list(cut.values()) if isinstance(cut, Mapping) else [cut] if cut is not None else []
        for v in values:
            if not isinstance(v, (int, float)) or not 0 < v < 1:
                raise ConfigError(f"D_ttX cut {v!r} outside (0, 1)", file=file, field="Scheme.DttXCut")
        regions = default_regions(
            cut,
            signal_bins=int(scheme.get("SignalBinning", 4)),
            control_binning=scheme.get("ControlBinning", (0.2, 0.4, 0.6, 0.8, 1.0)),
        )
    names = [r["Name"] for r in regions]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError("region name given twice", file=file, field=dup[0])
    if check:
        check_regions(regions, file=file)
    return regions


def region_columns(columns: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The per-event columns of ``columns`` (``score_<class>`` of the nine classes, ``channel``, ``label_*``,
    ``weight`` ...; jagged ones are dropped) with ``D_ttX`` and ``D_ttjets``."""
    missing = [f"score_{c}" for c in (*SIGNALS, *TTJETS) if f"score_{c}" not in columns]
    if missing:
        raise DataError(
            "class score missing", field=", ".join(missing), expected="higgsflow predict's score_<class>"
        )
    out = {}
    for k, v in columns.items():
        try:
            arr = np.asarray(v)
        except (ValueError, TypeError):  # a jagged column (jets, leptons): not used by the regions
            continue
        if arr.ndim == 1:
            out[k] = arr
    out["D_ttX"] = sum(out[f"score_{c}"].astype(np.float64) for c in SIGNALS)
    out["D_ttjets"] = sum(out[f"score_{c}"].astype(np.float64) for c in TTJETS)
    return out


def read_scored_events(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
) -> dict[str, np.ndarray]:
    """The per-event columns the fit needs (``score_<class>``, ``label_<class>``, ``channel``, ``weight``), and
    ``event_id`` where the file has it (to match events across files), of the event files scored by ``higgsflow
    predict`` (several files are concatenated)."""
    from higgsflow.data.io import list_columns, read_table

    files = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    parts: dict[str, list[np.ndarray]] = {}
    for f in files:
        tree = "events"  # a ROOT event file's tree; higgsflow predict writes its copy as "tree"
        try:
            available = list_columns(f, tree=tree)
        except SchemaError:
            tree = "tree"
            available = list_columns(f, tree=tree)
        need = [f"score_{c}" for c in (*SIGNALS, *TTJETS)] + ["channel", "weight"]
        missing = [c for c in need if c not in available]
        if missing:
            raise DataError(
                "not a scored event file",
                file=f,
                field=", ".join(missing),
                expected="higgsflow predict's score_<class> of the event classifier on prepared events",
            )
        cols = [*need, *[c for c in available if c.startswith("label_") or c in ("score_QCD", "event_id")]]
        table = read_table(f, cols, tree=tree)
        for c in cols:
            parts.setdefault(c, []).append(np.asarray(table[c]))
    return {k: np.concatenate(v) for k, v in parts.items()}


def assign_regions(
    columns: Mapping[str, Any], regions: Sequence[Mapping[str, Any]], *, file: Any = None
) -> np.ndarray:
    """The index of each event's region in ``regions`` (-1: none); raise :class:`ConfigError` naming the two
    regions if an event falls in two."""
    from higgsflow.stats.templates import evaluate_selection

    cols = region_columns(columns)
    n = len(cols["D_ttX"])
    out = np.full(n, -1, dtype=np.int64)
    for i, r in enumerate(regions):
        sel = np.asarray(
            evaluate_selection(r["Selection"], cols, file=file, field=f"Regions.{r['Name']}.Selection"),
            dtype=bool,
        )
        both = sel & (out >= 0)
        if both.any():
            j = int(np.flatnonzero(both)[0])
            other = regions[int(out[j])]["Name"]
            raise ConfigError(
                f"regions {other} and {r['Name']} overlap ({int(both.sum())} event(s), first: event {j})",
                file=file,
                field=f"{other}, {r['Name']}",
                expected="mutually exclusive selections",
            )
        out[sel] = i
    return out


def check_regions(
    regions: Sequence[Mapping[str, Any]], *, file: Any = None, n: int = 20_000, seed: int = 0
) -> None:
    """Check on ``n`` random score vectors per channel (Dirichlet, with a QCD score too) that every event is in
    exactly one region: an overlap raises :class:`ConfigError` naming the file and the two regions, an event in
    no region raises one naming the channel and the scores."""
    rng = np.random.default_rng(seed)
    classes = (*SIGNALS, *TTJETS, "QCD")
    alpha = np.full(len(classes), 0.3)
    for ch, k in _CHANNELS.items():
        s = rng.dirichlet(alpha, size=n)
        # the corners too: one class at ~1 and exact ties between two classes
        s = np.concatenate([s, np.eye(len(classes)), np.full((1, len(classes)), 1.0 / len(classes))])
        cols = {f"score_{c}": s[:, i] for i, c in enumerate(classes)}
        cols["channel"] = np.full(len(s), k)
        idx = assign_regions(cols, regions, file=file)
        if (idx < 0).any():
            j = int(np.flatnonzero(idx < 0)[0])
            scores = ", ".join(f"{c} {s[j, i]:.3f}" for i, c in enumerate(classes))
            raise ConfigError(
                f"{int((idx < 0).sum())} of {len(s)} random {ch} events fall in no region (first: {scores})",
                file=file,
                field="Regions",
                expected="regions that cover every selected event",
            )


def analysis_config(
    regions: Sequence[Mapping[str, Any]],
    *,
    lumi: float = 138.0,
    lumi_uncertainty: float = 0.016,
    qcd: bool = True,
    mcstat_threshold: float = 0.01,
    sqrt_s: float | None = 13.0,
    poi_bounds: tuple[float, float] = (-20.0, 50.0),
    norm_bounds: tuple[float, float] = (0.0, 5.0),
    min_background: float | None = 1.0,
) -> dict[str, Any]:
    """The :mod:`higgsflow.stats` analysis config (a mapping for :func:`higgsflow.stats.load_config`) of the fit
    in ``regions``: event weights ``weight`` (pb) × ``lumi`` (fb⁻¹) × 1000; samples selected by ``label_<class>``;
    QCD (``qcd``) only in the 0L regions; POIs mu_ttHcc (the default), mu_ttHbb, mu_ttZcc, mu_ttZbb; free
    k_ttb, k_tt2b, k_ttc, k_tt2c; ``lumi`` parameter; cross-section log-normals of :data:`XSEC_UNCERTAINTIES`
    (ttlf's only: the other tt+jets are free); MC statistics above ``mcstat_threshold``. Bins with less than
    ``min_background`` expected background events are merged with their neighbours (a region's own
    ``MergeBins`` wins)."""
    names = [r["Name"] for r in regions]
    keys = ("Name", "Selection", "Variable", "Binning", "Label", "MergeBins")
    regions_out = [{k: r[k] for k in keys if k in r} for r in regions]
    if min_background is not None:
        for r in regions_out:
            r.setdefault("MergeBins", {"MinBackground": min_background})
    samples = [{"Name": c, "Selection": f"label_{c} == 1"} for c in (*SIGNALS, *TTJETS)]
    zero_l = [n for n in names if n.startswith("0L_")]
    if qcd and zero_l:
        samples.append({"Name": "QCD", "Selection": "label_QCD == 1", "Regions": zero_l})
    norm = [{"Name": f"mu_{c}", "Samples": [c], "Nominal": 1.0, "Bounds": list(poi_bounds)} for c in SIGNALS]
    norm += [
        {"Name": f"k_{c}", "Samples": [c], "Nominal": 1.0, "Bounds": list(norm_bounds)} for c in TTJETS[1:]
    ]

    def lognormal(name: str, key: str, on: list[str]) -> dict[str, Any]:
        up, down = XSEC_UNCERTAINTIES[key]
        return {"Name": name, "Type": "Normalization", "Up": {"Normalization": up},
                "Down": {"Normalization": down}, "Samples": on}  # fmt: skip

    systs = [
        lognormal("xsec_ttH", "ttH", ["ttHcc", "ttHbb"]),
        lognormal("xsec_ttZ", "ttZ", ["ttZcc", "ttZbb"]),
        lognormal("xsec_tt", "tt", ["ttlf"]),
    ]
    if qcd and zero_l:
        systs.append(lognormal("xsec_QCD", "QCD", ["QCD"]))
    general: dict[str, Any] = {
        "Measurement": "ttHcc",
        "POI": [f"mu_{c}" for c in SIGNALS],
        "Lumi": {"Value": lumi, "Uncertainty": lumi_uncertainty},
        "MCStat": {"Threshold": mcstat_threshold},
        "Weight": f"weight * {lumi * 1000.0:g}",
    }
    if sqrt_s is not None:
        general["SqrtS"] = sqrt_s
    return {
        "General": general,
        "Regions": regions_out,
        "Samples": samples,
        "NormFactors": norm,
        "Systematics": systs,
    }


def build_fit(
    columns: Mapping[str, Any],
    regions: Sequence[Mapping[str, Any]] | str | os.PathLike[str],
    *,
    variations: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any]]] | None = None,
    drop_empty: bool = False,
    **kwargs: Any,
) -> tuple[Any, dict[str, Any]]:
    """The analysis config and the pyhf workspace of the fit of ``columns`` (the scored events: ``score_<class>``,
    ``label_<class>``, ``channel``, ``weight`` in pb) in ``regions`` (a list, or a region config file);
    ``kwargs`` go to :func:`analysis_config`. The data are the Asimov data of the nominal model (no observed
    data). Returns ``(AnalysisConfig, workspace spec)``; ``higgsflow.stats.StatModel(spec)`` fits it.

    ``variations`` maps a nuisance-parameter name to the (up, down) columns of the same events after a shifted
    input (tagger-score variations, a jet-energy-scale shift of the detector model: events re-selected and
    re-scored): each becomes a shape systematic (pyhf ``histosys``, normalisation included) of every sample, the
    events migrating between regions as their scores change.

    A region without any expected event is an error naming it, or (``drop_empty``) left out with a warning."""
    config, _, spec = _build(columns, regions, variations=variations, drop_empty=drop_empty, **kwargs)
    return config, spec


def _build(
    columns: Mapping[str, Any],
    regions: Sequence[Mapping[str, Any]] | str | os.PathLike[str],
    *,
    variations: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any]]] | None,
    drop_empty: bool,
    **kwargs: Any,
) -> tuple[Any, dict[Any, Any], dict[str, Any]]:
    from higgsflow.stats import build_workspace, load_config, templates_from_arrays

    if isinstance(regions, (str, os.PathLike)):
        regions = load_regions(regions)
    cols = region_columns(columns)
    if drop_empty:
        idx = assign_regions(cols, regions)
        w = np.asarray(cols["weight"], dtype=np.float64)
        keep = [r for i, r in enumerate(regions) if np.any(w[idx == i] > 0)]
        dropped = [r["Name"] for r in regions if r not in keep]
        if dropped:
            log.warning("regions without events left out of the fit: %s", ", ".join(dropped))
        regions = keep
    if "label_QCD" not in cols or not np.any(np.asarray(cols["label_QCD"]) == 1):
        kwargs.setdefault("qcd", False)
    raw = analysis_config(regions, **kwargs)
    arrays: dict[str, Mapping[str, np.ndarray]] = {s["Name"]: cols for s in raw["Samples"]}
    for name, pair in (variations or {}).items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ConfigError("a variation needs (up, down) columns", field=f"variations.{name}")
        for direction, values in zip(("up", "down"), pair, strict=True):
            arrays[f"{name}:{direction}"] = region_columns(values)
        raw["Systematics"].append(
            {
                "Name": name,
                "Type": "Shape",
                "Up": {"Sample": f"{name}:up"},
                "Down": {"Sample": f"{name}:down"},
            }
        )
    config = load_config(raw)
    templates = templates_from_arrays(config, arrays)
    return config, templates, build_workspace(config, templates)


def write_fit(
    columns: Mapping[str, Any],
    regions: Sequence[Mapping[str, Any]] | str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    variations: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any]]] | None = None,
    drop_empty: bool = False,
    overwrite: bool = False,
    **kwargs: Any,
) -> tuple[Path, Path]:
    """:func:`build_fit` written as ``out`` (the pyhf workspace JSON) and ``out``'s ``.meta.json`` (each region's
    observable, label and final bin edges, √s, luminosity), as ``higgsflow stats build`` writes them, so that the
    ``higgsflow stats`` commands (fit, limit, significance, kappa, yields with pre-/post-fit stack plots per region)
    read it. Both outputs are checked first and written together (nothing half-written)."""
    import json

    from higgsflow.outputs import check_outputs
    from higgsflow.stats import metadata_path, plot_metadata, write_workspace

    out = Path(out)
    meta_out = metadata_path(out)
    check_outputs([out, meta_out], overwrite=overwrite)
    config, templates, spec = _build(columns, regions, variations=variations, drop_empty=drop_empty, **kwargs)
    meta = plot_metadata(config, templates)
    new = [p for p in (out, meta_out) if not p.exists()]
    try:
        write_workspace(spec, out, overwrite=overwrite)
        meta_out.write_text(json.dumps(meta, indent=1))
    except BaseException:
        for p in new:
            p.unlink(missing_ok=True)
        raise
    return out, meta_out
