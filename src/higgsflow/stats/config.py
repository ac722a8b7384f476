"""The YAML analysis config (in the spirit of cabinetry's): regions, samples, norm factors and systematics.

Example (all keys are documented in ``docs/stats.md``)::

    General:
      Measurement: ttHcc
      POI: [mu_ttHcc, mu_ttHbb]          # the first is the default parameter of interest
      Lumi: {Uncertainty: 0.016}         # relative; one `lumi` parameter on samples with Lumi: true
      MCStat: {Threshold: 0.01}          # no gamma for bins whose relative MC stat. error is below 1%
      Interpolation: {normsys: code4, histosys: code4p}
    Regions:
      - {Name: SR, Variable: score, Binning: [0, 0.5, 0.8, 1.0], Selection: "score_tt > 0.2"}
    Samples:
      - {Name: data, Data: true}
      - {Name: ttHcc}
      - {Name: ttlf}
    NormFactors:
      - {Name: mu_ttHcc, Samples: [ttHcc], Nominal: 1, Bounds: [-10, 20]}
    Systematics:
      - {Name: ttlf_xsec, Type: Normalization, Up: {Normalization: 0.06}, Down: {Normalization: -0.05},
         Samples: [ttlf]}
      - {Name: jes, Type: Shape, Up: {Weight: w_jes_up}, Down: {Weight: w_jes_down}, SplitNorm: true}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from higgsflow.errors import ConfigError

__all__ = ["AnalysisConfig", "NormFactor", "Region", "Sample", "Systematic", "load_config"]

log = logging.getLogger(__name__)

INTERP_CODES = {"normsys": ("code1", "code4"), "histosys": ("code0", "code2", "code4p")}
SYST_TYPES = ("Normalization", "Shape", "NormPlusShape", "ShapeSys")


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


@dataclass
class Sample:
    """A sample (process): where its events come from and which modifiers it takes."""

    name: str
    data: bool = False
    path: str | None = None
    tree: str = "tree"
    weight: str | None = None
    regions: list[str] | None = None
    lumi: bool = True
    mcstat: bool = True


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
    unknown = set(d) - allowed
    if unknown:
        raise ConfigError(
            f"unknown key(s) {sorted(unknown)}",
            file=file,
            field=where,
            expected="one of: " + ", ".join(sorted(allowed)),
        )


def load_config(source: str | Path | Mapping[str, Any]) -> AnalysisConfig:
    """Load and validate an analysis config from a YAML file or an already-parsed mapping.

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
    _check_keys(raw, {"General", "Regions", "Samples", "NormFactors", "Systematics"}, "<top>", file)
    for key in ("General", "Regions", "Samples", "NormFactors"):
        if key not in raw:
            raise ConfigError("missing section", file=file, field=key)

    g = raw["General"]
    _check_keys(
        g,
        {"Measurement", "POI", "Lumi", "MCStat", "Interpolation", "NegativeYields", "Weight", "InputPath"},
        "General",
        file,
    )
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
    lumi_unc = None if lumi is None else float(lumi.get("Uncertainty", 0.0))
    mcstat = _get(g, "MCStat") or {}
    neg = _get(g, "NegativeYields", "error")
    if neg not in ("error", "clip"):
        raise ConfigError(
            "unknown treatment", file=file, field="General.NegativeYields", expected="error or clip"
        )
    base = Path(_get(g, "InputPath", Path(file).parent if file else "."))

    regions = []
    for i, r in enumerate(raw["Regions"] or []):
        _check_keys(r, {"Name", "Binning", "Variable", "Selection", "MergeBins"}, f"Regions[{i}]", file)
        if "Name" not in r:
            raise ConfigError("region without a Name", file=file, field=f"Regions[{i}]")
        mb = r.get("MergeBins") or {}
        regions.append(
            Region(
                name=str(r["Name"]),
                binning=[float(x) for x in r["Binning"]] if "Binning" in r else None,
                variable=r.get("Variable"),
                selection=r.get("Selection"),
                merge_min_background=mb.get("MinBackground"),
                merge_max_rel_stat=mb.get("MaxRelStat"),
            )
        )
    if not regions:
        raise ConfigError("no regions", file=file, field="Regions")
    region_names = [r.name for r in regions]

    samples = []
    for i, s in enumerate(raw["Samples"] or []):
        _check_keys(
            s, {"Name", "Data", "Path", "Tree", "Weight", "Regions", "Lumi", "MCStat"}, f"Samples[{i}]", file
        )
        path = s.get("Path")
        samples.append(
            Sample(
                name=str(s["Name"]),
                data=bool(s.get("Data", False)),
                path=str(base / path) if path else None,
                tree=s.get("Tree", "tree"),
                weight=s.get("Weight", None if s.get("Data") else _get(g, "Weight", "weight")),
                regions=_as_list(s.get("Regions")),
                lumi=bool(s.get("Lumi", not s.get("Data", False))),
                mcstat=bool(s.get("MCStat", True)),
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
        nf = NormFactor(
            name=str(n["Name"]),
            samples=_as_list(n.get("Samples")) or [],
            nominal=float(n.get("Nominal", 1.0)),
            bounds=tuple(float(b) for b in n.get("Bounds", (-10.0, 20.0))),
            regions=_as_list(n.get("Regions")),
        )
        check_refs(nf.samples, sample_names, f"NormFactors.{nf.name}.Samples")
        check_refs(nf.regions, region_names, f"NormFactors.{nf.name}.Regions")
        nfs.append(nf)
    check_refs(pois, [n.name for n in nfs], "General.POI")

    systs = []
    for i, y in enumerate(raw.get("Systematics") or []):
        _check_keys(
            y,
            {"Name", "Type", "Up", "Down", "Samples", "Regions", "Symmetrize", "SplitNorm", "Parameter"},
            f"Systematics[{i}]",
            file,
        )
        st = Systematic(
            name=str(y["Name"]),
            type=y.get("Type", "Normalization"),
            up=dict(y.get("Up") or {}),
            down=dict(y.get("Down") or {}),
            samples=_as_list(y.get("Samples")),
            regions=_as_list(y.get("Regions")),
            symmetrize=bool(y.get("Symmetrize", False)),
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
    )
