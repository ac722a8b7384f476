"""SANNT on a user's analysis: the analysis YAML of ``higgsflow stats`` plus a ``SANNT`` section, files in, a
trained network, its templates and the pyhf workspace out (``higgsflow sannt train``; docs/sannt.md).

The config is the one ``higgsflow stats build`` reads (:func:`higgsflow.stats.load_config`): samples and their
files, the POIs as ``NormFactors``, the weights, and the systematics as normalisation effects, weight columns or
varied files. Its one region gives the preselection. With the default node binning SANNT trains from scratch a
network with one output node per bin and the region keeps one bin per node; with score binning it fine-tunes the
CENNT classifier and splits the region into one category per class, binning the score in each. The ``SANNT``
section names the input features and the training settings::

    SANNT:
      Features: [x0, x1, x2]     # input columns, in this order
      Binning: nodes             # or score
      Bins: 8                    # nodes per class (nodes), or bins of the score per category (score)
      Method: SANNT              # or CENNT (the cross-entropy baseline, always score-binned)
      CrossSection: {mu: {Value: 0.05, Unit: pb}}   # report σ of the cross section too
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from higgsflow.errors import ConfigError, DataError, SchemaError

__all__ = ["SanntRun", "SanntSettings", "load_analysis", "train_analysis"]

log = logging.getLogger(__name__)

_SETTINGS_KEYS = {
    "Features",
    "Bins",
    "Binning",
    "Method",
    "FineTune",
    "Hidden",
    "Bandwidth",
    "BatchEvents",
    "Epochs",
    "ValidationFraction",
    "Seed",
    "POIWeights",
    "CrossSection",
    "ScoreBranch",
}


@dataclass
class SanntSettings:
    """The ``SANNT`` section of the config.

    Attributes
    ----------
    features: input columns (network inputs, in this order).
    binning: ``Binning``: ``"nodes"`` (default; INFERNO's) or ``"score"``.
    n_bins: ``Bins``. ``"nodes"``: output nodes per class: the network has C × ``n_bins`` outputs (C = POIs +
        1), every node is a bin and an event goes to the bin of its highest node, so the fit has one region of
        up to C × ``n_bins`` bins (nodes without background are merged into the bin below). ``"score"``: bins of
        the output score per category: the network has C outputs; an event goes to the category of its highest
        output and is binned in that output on [1/C, 1], so the fit has C regions of ``n_bins`` bins each. Both
        before any ``MergeBins`` of the region.
    method: ``SANNT`` (default) or ``CENNT`` (the classifier, always binned on its class scores).
    fine_tune: SANNT starts from the CENNT network (``"score"`` binning only) or from scratch; ``None``: the
        default of the binning (``"score"``: fine-tune, ``"nodes"``: from scratch).
    hidden, bandwidth, ce_epochs, sannt_epochs: network widths, surrogate kernel width, maximum epochs.
    batch_events: node binning: events of the largest sample per SANNT training batch (each sample is split
        into as many batches; score binning trains on the full set as one batch).
    validation: fraction of each sample's events used for early stopping (weights scaled up accordingly).
    seed: initialisation, validation split and batches.
    poi_weights: ω per POI in the loss Σ ω σ(μ) (default 1/σ of the CENNT network: relative uncertainties).
    cross_sections: ``{poi: (value, unit)}``: σ(μ) × value is reported in that unit.
    score_branch: prefix of the branches written by ``higgsflow sannt predict``.
    """

    features: list[str]
    n_bins: int = 8
    binning: str = "nodes"
    method: str = "SANNT"
    fine_tune: bool | None = None
    hidden: tuple[int, ...] = (64, 64)
    bandwidth: float | None = None
    ce_epochs: int = 60
    sannt_epochs: int = 150
    batch_events: int = 2000
    validation: float = 0.3
    seed: int = 0
    poi_weights: dict[str, float] | None = None
    cross_sections: dict[str, tuple[float, str]] = field(default_factory=dict)
    score_branch: str = "sannt"


def _keys(d: Any, allowed: set[str], where: str, file: str | None) -> Mapping[str, Any]:
    if not isinstance(d, Mapping):
        raise ConfigError("expected a mapping", file=file, field=where)
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {unknown}",
            file=file,
            field=where,
            expected="one of: " + ", ".join(sorted(allowed)),
        )
    return d


def _int(value: Any, file: str | None, where: str, least: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConfigError(f"{value!r}", file=file, field=where, expected=f"an integer >= {least}")
    return value


def _check_fine_tune(binning: str, fine_tune: bool | None, file: str | None) -> None:
    if fine_tune and binning == "nodes":
        raise ConfigError(
            "node binning trains from scratch (the CENNT network has one output per class, not per bin)",
            file=file,
            field="SANNT.FineTune",
            expected="false, or Binning: score",
        )


def _settings(raw: Any, pois: list[str], file: str | None) -> SanntSettings:
    s = _keys(raw, _SETTINGS_KEYS, "SANNT", file)
    feats = s.get("Features")
    if not isinstance(feats, list) or not feats or not all(isinstance(f, str) for f in feats):
        raise ConfigError(f"{feats!r}", file=file, field="SANNT.Features", expected="a list of column names")
    if len(set(feats)) != len(feats):
        raise ConfigError("a feature repeats", file=file, field="SANNT.Features", expected="distinct columns")
    method = str(s.get("Method", "SANNT")).upper()
    if method not in ("SANNT", "CENNT"):
        raise ConfigError(f"{s.get('Method')!r}", file=file, field="SANNT.Method", expected="SANNT or CENNT")
    hidden = s.get("Hidden", [64, 64])
    if not isinstance(hidden, list) or not hidden:
        raise ConfigError(f"{hidden!r}", file=file, field="SANNT.Hidden", expected="a list of layer widths")
    hidden = tuple(_int(h, file, "SANNT.Hidden") for h in hidden)
    epochs = _keys(s.get("Epochs", {}), {"CENNT", "SANNT"}, "SANNT.Epochs", file)
    val = s.get("ValidationFraction", 0.3)
    if not isinstance(val, (int, float)) or not 0 < val < 1:
        raise ConfigError(
            f"{val!r}", file=file, field="SANNT.ValidationFraction", expected="a number in (0, 1)"
        )
    bw = s.get("Bandwidth")
    if bw is not None and (not isinstance(bw, (int, float)) or not bw > 0):
        raise ConfigError(f"{bw!r}", file=file, field="SANNT.Bandwidth", expected="a positive number")
    weights = s.get("POIWeights")
    if weights is not None:
        _keys(weights, set(pois), "SANNT.POIWeights", file)
        for k, v in weights.items():
            if not isinstance(v, (int, float)) or v < 0:
                raise ConfigError(
                    f"{v!r}", file=file, field=f"SANNT.POIWeights.{k}", expected="a number >= 0"
                )
        weights = {p: float(weights.get(p, 0.0)) for p in pois}
    xs = {}
    for poi, spec in _keys(s.get("CrossSection", {}), set(pois), "SANNT.CrossSection", file).items():
        where = f"SANNT.CrossSection.{poi}"
        _keys(spec, {"Value", "Unit"}, where, file)
        value = spec.get("Value")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ConfigError(f"{value!r}", file=file, field=f"{where}.Value", expected="a positive number")
        xs[poi] = (float(value), str(spec.get("Unit", "")))
    binning = s.get("Binning", "nodes")
    if binning not in ("nodes", "score"):
        raise ConfigError(f"{binning!r}", file=file, field="SANNT.Binning", expected="nodes or score")
    fine_tune = s.get("FineTune")
    if fine_tune is not None and not isinstance(fine_tune, bool):
        raise ConfigError(f"{fine_tune!r}", file=file, field="SANNT.FineTune", expected="true or false")
    _check_fine_tune(binning, fine_tune, file)
    branch = str(s.get("ScoreBranch", "sannt"))
    if not branch.isidentifier():
        raise ConfigError(f"{branch!r}", file=file, field="SANNT.ScoreBranch", expected="a name like sannt")
    return SanntSettings(
        features=list(feats),
        n_bins=_int(s.get("Bins", 8), file, "SANNT.Bins"),
        binning=binning,
        method=method,
        fine_tune=fine_tune,
        hidden=hidden,
        bandwidth=None if bw is None else float(bw),
        ce_epochs=_int(epochs.get("CENNT", 60), file, "SANNT.Epochs.CENNT"),
        sannt_epochs=_int(epochs.get("SANNT", 150), file, "SANNT.Epochs.SANNT"),
        batch_events=_int(s.get("BatchEvents", 2000), file, "SANNT.BatchEvents"),
        validation=float(val),
        seed=_int(s.get("Seed", 0), file, "SANNT.Seed", least=0),
        poi_weights=weights,
        cross_sections=xs,
        score_branch=branch,
    )


def load_analysis(path: str | os.PathLike[str], *, input_dir: str | os.PathLike[str] | None = None):
    """``(AnalysisConfig, SanntSettings, raw YAML mapping)`` of a SANNT config; ConfigError naming the key for
    anything SANNT cannot train on. Relative file paths are resolved against ``input_dir`` (default: the
    config's folder), as in ``higgsflow stats build --inputs``."""
    import yaml

    from higgsflow.stats.config import load_config

    if input_dir is not None and not Path(input_dir).is_dir():
        raise DataError("input folder not found", file=input_dir, expected="a folder (--inputs)")
    cfg = load_config(Path(path), input_dir=input_dir)  # checks the file, the YAML and the analysis sections
    raw = yaml.safe_load(Path(path).read_text())
    f = cfg.file
    if "SANNT" not in raw:
        raise ConfigError("missing section", file=f, field="SANNT", expected="SANNT: {Features: [...]}")
    settings = _settings(raw["SANNT"], cfg.pois, f)
    if len(cfg.regions) != 1:
        raise ConfigError(
            f"{len(cfg.regions)} regions",
            file=f,
            field="Regions",
            expected="one region (its Selection is the preselection; SANNT makes one region per category)",
        )
    region = cfg.regions[0]
    for key, value in (("Variable", region.variable), ("Binning", region.binning)):
        if value is not None:
            raise ConfigError(
                "is set by SANNT (the network score)", file=f, field=f"Regions.{region.name}.{key}"
            )
    signal: dict[str, str] = {}
    for nf in cfg.norm_factors:
        if nf.name not in cfg.pois:
            raise ConfigError(
                "a NormFactor that is not a POI", file=f, field=f"NormFactors.{nf.name}", expected="POIs only"
            )
        for s in nf.samples:
            if s in signal:
                raise ConfigError(
                    f"sample scaled by two POIs ({signal[s]}, {nf.name})",
                    file=f,
                    field=f"NormFactors.{nf.name}.Samples",
                    expected="one POI per sample",
                )
            signal[s] = nf.name
    for syst in cfg.systematics:
        if syst.type == "ShapeSys":
            raise ConfigError(
                "ShapeSys is not supported by SANNT",
                file=f,
                field=f"Systematics.{syst.name}.Type",
                expected="Normalization, Shape or NormPlusShape",
            )
        for direction, src in (("Up", syst.up), ("Down", syst.down)):
            for key in ("Variable", "Sample"):
                if key in src:
                    raise ConfigError(
                        "SANNT's observable is the network score",
                        file=f,
                        field=f"Systematics.{syst.name}.{direction}.{key}",
                        expected="a varied file (Path) or a weight column (Weight)",
                    )
    if not cfg.mc_samples:
        raise ConfigError("no simulated sample", file=f, field="Samples")
    return cfg, settings, raw


# ----------------------------------------------------------------------------------------------- reading
@dataclass
class _File:
    path: Path
    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0


def _read(path: str, tree: str, need: Mapping[str, str], file: str | None) -> _File:
    """All flat columns of ``path``; ConfigError naming the config key for a column in ``need`` (column → key)
    that the file lacks."""
    import awkward as ak

    from higgsflow.data.io import read_table

    try:
        table = read_table(path, tree=tree)
    except SchemaError as exc:
        raise DataError(exc.message, file=path, field=exc.field, expected=exc.expected) from exc
    cols: dict[str, np.ndarray] = {}
    for name in table.fields:
        try:
            cols[name] = ak.to_numpy(table[name]).astype(float)
        except (ValueError, TypeError):  # jagged or non-numeric: not usable here
            continue
    for col, key in need.items():
        if col not in cols:
            avail = sorted(cols)
            raise ConfigError(
                f"unknown column {col!r} (not in {path})",
                file=file,
                field=key,
                expected="a column of the file: "
                + ", ".join(avail[:30])
                + (" ..." if len(avail) > 30 else ""),
            )
    return _File(Path(path), cols)


def _columns(expr: str | None, key: str, file: str | None) -> dict[str, str]:
    from higgsflow.stats.templates import expression_columns

    return {c: key for c in expression_columns(expr, file=file, field=key)} if expr else {}


class _Inputs:
    """The files of every sample (and of every varied-file systematic), read once."""

    def __init__(self, cfg, settings: SanntSettings):
        self.cfg, self.settings = cfg, settings
        f = cfg.file
        region = cfg.regions[0]
        base = {c: "SANNT.Features" for c in settings.features}
        base.update(_columns(region.selection, f"Regions.{region.name}.Selection", f))
        self.samples: dict[str, list[_File]] = {}
        self.variations: dict[str, list[_File]] = {}  # resolved path -> file
        for s in cfg.samples:
            if not s.paths:
                raise ConfigError("sample has no Path", file=f, field=f"Samples.{s.name}.Path")
            need = dict(base)
            need.update(_columns(s.selection, f"Samples.{s.name}.Selection", f))
            if s.weight is not None and s.weight != cfg.weight:  # the default weight column may be absent
                need.update(_columns(s.weight, f"Samples.{s.name}.Weight", f))
            if not s.data:
                for syst in cfg.systematics:
                    if _applies(syst, s.name):
                        for d, src in (("Up", syst.up), ("Down", syst.down)):
                            if "Weight" in src and "Path" not in src:
                                need.update(_columns(src["Weight"], f"Systematics.{syst.name}.{d}.Weight", f))
            self.samples[s.name] = [_read(p, s.tree, need, f) for p in s.paths]
        for syst in cfg.systematics:
            for d, src in (("Up", syst.up), ("Down", syst.down)):
                if "Path" in src and src["Path"] not in self.variations:
                    need = dict(base)
                    if "Weight" in src:
                        need.update(_columns(src["Weight"], f"Systematics.{syst.name}.{d}.Weight", f))
                    self.variations[src["Path"]] = [_read(src["Path"], "tree", need, f)]
        for files in [*self.samples.values(), *self.variations.values()]:
            for fl in files:
                for c in settings.features:  # predict scores every row: all must be finite
                    bad = ~np.isfinite(fl.columns[c])
                    if bad.any():
                        raise DataError(
                            "NaN or inf in a feature",
                            file=fl.path,
                            field=c,
                            row=int(np.flatnonzero(bad)[0]),
                            expected="finite values",
                        )


def _applies(syst, sample: str) -> bool:
    return syst.samples is None or sample in syst.samples


def _eval(expr: str, cols: Mapping[str, np.ndarray], key: str, cfg, where: Path) -> np.ndarray:
    from higgsflow.stats.templates import evaluate_selection

    out = evaluate_selection(expr, cols, file=cfg.file, field=key, source=str(where))
    return np.broadcast_to(np.asarray(out, dtype=float), (len(next(iter(cols.values()))),))


def _weights(cfg, sample, fl: _File, weight: str | None, key: str) -> np.ndarray:
    """Per-event weights as :mod:`higgsflow.stats.workspace` reads them: a column, an expression of columns, or
    unit weights where the general default weight column is absent."""
    from higgsflow.stats.templates import expression_columns

    if weight is None:
        return np.ones(len(fl))
    if weight in fl.columns:
        return fl.columns[weight].copy()
    names = expression_columns(weight, file=cfg.file, field=key)
    if names <= set(fl.columns) and names != {weight}:
        return _eval(weight, fl.columns, key, cfg, fl.path).copy()
    if sample.weight is None or weight == cfg.weight:
        log.info("%s: no weight column %r, unit weights", fl.path, weight)
        return np.ones(len(fl))
    raise ConfigError(
        f"unknown weight column(s) {sorted(names - set(fl.columns))} (not in {fl.path})",
        file=cfg.file,
        field=key,
    )


def _mask(cfg, sample, fl: _File) -> np.ndarray:
    region = cfg.regions[0]
    m = np.ones(len(fl), dtype=bool)
    for expr, key in (
        (region.selection, f"Regions.{region.name}.Selection"),
        (sample.selection, f"Samples.{sample.name}.Selection"),
    ):
        if expr:
            m &= _eval(expr, fl.columns, key, cfg, fl.path).astype(bool)
    return m


def _events(cfg, settings, sample, files: list[_File], weight: str | None, key: str):
    """Selected features and weights of a list of files."""
    xs, ws = [], []
    for fl in files:
        m = _mask(cfg, sample, fl)
        xs.append(np.stack([fl.columns[c][m] for c in settings.features], 1))
        ws.append(_weights(cfg, sample, fl, weight, key)[m])
    return np.concatenate(xs), np.concatenate(ws)


# ------------------------------------------------------------------------------------------- datasets
def _datasets(cfg, settings: SanntSettings, inputs: _Inputs):
    """Training, validation and all events as :class:`~higgsflow.sannt.data.SystematicDataset` (weights of the
    splits scaled up so that each has the full expected yields)."""
    from higgsflow.sannt.data import Sample, SystematicDataset, Variation

    f = cfg.file
    poi_of = {s: nf.name for nf in cfg.norm_factors for s in nf.samples}
    rng = np.random.default_rng(settings.seed)
    frac = settings.validation
    train, val, full = [], [], []
    for s in cfg.mc_samples:
        x, w = _events(cfg, settings, s, inputs.samples[s.name], s.weight, f"Samples.{s.name}.Weight")
        n = len(w)
        if n < 2:
            raise DataError(
                f"{n} selected events",
                file=f,
                field=f"Samples.{s.name}",
                expected="at least 2 (train, validation)",
            )
        is_val = np.zeros(n, dtype=bool)
        is_val[rng.permutation(n)[: max(1, round(frac * n))]] = True
        shapes: dict[str, tuple] = {}
        norms: dict[str, tuple[float, float]] = {}
        for syst in cfg.systematics:
            if not _applies(syst, s.name):
                continue
            if syst.type == "Normalization":
                up = 1.0 + float(syst.up["Normalization"])
                down = 1.0 + float(syst.down.get("Normalization", -float(syst.up["Normalization"])))
                if syst.symmetrize:
                    down = 2.0 - up
                if up <= 0 or down <= 0:
                    raise ConfigError(
                        "normalisation variation must stay above -100%",
                        file=f,
                        field=f"Systematics.{syst.name}",
                    )
                norms[syst.modifier] = (up, down)
                continue
            sides = []
            for d, src in (("Up", syst.up), ("Down", syst.down)):
                if d == "Down" and (syst.symmetrize or not src):
                    sides.append(None)
                    continue
                key = f"Systematics.{syst.name}.{d}.Weight"
                if "Path" in src:
                    xv, wv = _events(
                        cfg, settings, s, inputs.variations[src["Path"]], src.get("Weight", s.weight), key
                    )
                    sides.append((xv, wv))
                elif "Weight" in src:
                    _, wv = _events(cfg, settings, s, inputs.samples[s.name], src["Weight"], key)
                    sides.append((None, wv))
                else:
                    raise ConfigError(
                        "a shape variation needs Weight or Path", file=f, field=f"Systematics.{syst.name}.{d}"
                    )
            if sides[1] is None:  # symmetrised: the histogram 2 nominal - up, as stats builds it
                xu, wu = sides[0]
                sides[1] = (
                    (None, 2 * w - wu)
                    if xu is None
                    else (np.concatenate([x, xu]), np.concatenate([2 * w, -wu]))
                )
            shapes[syst.modifier] = tuple(sides)
        if cfg.lumi_uncertainty and s.lumi:
            u = cfg.lumi_uncertainty
            norms["lumi"] = (1.0 + u, 1.0 - u)

        def split(
            sel_val: bool | None, x=x, w=w, is_val=is_val, shapes=shapes, norms=norms, name=s.name, n=n
        ):
            if sel_val is None:  # every event
                scale, pick = 1.0, np.ones(n, dtype=bool)
            else:
                scale = 1 / frac if sel_val else 1 / (1 - frac)
                pick = is_val if sel_val else ~is_val
            var = {}
            for nuis, sides in shapes.items():
                out = []
                for xv, wv in sides:
                    if xv is None or len(xv) == n:
                        p = pick
                    elif sel_val is None:
                        p = np.ones(len(wv), dtype=bool)
                    else:  # an independent sample: its own random split
                        pv = np.zeros(len(wv), dtype=bool)
                        pv[
                            np.random.default_rng([settings.seed, len(wv)]).permutation(len(wv))[
                                : max(1, round(frac * len(wv)))
                            ]
                        ] = True
                        p = pv if sel_val else ~pv
                    out.append(Variation(features=None if xv is None else xv[p], weights=wv[p] * scale))
                var[nuis] = tuple(out)
            return Sample(
                name,
                x[pick],
                w[pick] * scale,
                poi=poi_of.get(name),
                shape_systematics=var,
                norm_systematics=norms,
            )

        train.append(split(False))
        val.append(split(True))
        full.append(split(None))
    return SystematicDataset(train), SystematicDataset(val), SystematicDataset(full)


# ------------------------------------------------------------------------------------------- the run
def derived_config(
    raw: Mapping[str, Any], cfg, settings: SanntSettings, edges: Sequence[float] | None = None
) -> dict[str, Any]:
    """The analysis config for ``higgsflow stats build`` on the scored files, file paths reduced to their names
    (resolved against ``--inputs``, the folder of the scored copies), no ``SANNT`` section.

    ``"nodes"`` binning: the one region with ``Variable: <prefix>_bin`` and integer ``Binning`` ``edges`` (default
    0, 1, ..., C × ``n_bins``: one bin per output node). ``"score"``: the region split into one region per category
    (``Variable: <prefix>_score``, ``Selection: ... & <prefix>_category == c``, the score bins).
    """
    out = {k: copy.deepcopy(v) for k, v in raw.items() if k != "SANNT"}
    general = dict(out.get("General") or {})
    general.pop("InputPath", None)
    out["General"] = general
    region = cfg.regions[0]
    classes = [*cfg.pois, "background"]
    n_cls = len(classes)
    name = "CENNT" if settings.method == "CENNT" else "SANNT"
    merge = {
        k: v
        for k, v in (
            ("MinBackground", region.merge_min_background),
            ("MaxRelStat", region.merge_max_rel_stat),
        )
        if v is not None
    }
    regions = []
    if settings.binning == "nodes":
        n_out = n_cls * settings.n_bins
        r: dict[str, Any] = {
            "Name": region.name,
            "Variable": f"{settings.score_branch}_bin",
            "Label": f"{name} bin (output node)",
            "Binning": [int(e) for e in (edges if edges is not None else range(n_out + 1))],
        }
        if region.selection:
            r["Selection"] = region.selection
        if merge:
            r["MergeBins"] = merge
        regions.append(r)
    else:
        score_edges = np.linspace(1.0 / n_cls, 1.0, settings.n_bins + 1).tolist()
        for c, cls in enumerate(classes):
            cat = f"{settings.score_branch}_category == {c}"
            r = {
                "Name": f"{region.name}_{cls}",
                "Variable": f"{settings.score_branch}_score",
                "Label": f"{name} score, {cls} category",
                "Binning": list(score_edges),
                "Selection": f"({region.selection}) & ({cat})" if region.selection else cat,
            }
            if merge:
                r["MergeBins"] = merge
            regions.append(r)
    out["Regions"] = regions
    paths = {s.name: s.paths for s in cfg.samples}
    samples = []
    for s in out.get("Samples") or []:
        s = dict(s)
        s.pop("SamplePath", None)
        s.pop("Regions", None)
        names = [Path(p).name for p in paths[str(s["Name"])]]
        s["Path"] = names[0] if len(names) == 1 else names
        samples.append(s)
    out["Samples"] = samples
    out["NormFactors"] = [
        {k: v for k, v in dict(n).items() if k != "Regions"} for n in out.get("NormFactors") or []
    ]
    systs = []
    for y in out.get("Systematics") or []:
        y = {k: v for k, v in dict(y).items() if k != "Regions"}
        for d in ("Up", "Down"):
            if isinstance(y.get(d), Mapping):
                v = dict(y[d])
                for key in ("Path", "SamplePath"):
                    if key in v:
                        v["Path"] = Path(str(v.pop(key))).name
                y[d] = v
        systs.append(y)
    if systs:
        out["Systematics"] = systs
    return out


@dataclass
class SanntRun:
    """What ``higgsflow sannt train`` computes (and :meth:`write` writes)."""

    model: Any
    config: dict[str, Any]  # the derived analysis config (analysis.yaml)
    templates: dict
    workspace: dict[str, Any]
    metadata: dict[str, Any]
    results: dict[str, Any]

    OUTPUTS = (
        "network.pt",
        "network.json",
        "templates.json",
        "workspace.json",
        "workspace.meta.json",
        "analysis.yaml",
        "results.json",
    )

    def write(self, out: str | os.PathLike[str], *, overwrite: bool = False) -> list[Path]:
        """Write every output into ``out``, all or nothing."""
        import json

        import yaml

        from higgsflow.outputs import check_output, check_outputs

        out = Path(out)
        check_output(out, folder=True, overwrite=overwrite)
        paths = check_outputs([out / n for n in self.OUTPUTS], overwrite=overwrite)
        new = [p for p in paths if not p.exists()]
        made_dir = not out.exists()
        try:
            self.model.save(out, overwrite=overwrite)
            templates = {
                "/".join(k): {
                    "yields": t.yields.tolist(),
                    "sumw2": t.sumw2.tolist(),
                    "edges": t.edges.tolist(),
                }
                for k, t in self.templates.items()
            }
            (out / "templates.json").write_text(json.dumps(templates, indent=1))
            (out / "workspace.json").write_text(json.dumps(self.workspace, indent=1))
            meta = {**self.metadata, "analysis_config": str(out / "analysis.yaml")}
            (out / "workspace.meta.json").write_text(json.dumps(meta, indent=1))
            (out / "analysis.yaml").write_text(
                "# written by `higgsflow sannt train`: the analysis config for the scored files\n"
                "#   higgsflow sannt predict RUN FILES... --out SCORED\n"
                "#   higgsflow stats build RUN/analysis.yaml --inputs SCORED --out workspace.json\n"
                + yaml.safe_dump(self.config, sort_keys=False, allow_unicode=True)
            )
            (out / "results.json").write_text(json.dumps(self.results, indent=1, allow_nan=False))
        except BaseException:
            for p in new:
                p.unlink(missing_ok=True)
            if made_dir and out.is_dir() and not any(out.iterdir()):
                out.rmdir()
            raise
        return paths


def _sigma_entry(poi: str, sigma: float, training: float, settings: SanntSettings) -> dict[str, Any]:
    entry: dict[str, Any] = {"sigma_mu": sigma, "sigma_mu_training": training}
    if poi in settings.cross_sections:
        value, unit = settings.cross_sections[poi]
        entry.update(
            {"cross_section": value, "unit": unit, "sigma": sigma * value, "sigma_training": training * value}
        )
    return entry


def _node_edges(templates, dcfg, n_out: int) -> list[int]:
    """Integer edges that give every output node holding background its own bin; a node without background (the
    ``stats`` fit needs background in every bin) joins the bin below it (the lowest such nodes the bin above)."""
    signal = dcfg.signal_samples()
    data = {s.name for s in dcfg.samples if s.data}
    region = dcfg.regions[0].name
    bkg = sum(
        t.yields
        for (r, sample, var), t in templates.items()
        if r == region and var == "nominal" and sample not in signal and sample not in data
    )
    filled = [k for k in range(n_out) if bkg[k] > 0] if np.ndim(bkg) else []
    if not filled:
        raise DataError("no background event in the region", file=dcfg.file, field=region)
    return [0, *filled[1:], n_out]


def _training_sigma(net, data, tcfg) -> list[float]:
    """σ(μ) per POI from SANNT's own likelihood of ``data`` with the bin assignment training used (node binning:
    the soft assignment softmax(z/T); score binning: exact counts)."""
    import torch

    from higgsflow.sannt.train import _bandwidth, _Prepared, _templates, bin_edges, sigma_objective

    with torch.enable_grad():  # the node histogram is soft only where it would be differentiated
        t = _templates(
            net,
            _Prepared(data),
            bin_edges(net.n_classes, tcfg.n_bins),
            _bandwidth(tcfg, net.n_classes),
            None,
            tcfg.temperature,
        )
        _, sigma = sigma_objective(t, torch.ones(len(data.pois), dtype=torch.float64), tcfg.min_yield)
    return sigma.detach().tolist()


def train_analysis(
    config: str | os.PathLike[str],
    *,
    input_dir: str | os.PathLike[str] | None = None,
    method: str | None = None,
    binning: str | None = None,
    callback=None,
) -> SanntRun:
    """Read the files of ``config``, train (CENNT, then SANNT unless ``method="CENNT"``), score every file, fill
    the templates and build the workspace exactly as ``higgsflow stats build`` does on the scored files, and
    measure σ of every POI with pyhf (Asimov). ``binning`` (``"nodes"`` or ``"score"``) overrides
    ``SANNT.Binning``."""
    import torch

    from higgsflow.sannt.model import SanntModel
    from higgsflow.sannt.pyhf_model import pyhf_sigma
    from higgsflow.sannt.train import SanntConfig, train_cennt, train_sannt
    from higgsflow.stats.config import load_config
    from higgsflow.stats.workspace import build_workspace, plot_metadata, templates_from_arrays

    cfg, settings, raw = load_analysis(config, input_dir=input_dir)
    if method is not None:
        settings.method = method.upper()
    if binning is not None:
        if binning not in ("nodes", "score"):
            raise ConfigError(f"{binning!r}", field="--binning", expected="nodes or score")
        settings.binning = binning
    if settings.method == "CENNT":  # the classifier has one output per class: binned on its scores
        settings.binning = "score"
    _check_fine_tune(settings.binning, settings.fine_tune, cfg.file)
    fine_tune = settings.binning == "score" if settings.fine_tune is None else settings.fine_tune
    inputs = _Inputs(cfg, settings)
    train, val, full = _datasets(cfg, settings, inputs)
    tcfg = SanntConfig(
        hidden=settings.hidden,
        n_bins=settings.n_bins,
        bandwidth=settings.bandwidth,
        ce_epochs=settings.ce_epochs,
        sannt_epochs=settings.sannt_epochs,
        sannt_batch_events=settings.batch_events,
        binning=settings.binning,  # the saved network, predict and the written analysis bin the same way
    )
    if settings.method == "SANNT" and settings.binning == "nodes":
        steps = max(1, round(max(len(s.weights) for s in train.samples) / settings.batch_events))
        if steps < 5:
            log.warning(
                "SANNT.BatchEvents = %d gives %d training step(s) per epoch; node binning trained best with ~10 "
                "(a smaller BatchEvents, or more epochs)",
                settings.batch_events,
                steps,
            )
    ce = train_cennt(train, val, tcfg, seed=settings.seed, callback=callback)
    history = {"CENNT": ce}
    result = ce
    if settings.method == "SANNT":
        if settings.poi_weights is not None:
            weights = [settings.poi_weights[p] for p in train.pois]
        else:
            weights = [1.0 / s for s in ce.val_sigma[ce.best_epoch]]
        result = train_sannt(
            train,
            val,
            tcfg,
            seed=settings.seed,
            init=ce.network if fine_tune else None,
            poi_weights=weights,
            callback=callback,
        )
        history[result.method] = result
    model = SanntModel(
        result.network,
        features=settings.features,
        pois=train.pois,
        n_bins=settings.n_bins,
        score_branch=settings.score_branch,
        method=result.method,
        hidden=settings.hidden,
        binning=settings.binning,
    )
    # the templates from the scored events, as `higgsflow stats build RUN/analysis.yaml` fills them
    derived = derived_config(raw, cfg, settings)
    dcfg = load_config(derived)
    arrays: dict[str, dict[str, np.ndarray]] = {}

    def scored(files: list[_File]) -> dict[str, np.ndarray]:
        parts = [
            {**fl.columns, **model.branches(np.stack([fl.columns[c] for c in settings.features], 1))}
            for fl in files
        ]
        common = set.intersection(*(set(p) for p in parts))
        return parts[0] if len(parts) == 1 else {c: np.concatenate([p[c] for p in parts]) for c in common}

    with torch.no_grad():
        for s in cfg.samples:
            arrays[s.name] = {
                k: np.asarray(v, dtype=float) for k, v in scored(inputs.samples[s.name]).items()
            }
        variation_keys = {}
        for syst in cfg.systematics:
            for d, src in (("Up", syst.up), ("Down", syst.down)):
                if "Path" in src:
                    key = f"{syst.name}:{src['Path']}"
                    variation_keys[(syst.name, d)] = key
                    arrays[key] = {
                        k: np.asarray(v, dtype=float)
                        for k, v in scored(inputs.variations[src["Path"]]).items()
                    }

    def fill(dcfg):
        for syst in dcfg.systematics:
            for d, src in (("Up", syst.up), ("Down", syst.down)):
                if (syst.name, d) in variation_keys:
                    src["Sample"] = variation_keys[(syst.name, d)]
        return templates_from_arrays(dcfg, arrays)

    if settings.binning == "nodes":  # one bin per node that holds background (before any MergeBins)
        probe = copy.deepcopy(derived)
        probe["Regions"][0].pop("MergeBins", None)
        pcfg = load_config(probe)
        edges = _node_edges(fill(pcfg), pcfg, model.n_outputs)
        if len(edges) < model.n_outputs + 1:
            derived = derived_config(raw, cfg, settings, edges)
            dcfg = load_config(derived)
    templates = fill(dcfg)
    spec = build_workspace(dcfg, templates)
    meta = plot_metadata(dcfg, templates)
    fit = pyhf_sigma(spec)
    training = _training_sigma(result.network, full, tcfg)
    results = {
        "method": result.method,
        "binning": settings.binning,
        "features": settings.features,
        "classes": model.classes,
        "n_bins": settings.n_bins,
        "n_outputs": model.n_outputs,
        "sigma": {p: _sigma_entry(p, fit[p], training[i], settings) for i, p in enumerate(cfg.pois)},
        "sigma_note": "sigma_mu: expected σ of each POI from a pyhf fit to the Asimov data of workspace.json "
        "(exact Hessian), the fit `higgsflow stats` runs on the scored files; sigma_mu_training: σ of SANNT's own "
        "likelihood of every selected event with the bin assignment it was trained with (node binning: the soft "
        "assignment); sigma = sigma_mu × cross_section where a cross section is given",
        "history": {
            name: {
                "best_epoch": h.best_epoch,
                "train_loss": h.train_loss,
                "val_objective": h.val_objective,
                "val_sigma": h.val_sigma,
            }
            for name, h in history.items()
        },
    }
    return SanntRun(model, derived, templates, spec, meta, results)
