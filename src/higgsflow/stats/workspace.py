"""From templates to a pyhf workspace (the statistical model) and to a Combine datacard.

Modifiers used (all pyhf/HistFactory, nothing re-implemented):

* ``normfactor`` for every NormFactor (POIs and free background normalisations);
* ``normsys`` for normalisation systematics: κ_up = 1 + up, κ_down = 1 + down, interpolated with code 4
  (polynomial inside |α| < 1, exponential outside, i.e. an asymmetric log-normal);
* ``histosys`` for shape systematics, code 4p (polynomial inside |α| < 1, linear outside); with
  ``SplitNorm: true`` the normalisation change goes into a ``normsys`` of the same name and the histosys
  only carries the shape (templates rescaled to the nominal yield);
* ``staterror`` per region (Barlow–Beeston lite: one Gaussian-constrained γ per bin for the summed MC
  statistics of all samples), with bins whose relative MC uncertainty is below ``MCStat.Threshold`` pruned
  (γ fixed), like Combine's ``autoMCStats`` / TRExFitter's MCstatThreshold;
* ``lumi`` with one Gaussian-constrained parameter of width ``Lumi.Uncertainty``;
* ``shapesys`` (uncorrelated per-bin Poisson-constrained) for ``Type: ShapeSys``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from higgsflow.errors import ConfigError, DataError
from higgsflow.stats.config import AnalysisConfig, Systematic
from higgsflow.stats.templates import (
    Template,
    evaluate_selection,
    expression_columns,
    fill_template,
    merged_edges,
    read_columns,
)

__all__ = [
    "build_workspace",
    "metadata_path",
    "plot_metadata",
    "templates_from_arrays",
    "templates_from_files",
    "write_datacard",
    "write_workspace",
]

log = logging.getLogger(__name__)

TemplateKey = tuple[str, str, str]  # (region, sample, variation) with variation "nominal" or "<syst>:up|down"


def _variation_source(syst: Systematic, direction: str) -> dict[str, Any]:
    spec = syst.up if direction == "up" else syst.down
    if direction == "down" and syst.symmetrize:
        return {}
    return spec


def _applies(syst: Systematic, sample: str, region: str) -> bool:
    return (syst.samples is None or sample in syst.samples) and (
        syst.regions is None or region in syst.regions
    )


def templates_from_arrays(
    config: AnalysisConfig,
    arrays: Mapping[str, Mapping[str, np.ndarray]],
) -> dict[TemplateKey, Template]:
    """Fill all templates of ``config`` from in-memory columns.

    ``arrays[sample]`` maps column names to per-event numpy arrays: the region variables and selections
    refer to these columns, the weight column is ``Sample.Weight`` (default ``General.Weight``; missing
    means unit weights). Systematic variations are taken from ``Up``/``Down`` as ``{Weight: column}``
    (same events, other weights), ``{Variable: expression}`` (same events, shifted observable) or
    ``{Sample: key}`` (another entry of ``arrays``, e.g. an alternative generator sample). Bins are then
    merged per region if the region asks for it (``MergeBins``), on the summed nominal background.
    """
    out: dict[TemplateKey, Template] = {}
    signal = config.signal_samples()
    for region in config.regions:
        if region.binning is None or region.variable is None:
            raise ConfigError(
                "a region filled from arrays needs Variable and Binning",
                file=config.file,
                field=f"Regions.{region.name}",
            )
        for sample in config.samples:
            if not config.sample_in_region(sample, region.name):
                continue
            if sample.name not in arrays:
                raise DataError(
                    "no arrays given for sample",
                    file=config.file,
                    field=sample.name,
                    expected="one of: " + ", ".join(sorted(arrays)),
                )
            cols = arrays[sample.name]

            def fill(
                columns: Mapping[str, np.ndarray],
                weight: str | None,
                variable: str,
                where: str,
                var_field: str,
                sample=sample,
                region=region,
            ) -> Template:
                values = evaluate_selection(
                    variable, columns, file=config.file, field=var_field, source=where
                )
                w = _weights(config, sample, columns, weight, where)
                mask = None
                for expr, field_ in (
                    (region.selection, f"Regions.{region.name}.Selection"),
                    (sample.selection, f"Samples.{sample.name}.Selection"),
                ):
                    if expr:
                        m = np.asarray(
                            evaluate_selection(expr, columns, file=config.file, field=field_, source=where),
                            dtype=bool,
                        )
                        mask = m if mask is None else mask & m
                if mask is not None:
                    values = values[mask]
                    w = None if w is None else w[mask]
                return fill_template(values, region.binning, w, name=f"{region.name}/{where}")

            var_field = f"Regions.{region.name}.Variable"
            out[(region.name, sample.name, "nominal")] = fill(
                cols, sample.weight, region.variable, sample.name, var_field
            )
            if sample.data:
                continue
            for syst in config.systematics:
                if syst.type == "Normalization" or not _applies(syst, sample.name, region.name):
                    continue
                for direction in ("up", "down"):
                    src = _variation_source(syst, direction)
                    if not src:
                        continue
                    where = f"{sample.name}/{syst.name}:{direction}"
                    if "Sample" in src:
                        if src["Sample"] not in arrays:
                            raise DataError(
                                "no arrays for variation sample", file=config.file, field=src["Sample"]
                            )
                        t = fill(
                            arrays[src["Sample"]],
                            src.get("Weight", sample.weight),
                            src.get("Variable", region.variable),
                            where,
                            f"Systematics.{syst.name}.{direction.capitalize()}.Variable"
                            if "Variable" in src
                            else var_field,
                        )
                    elif "Weight" in src or "Variable" in src:
                        t = fill(
                            cols,
                            src.get("Weight", sample.weight),
                            src.get("Variable", region.variable),
                            where,
                            f"Systematics.{syst.name}.{direction.capitalize()}.Variable"
                            if "Variable" in src
                            else var_field,
                        )
                    else:
                        raise ConfigError(
                            "a shape variation needs Weight, Variable or Sample",
                            file=config.file,
                            field=f"Systematics.{syst.name}.{direction.capitalize()}",
                        )
                    out[(region.name, sample.name, f"{syst.name}:{direction}")] = t
        # bin merging on the summed nominal background of this region
        if region.merge_min_background is not None or region.merge_max_rel_stat is not None:
            bkg = [
                k
                for k in out
                if k[0] == region.name
                and k[2] == "nominal"
                and k[1] not in signal
                and not _is_data(config, k[1])
            ]
            if not bkg:
                raise DataError("no background sample to merge bins on", file=config.file, field=region.name)
            b = sum(out[k].yields for k in bkg)
            v = sum(out[k].sumw2 for k in bkg)
            edges = merged_edges(
                out[bkg[0]].edges,
                b,
                v,
                min_yield=region.merge_min_background or 0.0,
                max_rel_stat=region.merge_max_rel_stat,
            )
            for k in [k for k in out if k[0] == region.name]:
                out[k] = out[k].rebinned(edges)
    return out


def _weights(
    config: AnalysisConfig, sample, columns: Mapping[str, np.ndarray], weight: str | None, where: str
) -> np.ndarray | None:
    """Per-event weights: a column, or an expression of columns (as cabinetry's ``Weight``); None: unit weights.

    The general default weight column (``General.Weight``, default ``weight``) may be absent (unit weights); a
    weight named on a sample or a variation must exist.
    """
    if weight is None:
        return None
    if weight in columns:
        return np.asarray(columns[weight], dtype=float)
    field = f"Samples.{sample.name}.Weight"
    names = expression_columns(weight, file=config.file, field=field)
    if names <= set(columns) and names != {weight}:  # an expression of present columns, or a number
        value = evaluate_selection(weight, columns, file=config.file, field=field, source=where)
        n = len(next(iter(columns.values()))) if columns else 0
        return np.broadcast_to(np.asarray(value, dtype=float), (n,)).copy()
    if sample.weight is None or weight == config.weight:
        log.info("%s: no weight column %r, unit weights", where, weight)
        return None
    missing = sorted(n for n in names if n not in columns)
    raise ConfigError(
        f"unknown weight column(s) {missing} in {weight!r}",
        file=config.file,
        field=f"Samples.{sample.name}.Weight ({where})",
        expected="a column of " + where + ": " + ", ".join(sorted(columns)),
    )


def _is_data(config: AnalysisConfig, name: str) -> bool:
    return any(s.data and s.name == name for s in config.samples)


def templates_from_files(config: AnalysisConfig) -> dict[TemplateKey, Template]:
    """Read every sample's columns from its ``Path`` (Parquet or ROOT by suffix; a list of files is
    concatenated) and fill the templates.

    Only the columns the config uses are read. A column that a region's ``Variable``/``Selection`` or a sample's
    ``Selection``/``Weight`` names but the sample's file lacks raises :class:`ConfigError` naming the config
    file, the key and the data file.
    """
    arrays: dict[str, dict[str, np.ndarray]] = {}
    f = config.file

    def cols(expr: str | None, field: str) -> set[str]:
        return expression_columns(expr, file=f, field=field) if expr else set()

    syst_cols: set[str] = set()
    for syst in config.systematics:
        for direction, src in (("Up", syst.up), ("Down", syst.down)):
            syst_cols |= cols(src.get("Variable"), f"Systematics.{syst.name}.{direction}.Variable")
            syst_cols |= cols(src.get("Weight"), f"Systematics.{syst.name}.{direction}.Weight")
    for s in config.samples:
        if not s.paths:
            raise ConfigError("sample has no Path", file=f, field=f"Samples.{s.name}.Path")
        required: dict[str, str] = {}  # column -> the key that needs it
        for r in config.regions:
            if config.sample_in_region(s, r.name):
                for c in cols(r.variable, f"Regions.{r.name}.Variable"):
                    required.setdefault(c, f"Regions.{r.name}.Variable")
                for c in cols(r.selection, f"Regions.{r.name}.Selection"):
                    required.setdefault(c, f"Regions.{r.name}.Selection")
        for c in cols(s.selection, f"Samples.{s.name}.Selection"):
            required.setdefault(c, f"Samples.{s.name}.Selection")
        optional = set(syst_cols)
        if s.weight is not None:
            wcols = cols(s.weight, f"Samples.{s.name}.Weight")
            if s.weight == config.weight:  # the default weight column may be absent: unit weights
                optional |= wcols
            else:
                for c in wcols:
                    required.setdefault(c, f"Samples.{s.name}.Weight")
        parts = []
        for path in s.paths:
            avail = _available_columns(Path(path), s.tree)
            missing = sorted(c for c in required if c not in avail)
            if missing:
                c = missing[0]
                raise ConfigError(
                    f"unknown column {c!r} (not in {path})",
                    file=f,
                    field=required[c],
                    expected="a column of the sample's file: " + _short_list(sorted(avail)),
                )
            parts.append(read_columns(path, [c for c in {*required, *optional} if c in avail], tree=s.tree))
        arrays[s.name] = _concatenate(parts)
    for syst in config.systematics:
        for src in (syst.up, syst.down):
            if "Path" in src:
                key = f"{syst.name}:{src['Path']}"
                p = Path(src["Path"])
                wanted = syst_cols | {c for r in config.regions for c in cols(r.variable, "Variable")}
                wanted |= {c for r in config.regions for c in cols(r.selection, "Selection")}
                wanted |= {c for smp in config.samples for c in cols(smp.selection, "Selection")}
                wanted |= {c for smp in config.samples if smp.weight for c in cols(smp.weight, "Weight")}
                arrays[key] = read_columns(p, [c for c in wanted if c in _available_columns(p, "tree")])
                src["Sample"] = key
    return templates_from_arrays(config, arrays)


def _short_list(names: list[str], n: int = 30) -> str:
    return ", ".join(names[:n]) + (f" ... ({len(names)} in all)" if len(names) > n else "")


def _concatenate(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if len(parts) == 1:
        return parts[0]
    common = set.intersection(*(set(p) for p in parts))
    return {c: np.concatenate([p[c] for p in parts]) for c in common}


def _available_columns(path: Path, tree: str) -> set[str]:
    if not path.exists():
        raise DataError("file not found", file=path)
    from higgsflow.data.io import reading

    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        with reading(path, "Parquet"):
            return set(pq.read_schema(path).names)
    import uproot

    try:
        f = uproot.open(path)
    except Exception as exc:  # uproot raises many kinds for a file that is not ROOT
        raise DataError(f"cannot open as ROOT: {type(exc).__name__}: {exc}", file=path) from exc
    with f, reading(path):
        return set(f[tree].keys()) if tree in f else set()


def _check_yields(config: AnalysisConfig, key: TemplateKey, t: Template) -> Template:
    where = "/".join(key)
    if not (np.all(np.isfinite(t.yields)) and np.all(np.isfinite(t.sumw2))):
        raise DataError(
            "NaN or infinite yield",
            file=config.file,
            field=where,
            row=int(np.flatnonzero(~np.isfinite(t.yields) | ~np.isfinite(t.sumw2))[0]),
        )
    neg = t.yields < 0
    if np.any(neg):
        if config.negative_yields == "clip":
            log.warning(
                "%s: %d negative bin(s) clipped to zero (General.NegativeYields: clip)", where, neg.sum()
            )
            return Template(np.clip(t.yields, 0.0, None), t.sumw2, t.edges)
        raise DataError(
            f"negative yield {t.yields[neg][0]:.4g}",
            file=config.file,
            field=where,
            row=int(np.flatnonzero(neg)[0]),
            expected="non-negative yields (or General.NegativeYields: clip)",
        )
    return t


def build_workspace(
    config: AnalysisConfig,
    templates: Mapping[TemplateKey, Template],
    *,
    data: Mapping[str, np.ndarray] | None = None,
    require_background: bool = True,
) -> dict[str, Any]:
    """Build the pyhf JSON workspace (a dict following pyhf's ``workspace.json`` schema) for ``config``.

    Observations come from ``data`` (region → counts), else from the ``Data: true`` sample's templates, else
    from the nominal expectation (Asimov data, logged). Raises :class:`DataError` for NaN or negative yields,
    an empty region, or a bin without background (unless ``require_background=False``: the Asimov models of
    :mod:`higgsflow.sannt`, whose bins only need a positive total), and :class:`ConfigError` for missing
    templates.
    """
    import pyhf

    signal = config.signal_samples()
    channels, observations = [], []
    nf_by_sample: dict[str, list] = {}
    for nf in config.norm_factors:
        for s in nf.samples:
            nf_by_sample.setdefault(s, []).append(nf)
    used_params: set[str] = set()

    for region in config.regions:
        samples_out = []
        nominal: dict[str, Template] = {}
        for sample in config.mc_samples:
            if not config.sample_in_region(sample, region.name):
                continue
            key = (region.name, sample.name, "nominal")
            if key not in templates:
                raise ConfigError(
                    "no nominal template", file=config.file, field=f"{region.name}/{sample.name}"
                )
            nominal[sample.name] = _check_yields(config, key, templates[key])
        if not nominal:
            raise DataError("region has no samples", file=config.file, field=region.name)
        total = sum(t.yields for t in nominal.values())
        if not np.any(total > 0):
            raise DataError("empty region: all expected yields are zero", file=config.file, field=region.name)
        bkg = [t.yields for n, t in nominal.items() if n not in signal]
        if bkg and require_background:
            btot = np.sum(bkg, axis=0)
            zero = np.flatnonzero(btot <= 0)
            if zero.size:
                raise DataError(
                    "bin with zero total background",
                    file=config.file,
                    field=region.name,
                    row=int(zero[0]),
                    expected="a positive background in every bin (merge them: MergeBins: {MinBackground: x})",
                )
        # MC statistics: prune bins whose relative uncertainty of the summed MC is below the threshold
        mc_samples = [n for n in nominal if _sample(config, n).mcstat]
        if mc_samples:
            tot_err = np.sqrt(sum(nominal[n].sumw2 for n in mc_samples))
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.where(total > 0, tot_err / total, 0.0)
            pruned = rel < config.mcstat_threshold
            if pruned.any():
                log.info(
                    "%s: %d/%d bins below MC-stat threshold %.3g get no gamma",
                    region.name,
                    pruned.sum(),
                    pruned.size,
                    config.mcstat_threshold,
                )
        for name, t in nominal.items():
            mods: list[dict[str, Any]] = []
            for nf in nf_by_sample.get(name, []):
                if nf.regions is None or region.name in nf.regions:
                    mods.append({"name": nf.name, "type": "normfactor", "data": None})
                    used_params.add(nf.name)
            smp = _sample(config, name)
            if smp.lumi and config.lumi_uncertainty:
                mods.append({"name": "lumi", "type": "lumi", "data": None})
                used_params.add("lumi")
            if smp.mcstat and np.any(t.sumw2 > 0):
                err = np.where(pruned, 0.0, t.stat_error)
                if np.any(err > 0):
                    mods.append(
                        {"name": f"staterror_{region.name}", "type": "staterror", "data": err.tolist()}
                    )
            for syst in config.systematics:
                if _applies(syst, name, region.name):
                    mods.extend(_syst_modifiers(config, syst, region.name, name, t, templates))
            samples_out.append({"name": name, "data": t.yields.tolist(), "modifiers": mods})
        channels.append({"name": region.name, "samples": samples_out})

        if data is not None and region.name in data:
            obs = np.asarray(data[region.name], dtype=float)
        elif (
            config.data_sample is not None and (region.name, config.data_sample.name, "nominal") in templates
        ):
            obs = templates[(region.name, config.data_sample.name, "nominal")].yields
        else:
            log.warning("%s: no data given, using the nominal expectation (Asimov data)", region.name)
            obs = sum(t.yields * _nominal_scale(config, n, region.name) for n, t in nominal.items())
        obs = np.asarray(obs, dtype=float)
        if obs.shape != total.shape or not np.all(np.isfinite(obs)) or np.any(obs < 0):
            raise DataError(
                "observed counts must be finite, non-negative, one per bin",
                file=config.file,
                field=f"{region.name}/data",
                expected=f"{total.size} values",
            )
        observations.append({"name": region.name, "data": obs.tolist()})

    parameters = []
    for nf in config.norm_factors:
        if nf.name in used_params:
            parameters.append({"name": nf.name, "inits": [nf.nominal], "bounds": [list(nf.bounds)]})
    if "lumi" in used_params:
        u = config.lumi_uncertainty
        parameters.append(
            {
                "name": "lumi",
                "auxdata": [1.0],
                "sigmas": [u],
                "inits": [1.0],
                "bounds": [[max(1.0 - 5 * u, 1e-3), 1.0 + 5 * u]],
            }
        )
    missing_poi = [p for p in config.pois if p not in used_params]
    if missing_poi:
        raise ConfigError(
            "POI acts on no sample in any region", file=config.file, field=", ".join(missing_poi)
        )
    spec = {
        "channels": channels,
        "observations": observations,
        "measurements": [
            {"name": config.measurement, "config": {"poi": config.poi, "parameters": parameters}}
        ],
        "version": "1.0.0",
    }
    try:
        pyhf.Workspace(spec)
    except Exception as exc:  # pyhf's schema validation names the offending part
        raise ConfigError(f"the built workspace is invalid: {exc}", file=config.file) from exc
    return spec


def _sample(config: AnalysisConfig, name: str):
    return next(s for s in config.samples if s.name == name)


def _nominal_scale(config: AnalysisConfig, sample: str, region: str) -> float:
    f = 1.0
    for nf in config.norm_factors:
        if sample in nf.samples and (nf.regions is None or region in nf.regions):
            f *= nf.nominal
    return f


def _syst_modifiers(
    config: AnalysisConfig,
    syst: Systematic,
    region: str,
    sample: str,
    nominal: Template,
    templates: Mapping[TemplateKey, Template],
) -> list[dict[str, Any]]:
    name = syst.modifier
    if syst.type == "Normalization":
        up = 1.0 + float(syst.up["Normalization"])
        down = 1.0 + float(syst.down.get("Normalization", -float(syst.up["Normalization"])))
        if syst.symmetrize:
            down = 2.0 - up
        if up <= 0 or down <= 0:
            raise ConfigError(
                "normalisation variation must stay above -100%",
                file=config.file,
                field=f"Systematics.{syst.name}",
            )
        return [{"name": name, "type": "normsys", "data": {"hi": up, "lo": down}}]
    up_t = templates.get((region, sample, f"{syst.name}:up"))
    if up_t is None:
        raise ConfigError(
            "no up template", file=config.file, field=f"Systematics.{syst.name}: {region}/{sample}"
        )
    up_t = _check_yields(config, (region, sample, f"{syst.name}:up"), up_t)
    dn_t = templates.get((region, sample, f"{syst.name}:down"))
    if dn_t is None or syst.symmetrize:
        dn_y = np.clip(2 * nominal.yields - up_t.yields, 0.0, None)
    else:
        dn_y = _check_yields(config, (region, sample, f"{syst.name}:down"), dn_t).yields
    up_y = up_t.yields
    if syst.type == "ShapeSys":
        err = np.maximum(np.abs(up_y - nominal.yields), np.abs(dn_y - nominal.yields))
        return [{"name": name, "type": "shapesys", "data": err.tolist()}]
    mods = []
    if syst.split_norm or syst.type == "NormPlusShape":
        n0 = nominal.yields.sum()
        if n0 <= 0 or up_y.sum() <= 0 or dn_y.sum() <= 0:
            raise DataError(
                "cannot split the normalisation of an empty template",
                file=config.file,
                field=f"Systematics.{syst.name}: {region}/{sample}",
            )
        hi, lo = up_y.sum() / n0, dn_y.sum() / n0
        mods.append({"name": name, "type": "normsys", "data": {"hi": float(hi), "lo": float(lo)}})
        up_y, dn_y = up_y / hi, dn_y / lo
    mods.append(
        {"name": name, "type": "histosys", "data": {"hi_data": up_y.tolist(), "lo_data": dn_y.tolist()}}
    )
    return mods


def plot_metadata(config: AnalysisConfig, templates: Mapping[TemplateKey, Template]) -> dict[str, Any]:
    """What the plots need and a pyhf workspace cannot hold (its schema allows no extra keys): √s (TeV) and the
    integrated luminosity (fb⁻¹) from ``General``, and per region the observable (``Variable``), its axis label
    (``Label``) and the final bin edges (after ``MergeBins``). ``higgsflow stats build`` writes it next to the
    workspace (:func:`metadata_path`); the plotting commands read it from there."""
    regions = {}
    for r in config.regions:
        key = next((k for k in templates if k[0] == r.name), None)
        regions[r.name] = {
            "variable": r.variable,
            "label": r.axis_label,
            "edges": None if key is None else [float(x) for x in templates[key].edges],
        }
    return {
        "analysis_config": config.file,
        "sqrt_s": config.sqrt_s,
        "luminosity": config.luminosity,
        "regions": regions,
    }


def metadata_path(workspace: str | Path) -> Path:
    """Where the plot metadata of a workspace lives: ``ws.json`` → ``ws.meta.json`` in the same folder."""
    workspace = Path(workspace)
    return workspace.with_name(workspace.stem + ".meta.json")


def write_workspace(spec: Mapping[str, Any], path: str | Path, *, overwrite: bool = False) -> Path:
    """Write the pyhf JSON workspace; refuses to replace an existing file unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise DataError("output exists (use overwrite)", file=path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spec, indent=1))
    return path


def write_datacard(
    spec: Mapping[str, Any],
    directory: str | Path,
    *,
    edges: Mapping[str, np.ndarray] | None = None,
    interpolation: Mapping[str, str] | None = None,
    mcstat_threshold: float = 0.0,
    overwrite: bool = False,
) -> tuple[Path, Path]:
    """Write a CMS Combine datacard (``datacard.txt``) and its shapes file (``shapes.root``, via uproot).

    The mapping of modifiers: normfactor → ``rateParam`` (use ``--redefineSignalPOIs`` to fit them),
    normsys → asymmetric ``lnN`` (κ_down/κ_up), histosys → ``shape`` with ``<proc>_<syst>Up/Down`` templates
    (any normsys of the same name is folded into the templates), lumi → ``lnN``, staterror →
    ``autoMCStats`` with per-bin errors in the nominal templates. Combine's vertical template morphing
    (quadratic inside |α|<1, linear outside) differs from pyhf code 4p only inside |α| < 1.
    """
    import hist
    import uproot

    directory = Path(directory)
    card, shapes = directory / "datacard.txt", directory / "shapes.root"
    for p in (card, shapes):
        if p.exists() and not overwrite:
            raise DataError("output exists (use overwrite)", file=p)
    directory.mkdir(parents=True, exist_ok=True)
    params = {p["name"]: p for p in spec["measurements"][0]["config"]["parameters"]}
    obs = {o["name"]: np.asarray(o["data"], float) for o in spec["observations"]}

    def th1(values, errors, ch):
        n = len(values)
        e = np.asarray(edges[ch]) if edges and ch in edges else np.arange(n + 1, dtype=float)
        h = hist.Hist(hist.axis.Variable(e), storage=hist.storage.Weight())
        h.view().value = np.asarray(values, float)
        h.view().variance = np.asarray(errors, float) ** 2
        return h

    lines_proc: list[tuple[str, str, float]] = []
    systs: dict[str, dict[tuple[str, str], str]] = {}
    kinds: dict[str, str] = {}
    rate_params: dict[str, list[tuple[str, str]]] = {}
    poi_name = spec["measurements"][0]["config"]["poi"]
    signal_procs = set()
    with uproot.recreate(shapes) as f:
        for ch in spec["channels"]:
            c = ch["name"]
            f[f"{c}/data_obs"] = th1(obs[c], np.sqrt(obs[c]), c)
            for s in ch["samples"]:
                p = s["name"]
                nom = np.asarray(s["data"], float)
                stat = next(
                    (np.asarray(m["data"]) for m in s["modifiers"] if m["type"] == "staterror"),
                    np.zeros_like(nom),
                )
                f[f"{c}/{p}"] = th1(nom, stat, c)
                lines_proc.append((c, p, float(nom.sum())))
                norms = {m["name"]: m["data"] for m in s["modifiers"] if m["type"] == "normsys"}
                shapes_ = {m["name"]: m["data"] for m in s["modifiers"] if m["type"] == "histosys"}
                for m in s["modifiers"]:
                    n, t = m["name"], m["type"]
                    if t == "normfactor":
                        rate_params.setdefault(n, []).append((c, p))
                        if n == poi_name:
                            signal_procs.add(p)
                    elif t == "lumi":
                        kinds["lumi"] = "lnN"
                        systs.setdefault("lumi", {})[(c, p)] = f"{1 + params['lumi']['sigmas'][0]:.6g}"
                    elif t == "normsys" and n not in shapes_:
                        kinds[n] = "lnN"
                        systs.setdefault(n, {})[(c, p)] = f"{m['data']['lo']:.6g}/{m['data']['hi']:.6g}"
                    elif t == "histosys":
                        kinds[n] = "shape"
                        hi, lo = np.asarray(m["data"]["hi_data"]), np.asarray(m["data"]["lo_data"])
                        if n in norms:
                            hi, lo = hi * norms[n]["hi"], lo * norms[n]["lo"]
                        f[f"{c}/{p}_{n}Up"] = th1(hi, np.zeros_like(hi), c)
                        f[f"{c}/{p}_{n}Down"] = th1(lo, np.zeros_like(lo), c)
                        systs.setdefault(n, {})[(c, p)] = "1"
                    elif t == "shapesys":
                        log.warning("shapesys %s is written as a shape with ±1σ templates in Combine", n)
                        kinds[n] = "shape"
                        err = np.asarray(m["data"])
                        f[f"{c}/{p}_{n}Up"] = th1(nom + err, np.zeros_like(nom), c)
                        f[f"{c}/{p}_{n}Down"] = th1(np.clip(nom - err, 0, None), np.zeros_like(nom), c)
                        systs.setdefault(n, {})[(c, p)] = "1"
    procs = sorted({p for _, p, _ in lines_proc}, key=lambda p: (p not in signal_procs, p))
    pid = {}
    nsig = sum(p in signal_procs for p in procs)
    for i, p in enumerate(procs):
        pid[p] = i - nsig + 1  # Combine: signal processes <= 0 < backgrounds
    chans = [ch["name"] for ch in spec["channels"]]
    w = max(12, *(len(c) + 2 for c in chans), *(len(p) + 2 for p in procs))

    def row(label, cells):
        return f"{label:<28}" + "".join(f"{x:<{w}}" for x in cells)

    out = [
        f"# Combine datacard written by higgsflow.stats for measurement {spec['measurements'][0]['name']}",
        "# POIs are rateParams: text2workspace.py datacard.txt; combine -M AsymptoticLimits "
        f"--redefineSignalPOIs {poi_name}",
        f"# interpolation used in pyhf: {dict(interpolation or {})}",
        f"imax {len(chans)}",
        "jmax *",
        "kmax *",
        "-" * 40,
        "shapes * * shapes.root $CHANNEL/$PROCESS $CHANNEL/$PROCESS_$SYSTEMATIC",
        "-" * 40,
        row("bin", chans),
        row("observation", [f"{obs[c].sum():.6g}" for c in chans]),
        "-" * 40,
        row("bin", [c for c, _, _ in lines_proc]),
        row("process", [p for _, p, _ in lines_proc]),
        row("process", [str(pid[p]) for _, p, _ in lines_proc]),
        row("rate", ["-1" for _ in lines_proc]),
        "-" * 40,
    ]
    for n, cells in systs.items():
        out.append(
            f"{n:<20}{kinds[n]:<8}" + "".join(f"{cells.get((c, p), '-'):<{w}}" for c, p, _ in lines_proc)
        )
    for n, where in rate_params.items():
        lo, hi = params.get(n, {}).get("bounds", [[-10, 20]])[0]
        init = params.get(n, {}).get("inits", [1.0])[0]
        for c, p in where:
            out.append(f"{n} rateParam {c} {p} {init:g} [{lo:g},{hi:g}]")
    # Combine's threshold counts effective events (Barlow-Beeston-lite above it); pruning of tiny
    # uncertainties (our relative MCStat.Threshold) has no datacard equivalent, so it is recorded only.
    out.append(f"* autoMCStats 0  # pyhf model pruned gammas below relative MC error {mcstat_threshold:g}")
    card.write_text("\n".join(out) + "\n")
    return card, shapes
