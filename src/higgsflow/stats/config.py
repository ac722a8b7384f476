"""The YAML analysis config (in the spirit of cabinetry's): regions, samples, norm factors and systematics.

Example (all keys are documented in ``docs/stats.md``)::

    General:
      Measurement: ttHcc
      POI: [mu_ttHcc, mu_ttHbb]          # the first is the default parameter of interest
      Lumi: {Value: 138, Uncertainty: 0.016}  # fb⁻¹ (shown on plots); relative uncertainty: one `lumi` parameter
      SqrtS: 13.6                        # TeV, shown on plots (none shown if absent)
      MCStat: {Threshold: 0.01}          # no gamma for bins whose relative MC stat. error is below 1%
      Interpolation: {normsys: code4, histosys: code4p}
    Regions:
      - {Name: SR, Variable: score, Label: "ttH(cc) score", Binning: [0, 0.5, 0.8, 1.0],
         Selection: "score_tt > 0.2"}
    Samples:
      - {Name: data, Data: true, Path: data.root}
      - {Name: ttHcc, Path: mc.root, Selection: "label_ttHcc == 1"}   # one file, several samples
      - {Name: ttlf, Path: mc.root, Selection: "label_ttlf == 1"}
    NormFactors:
      - {Name: mu_ttHcc, Samples: [ttHcc], Nominal: 1, Bounds: [-10, 20]}
    Systematics:
      - {Name: ttlf_xsec, Type: Normalization, Up: {Normalization: 0.06}, Down: {Normalization: -0.05},
         Samples: [ttlf]}
      - {Name: jes, Type: Shape, Up: {Weight: w_jes_up}, Down: {Weight: w_jes_down}, SplitNorm: true}

cabinetry's key names are accepted where they mean the same (:data:`ALIASES`: ``Filter`` for ``Selection``,
``SamplePath`` for ``Path``, ``ModifierName`` for ``Parameter``, ``DisableStaterror`` for ``MCStat: false``);
a sample's selection is combined (AND) with its region's, where cabinetry's sample ``Filter`` replaces it.
Relative paths (``InputPath``, ``Path``/``SamplePath``, a variation's ``Path``) are resolved against the folder
of the YAML file.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from higgsflow.errors import ConfigError

__all__ = ["ALIASES", "AnalysisConfig", "NormFactor", "Region", "Sample", "Systematic", "load_config"]

log = logging.getLogger(__name__)

INTERP_CODES = {"normsys": ("code1", "code4"), "histosys": ("code0", "code2", "code4p")}
SYST_TYPES = ("Normalization", "Shape", "NormPlusShape", "ShapeSys")

#: cabinetry's key → higgsflow's key, per section, where both mean the same
ALIASES: dict[str, dict[str, str]] = {
    "Regions": {"Filter": "Selection"},
    "Samples": {"Filter": "Selection", "SamplePath": "Path"},
    "Systematics": {"ModifierName": "Parameter"},
    "Variation": {"SamplePath": "Path"},
}
#: cabinetry keys that higgsflow does not support, with what to do instead
UNSUPPORTED: dict[str, str] = {
    "Fixed": "fix parameters in the fit calls (fit(..., fix={...})) instead",
    "VariationPath": "histogram inputs are not read; give the variation's events with Path or Weight",
    "RegionPath": "histogram inputs are not read; give each sample's file with Path",
    "Smoothing": "template smoothing is not implemented",
}


@dataclass
class Region:
    """A fit region: ``Variable`` (an expression of columns) histogrammed on ``Binning`` after
    ``Selection``."""

    name: str
    binning: list[float] | None = None
    variable: str | None = None
    selection: str | None = None
    merge_min_background: float | None = None
    merge_max_rel_stat: float | None = None
    label: str | None = None

    @property
    def axis_label(self) -> str:
        """The observable's axis label (``Label``, with units), else the ``Variable`` expression."""
        return self.label or self.variable or "observable"


@dataclass
class Sample:
    """A sample (process): where its events come from and which modifiers it takes."""

    name: str
    data: bool = False
    path: str | list[str] | None = None
    tree: str = "tree"
    weight: str | None = None
    regions: list[str] | None = None
    lumi: bool = True
    mcstat: bool = True
    selection: str | None = None

    @property
    def paths(self) -> list[str]:
        """The sample's input files (one ``Path`` or a list)."""
        if self.path is None:
            return []
        return [self.path] if isinstance(self.path, str) else list(self.path)


@dataclass
class NormFactor:
    """A free normalisation (a POI such as μ_ttH(cc), or a floating background normalisation)."""

    name: str
    samples: list[str]
    nominal: float = 1.0
    bounds: tuple[float, float] = (-10.0, 20.0)
    regions: list[str] | None = None


@dataclass
class Systematic:
    """A nuisance parameter acting on some samples: normalisation (asymmetric log-normal, pyhf ``normsys``),
    shape (``histosys``, optionally with its normalisation split off into a ``normsys``), or uncorrelated
    per-bin (``shapesys``)."""

    name: str
    type: str
    up: dict[str, Any] = field(default_factory=dict)
    down: dict[str, Any] = field(default_factory=dict)
    samples: list[str] | None = None
    regions: list[str] | None = None
    symmetrize: bool = False
    split_norm: bool = False
    parameter: str | None = None

    @property
    def modifier(self) -> str:
        """The nuisance-parameter name (entries sharing it are fully correlated)."""
        return self.parameter or self.name


@dataclass
class AnalysisConfig:
    """A validated analysis config; see the module docstring for the YAML layout."""

    measurement: str
    pois: list[str]
    regions: list[Region]
    samples: list[Sample]
    norm_factors: list[NormFactor]
    systematics: list[Systematic] = field(default_factory=list)
    lumi_uncertainty: float | None = None
    mcstat_threshold: float = 0.0
    interpolation: dict[str, str] = field(default_factory=lambda: {"normsys": "code4", "histosys": "code4p"})
    negative_yields: str = "error"
    weight: str | None = "weight"
    file: str | None = None
    sqrt_s: float | None = None
    luminosity: float | None = None

    @property
    def poi(self) -> str:
        """The default parameter of interest."""
        return self.pois[0]

    @property
    def mc_samples(self) -> list[Sample]:
        return [s for s in self.samples if not s.data]

    @property
    def data_sample(self) -> Sample | None:
        return next((s for s in self.samples if s.data), None)

    def signal_samples(self) -> set[str]:
        """Samples scaled by a POI (all others count as background)."""
        return {s for nf in self.norm_factors if nf.name in self.pois for s in nf.samples}

    def sample_in_region(self, sample: Sample, region: str) -> bool:
        return sample.regions is None or region in sample.regions


def _get(d: Mapping[str, Any], key: str, default: Any = None) -> Any:
    return d.get(key, default)


def _as_list(x: Any) -> list | None:
    if x is None:
        return None
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _check_keys(d: Mapping[str, Any], allowed: set[str], where: str, file: str | None) -> None:
    if not isinstance(d, Mapping):
        raise ConfigError("expected a mapping", file=file, field=where)
    for key in d:
        if key in UNSUPPORTED and key not in allowed:
            raise ConfigError(
                f"cabinetry's key {key!r} is not supported by higgsflow: {UNSUPPORTED[key]}",
                file=file,
                field=where,
            )
    unknown = set(d) - allowed
    if unknown:
        raise ConfigError(
            f"unknown key(s) {sorted(unknown)}",
            file=file,
            field=where,
            expected="one of: " + ", ".join(sorted(allowed)),
        )


def _aliased(d: Any, section: str, where: str, file: str | None) -> Any:
    """``d`` with cabinetry's key names of ``section`` renamed to higgsflow's (refusing both spellings)."""
    if not isinstance(d, Mapping):
        return d
    out = dict(d)
    for alias, key in ALIASES.get(section, {}).items():
        if alias in out:
            if key in out:
                raise ConfigError(
                    f"both {key!r} and its alias {alias!r} are given",
                    file=file,
                    field=where,
                    expected="one of them",
                )
            out[key] = out.pop(alias)
    return out


def _number(value: Any, file: str | None, where: str, positive: bool = False) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"not a number: {value!r}", file=file, field=where) from exc
    if positive and not x > 0:
        raise ConfigError(f"must be positive, got {value!r}", file=file, field=where)
    return x


def load_config(
    source: str | Path | Mapping[str, Any], *, input_dir: str | Path | None = None
) -> AnalysisConfig:
    """Load and validate an analysis config from a YAML file or an already-parsed mapping.

    Relative input paths are resolved against the YAML file's folder, or against ``input_dir`` when it is given
    (``higgsflow stats build CONFIG --inputs DIR``: one config for files that live elsewhere).

    Raises :class:`~higgsflow.errors.ConfigError` naming the file and key for every inconsistency (unknown
    keys, a systematic or norm factor naming an unknown sample or region, an unknown interpolation code...).
    """
    file = None
    if isinstance(source, (str, Path)):
        import yaml

        file = str(source)
        p = Path(source)
        if not p.exists():
            raise ConfigError("config file not found", file=file)
        try:
            raw = yaml.safe_load(p.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"invalid YAML: {exc}", file=file) from exc
    else:
        raw = dict(source)
    # SANNT: the settings of `higgsflow sannt train` (docs/sannt.md), which reads the rest of this config too
    _check_keys(raw, {"General", "Regions", "Samples", "NormFactors", "Systematics", "SANNT"}, "<top>", file)
    for key in ("General", "Regions", "Samples", "NormFactors"):
        if key not in raw:
            raise ConfigError("missing section", file=file, field=key)

    g = raw["General"]
    _check_keys(
        g,
        {
            "Measurement",
            "POI",
            "Lumi",
            "MCStat",
            "Interpolation",
            "NegativeYields",
            "Weight",
            "InputPath",
            "HistogramFolder",
            "SqrtS",
        },
        "General",
        file,
    )
    if "HistogramFolder" in g:
        log.info("%s: General.HistogramFolder (cabinetry's histogram cache) is not used", file)
    pois = _as_list(_get(g, "POI"))
    if not pois:
        raise ConfigError("no parameter of interest", file=file, field="General.POI")
    interp = {"normsys": "code4", "histosys": "code4p", **(_get(g, "Interpolation") or {})}
    for k, v in interp.items():
        if k not in INTERP_CODES or v not in INTERP_CODES[k]:
            raise ConfigError(
                f"unknown interpolation {k}: {v}",
                file=file,
                field="General.Interpolation",
                expected=f"normsys in {INTERP_CODES['normsys']}, histosys in {INTERP_CODES['histosys']}",
            )
    lumi = _get(g, "Lumi")
    if lumi is not None:
        _check_keys(lumi, {"Value", "Uncertainty"}, "General.Lumi", file)
    lumi_unc = (
        None if lumi is None else _number(lumi.get("Uncertainty", 0.0), file, "General.Lumi.Uncertainty")
    )
    lumi_value = None
    if lumi is not None and lumi.get("Value") is not None:
        lumi_value = _number(lumi["Value"], file, "General.Lumi.Value", positive=True)
    sqrt_s = None if _get(g, "SqrtS") is None else _number(g["SqrtS"], file, "General.SqrtS", positive=True)
    mcstat = _get(g, "MCStat") or {}
    if not isinstance(mcstat, Mapping):
        raise ConfigError("expected a mapping", file=file, field="General.MCStat", expected="{Threshold: x}")
    _check_keys(mcstat, {"Threshold"}, "General.MCStat", file)
    neg = _get(g, "NegativeYields", "error")
    if neg not in ("error", "clip"):
        raise ConfigError(
            "unknown treatment", file=file, field="General.NegativeYields", expected="error or clip"
        )
    here = Path(input_dir) if input_dir is not None else Path(file).parent if file else Path()
    input_path = str(_get(g, "InputPath", ""))
    for placeholder in ("{RegionPath}", "{VariationPath}"):
        if placeholder in input_path:
            raise ConfigError(
                f"the placeholder {placeholder} is not supported",
                file=file,
                field="General.InputPath",
                expected="a folder, or a pattern with {SamplePath}",
            )

    def resolve(path: str) -> str:
        """A sample path: InputPath (a folder, or cabinetry's pattern with {SamplePath}) + the YAML's folder."""
        if "{SamplePath}" in input_path:
            path = input_path.replace("{SamplePath}", str(path))
        elif input_path:
            path = str(Path(input_path) / path)
        return str(here / path)

    regions = []
    for i, r in enumerate(raw["Regions"] or []):
        r = _aliased(r, "Regions", f"Regions[{i}]", file)
        _check_keys(
            r, {"Name", "Binning", "Variable", "Selection", "MergeBins", "Label"}, f"Regions[{i}]", file
        )
        if "Name" not in r:
            raise ConfigError("region without a Name", file=file, field=f"Regions[{i}]")
        mb = r.get("MergeBins") or {}
        _check_keys(mb, {"MinBackground", "MaxRelStat"}, f"Regions.{r['Name']}.MergeBins", file)
        binning = r.get("Binning")
        if binning is not None:
            if not isinstance(binning, (list, tuple)) or len(binning) < 2:
                raise ConfigError(
                    "Binning must be a list of bin edges",
                    file=file,
                    field=f"Regions.{r['Name']}.Binning",
                    expected="at least two increasing numbers",
                )
            binning = [_number(x, file, f"Regions.{r['Name']}.Binning") for x in binning]
        regions.append(
            Region(
                name=str(r["Name"]),
                binning=binning,
                variable=r.get("Variable"),
                selection=r.get("Selection"),
                merge_min_background=mb.get("MinBackground"),
                merge_max_rel_stat=mb.get("MaxRelStat"),
                label=None if r.get("Label") is None else str(r["Label"]),
            )
        )
    if not regions:
        raise ConfigError("no regions", file=file, field="Regions")
    region_names = [r.name for r in regions]

    samples = []
    for i, s in enumerate(raw["Samples"] or []):
        s = _aliased(s, "Samples", f"Samples[{i}]", file)
        _check_keys(
            s,
            {
                "Name",
                "Data",
                "Path",
                "Tree",
                "Weight",
                "Regions",
                "Lumi",
                "MCStat",
                "DisableStaterror",
                "Selection",
            },
            f"Samples[{i}]",
            file,
        )
        if "Name" not in s:
            raise ConfigError("sample without a Name", file=file, field=f"Samples[{i}]")
        if "MCStat" in s and "DisableStaterror" in s:
            raise ConfigError(
                "both 'MCStat' and cabinetry's 'DisableStaterror' are given",
                file=file,
                field=f"Samples.{s['Name']}",
            )
        path = s.get("Path")
        if isinstance(path, (list, tuple)):
            path = [resolve(str(x)) for x in path]
        elif path:
            path = resolve(str(path))
        samples.append(
            Sample(
                name=str(s["Name"]),
                data=bool(s.get("Data", False)),
                path=path or None,
                tree=s.get("Tree", "tree"),
                weight=s.get("Weight", None if s.get("Data") else _get(g, "Weight", "weight")),
                regions=_as_list(s.get("Regions")),
                lumi=bool(s.get("Lumi", not s.get("Data", False))),
                mcstat=bool(s.get("MCStat", not s.get("DisableStaterror", False))),
                selection=None if s.get("Selection") is None else str(s["Selection"]),
            )
        )
    sample_names = [s.name for s in samples]

    def check_refs(names: list[str] | None, known: list[str], where: str) -> None:
        for n in names or []:
            if n not in known:
                raise ConfigError(
                    f"unknown name {n!r}", file=file, field=where, expected="one of: " + ", ".join(known)
                )

    for s in samples:
        check_refs(s.regions, region_names, f"Samples.{s.name}.Regions")

    nfs = []
    for i, n in enumerate(raw["NormFactors"] or []):
        _check_keys(n, {"Name", "Samples", "Nominal", "Bounds", "Regions"}, f"NormFactors[{i}]", file)
        if "Name" not in n:
            raise ConfigError("norm factor without a Name", file=file, field=f"NormFactors[{i}]")
        nf = NormFactor(
            name=str(n["Name"]),
            # as in cabinetry: without Samples, the norm factor scales every simulated sample
            samples=_as_list(n.get("Samples")) or [s.name for s in samples if not s.data],
            nominal=float(n.get("Nominal", 1.0)),
            bounds=tuple(float(b) for b in n.get("Bounds", (-10.0, 20.0))),
            regions=_as_list(n.get("Regions")),
        )
        check_refs(nf.samples, sample_names, f"NormFactors.{nf.name}.Samples")
        check_refs(nf.regions, region_names, f"NormFactors.{nf.name}.Regions")
        nfs.append(nf)
    check_refs(pois, [n.name for n in nfs], "General.POI")

    systs = []
    variation_keys = {"Normalization", "Weight", "Variable", "Sample", "Path", "Symmetrize"}
    for i, y in enumerate(raw.get("Systematics") or []):
        y = _aliased(y, "Systematics", f"Systematics[{i}]", file)
        _check_keys(
            y,
            {"Name", "Type", "Up", "Down", "Samples", "Regions", "Symmetrize", "SplitNorm", "Parameter"},
            f"Systematics[{i}]",
            file,
        )
        if "Name" not in y:
            raise ConfigError("systematic without a Name", file=file, field=f"Systematics[{i}]")
        up_down = {}
        for direction in ("Up", "Down"):
            where = f"Systematics.{y['Name']}.{direction}"
            v = _aliased(y.get(direction) or {}, "Variation", where, file)
            _check_keys(v, variation_keys, where, file)
            if "Path" in v:
                v["Path"] = str(here / str(v["Path"]))
            up_down[direction] = v
        # cabinetry writes Symmetrize inside the variation (Down: {Symmetrize: true})
        symmetrize = bool(y.get("Symmetrize", False)) or any(
            bool(v.pop("Symmetrize", False)) for v in up_down.values()
        )
        st = Systematic(
            name=str(y["Name"]),
            type=y.get("Type", "Normalization"),
            up=up_down["Up"],
            down=up_down["Down"],
            samples=_as_list(y.get("Samples")),
            regions=_as_list(y.get("Regions")),
            symmetrize=symmetrize,
            split_norm=bool(y.get("SplitNorm", False)),
            parameter=y.get("Parameter"),
        )
        if st.type not in SYST_TYPES:
            raise ConfigError(
                f"unknown type {st.type!r}",
                file=file,
                field=f"Systematics.{st.name}.Type",
                expected="one of: " + ", ".join(SYST_TYPES),
            )
        check_refs(st.samples, [s.name for s in samples if not s.data], f"Systematics.{st.name}.Samples")
        check_refs(st.regions, region_names, f"Systematics.{st.name}.Regions")
        if st.type == "Normalization" and "Normalization" not in st.up:
            raise ConfigError(
                "a Normalization systematic needs Up: {Normalization: x}",
                file=file,
                field=f"Systematics.{st.name}.Up",
            )
        systs.append(st)

    return AnalysisConfig(
        measurement=str(_get(g, "Measurement", "measurement")),
        pois=[str(p) for p in pois],
        regions=regions,
        samples=samples,
        norm_factors=nfs,
        systematics=systs,
        lumi_uncertainty=lumi_unc,
        mcstat_threshold=float(mcstat.get("Threshold", 0.0)),
        interpolation=interp,
        negative_yields=neg,
        weight=_get(g, "Weight", "weight"),
        file=file,
        sqrt_s=sqrt_s,
        luminosity=lumi_value,
    )
