"""``higgsflow stats ...``: build the workspace, fit, limits, significance, scans, impacts, yields, κ scans.

Only typer/rich/stdlib at module level; the commands call library functions (imported inside them).

Errors are not caught here: a :class:`~higgsflow.errors.HiggsflowError` reaches :func:`higgsflow.cli.main`, which
prints it as one line (exit code 1), or with its traceback under ``higgsflow -v``. Every command checks all its
outputs (:func:`higgsflow.outputs.check_outputs`) before it computes anything, and writes them only at the end.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="Binned profile-likelihood inference with pyhf (fits, limits, scans, impacts, κ).",
    no_args_is_help=True,
)
console = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

WS = Annotated[Path, typer.Argument(help="pyhf JSON workspace")]
POI = Annotated[str | None, typer.Option("--poi", help="parameter of interest (default: the workspace's)")]
OUT = Annotated[Path | None, typer.Option("--out", "-o", help="write the result as JSON here")]
PLOT = Annotated[Path | None, typer.Option("--plot", help="write a plot (png/pdf) here")]
OVERWRITE = Annotated[bool, typer.Option("--overwrite", help="replace existing outputs")]
SQRT_S = Annotated[
    float | None,
    typer.Option(
        "--sqrt-s", help="√s in TeV for the plot header (default: General.SqrtS of the analysis config)"
    ),
]
LUMI = Annotated[
    float | None,
    typer.Option(
        "--lumi", help="integrated luminosity in fb⁻¹ for the plot header (default: General.Lumi.Value)"
    ),
]


def _model(path: Path):
    """The workspace at ``path`` as a :class:`~higgsflow.stats.StatModel`; errors name the file."""
    import higgsflow.stats as st
    from higgsflow.errors import ConfigError, DataError

    if not path.exists():
        raise DataError("workspace not found", file=path)
    try:
        spec = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"not JSON: {exc}", file=path) from exc
    except UnicodeDecodeError as exc:
        raise DataError("not a JSON text file", file=path) from exc
    try:
        return st.StatModel(spec)
    except ConfigError as exc:
        raise ConfigError(exc.message, file=path, expected=exc.expected) from exc


def _parameter(sm, workspace: Path, name: str | None, option: str, poi: str | None = None) -> None:
    """Refuse a parameter name the workspace does not have, naming the option (before any fit)."""
    from higgsflow.errors import ConfigError

    if name is None:
        return
    labels = sm.model(poi).config.par_names if option != "--poi" else sm.pois
    if name not in labels:
        raise ConfigError(
            f"unknown parameter {name!r}",
            file=workspace,
            field=option,
            expected="one of: " + ", ".join(labels[:20]) + (" ..." if len(labels) > 20 else ""),
        )


def _meta(workspace: Path, sqrt_s: float | None = None, lumi: float | None = None) -> dict:
    """The plot metadata written by ``stats build`` next to the workspace (√s, luminosity, observables and bin
    edges per region), with ``--sqrt-s``/``--lumi`` taking precedence; empty values where it is absent."""
    from higgsflow.errors import DataError
    from higgsflow.stats.workspace import metadata_path

    path = metadata_path(workspace)
    meta: dict = {}
    if path.is_file():
        try:
            meta = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"not JSON: {exc}", file=path) from exc
    return {
        "com": sqrt_s if sqrt_s is not None else meta.get("sqrt_s"),
        "lumi": lumi if lumi is not None else meta.get("luminosity"),
        "regions": meta.get("regions") or {},
    }


def _header(workspace: Path, sqrt_s: float | None, lumi: float | None) -> dict:
    """``com`` and ``lumi`` for the plot header (options, else the workspace's plot metadata)."""
    meta = _meta(workspace, sqrt_s, lumi)
    return {"com": meta["com"], "lumi": meta["lumi"]}


def _check(*paths: Path | None, overwrite: bool) -> None:
    """Every output of the command, checked before anything is computed."""
    from higgsflow.outputs import check_outputs

    check_outputs(paths, overwrite=overwrite)


def _json_value(x):
    """±inf (an interval end beyond the scanned range) as None: JSON has no infinity."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _write(obj: dict, path: Path | None, overwrite: bool) -> None:
    from higgsflow.errors import DataError

    if path is None:
        return
    text = json.dumps(obj, indent=1, default=float, allow_nan=False)
    if path.exists() and not overwrite:
        raise DataError("output exists (use --overwrite)", file=path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@app.command()
def build(
    config: Annotated[Path, typer.Argument(help="analysis YAML config")],
    out: Annotated[Path, typer.Option("--out", "-o", help="pyhf workspace JSON to write")] = Path(
        "workspace.json"
    ),
    datacard: Annotated[
        Path | None, typer.Option(help="also write a Combine datacard.txt + shapes.root in this folder")
    ] = None,
    inputs: Annotated[
        Path | None,
        typer.Option(
            "--inputs",
            help="folder against which the config's relative sample paths are resolved "
            "(default: the config file's folder)",
        ),
    ] = None,
    overwrite: OVERWRITE = False,
) -> None:
    """Fill the templates from the config's files and write the pyhf workspace (and a Combine datacard).

    Next to the workspace goes WORKSPACE.meta.json: √s, luminosity, and each region's observable, axis label
    and bin edges, which the plots of the other commands read (a pyhf workspace cannot hold them). All outputs
    are checked before the templates are filled; they are written together at the end, and a failure while
    writing removes the files this command had created (all or nothing).
    """
    import numpy as np

    import higgsflow.stats as st
    from higgsflow.errors import DataError

    meta_out = st.metadata_path(out)
    outputs = [out, meta_out]
    if datacard is not None:
        outputs += [datacard / "datacard.txt", datacard / "shapes.root"]
    _check(*outputs, overwrite=overwrite)
    if inputs is not None and not inputs.is_dir():
        raise DataError("input folder not found", file=inputs, expected="a folder (--inputs)")
    cfg = st.load_config(config, input_dir=inputs)
    templates = st.templates_from_files(cfg)
    spec = st.build_workspace(cfg, templates)
    meta = st.plot_metadata(cfg, templates)
    new = [p for p in outputs if not p.exists()]
    try:
        if datacard is not None:
            edges = {r: np.asarray(m["edges"]) for r, m in meta["regions"].items() if m["edges"] is not None}
            st.write_datacard(
                spec,
                datacard,
                edges=edges,
                interpolation=cfg.interpolation,
                mcstat_threshold=cfg.mcstat_threshold,
                overwrite=overwrite,
            )
        st.write_workspace(spec, out, overwrite=overwrite)
        _write(meta, meta_out, overwrite)
    except BaseException:
        for p in new:  # all or nothing: remove what this command created
            p.unlink(missing_ok=True)
        raise
    console.print(f"wrote {out} and {meta_out}")
    if datacard is not None:
        console.print(f"wrote {datacard / 'datacard.txt'} and {datacard / 'shapes.root'}")


@app.command()
def fit(
    workspace: WS,
    poi: POI = None,
    asimov: Annotated[bool, typer.Option(help="fit Asimov data")] = False,
    out: OUT = None,
    plot: PLOT = None,
    sqrt_s: SQRT_S = None,
    lumi: LUMI = None,
    overwrite: OVERWRITE = False,
) -> None:
    """Maximum-likelihood fit with uncertainties (Minuit); optional correlation-matrix plot."""
    import higgsflow.stats as st

    _check(out, plot, overwrite=overwrite)
    sm = _model(workspace)
    _parameter(sm, workspace, poi, "--poi")
    res = st.fit(sm, poi=poi, asimov=asimov)
    for name, v, e in zip(res.labels, res.bestfit, res.uncertainty, strict=True):
        if e > 0:
            console.print(f"{name:40s} {v: .4f} ± {e:.4f}")
    _write(res.to_dict(), out, overwrite)
    if plot:
        from higgsflow.stats.plots import plot_correlation

        plot_correlation(
            res, min_correlation=0.1, path=plot, overwrite=overwrite, **_header(workspace, sqrt_s, lumi)
        )


@app.command()
def limit(
    workspace: WS,
    poi: POI = None,
    cl: Annotated[float, typer.Option(help="confidence level")] = 0.95,
    toys: Annotated[int, typer.Option(help="use this many toys instead of asymptotics (0: asymptotic)")] = 0,
    seed: Annotated[int, typer.Option(help="toy seed")] = 0,
    out: OUT = None,
    plot: PLOT = None,
    sqrt_s: SQRT_S = None,
    lumi: LUMI = None,
    overwrite: OVERWRITE = False,
) -> None:
    """CLs upper limit (asymptotic q̃ by default) with the ±1σ/±2σ expected band."""
    import numpy as np

    import higgsflow.stats as st
    from higgsflow.errors import ConfigError

    _check(out, plot, overwrite=overwrite)
    if not 0 < cl < 1:
        raise ConfigError(f"confidence level {cl} outside (0, 1)", field="--cl", expected="e.g. 0.95")
    sm = _model(workspace)
    _parameter(sm, workspace, poi, "--poi")
    if toys:
        asym = st.upper_limit(sm, poi=poi, cl=cl)
        grid = np.linspace(0, asym.expected[4] * 1.5, 16)[1:]
        res = st.upper_limit(sm, poi=poi, cl=cl, calculator="toys", ntoys=toys, seed=seed, toy_scan=grid)
    else:
        res = st.upper_limit(sm, poi=poi, cl=cl)
    e = res.expected
    console.print(
        f"{res.poi}: observed {res.observed:.4f}; expected {e[2]:.4f} "
        f"(68%: [{e[1]:.4f}, {e[3]:.4f}], 95%: [{e[0]:.4f}, {e[4]:.4f}])"
    )
    _write(res.to_dict(), out, overwrite)
    if plot:
        from higgsflow.stats.plots import plot_limits

        plot_limits({res.poi: res}, path=plot, overwrite=overwrite, **_header(workspace, sqrt_s, lumi))


@app.command()
def significance(workspace: WS, poi: POI = None, out: OUT = None, overwrite: OVERWRITE = False) -> None:
    """Discovery significance: observed, and expected on Asimov data (μ = 1)."""
    import higgsflow.stats as st

    _check(out, overwrite=overwrite)
    sm = _model(workspace)
    _parameter(sm, workspace, poi, "--poi")
    res = st.significance(sm, poi=poi)
    console.print(
        f"{res.poi}: observed Z = {res.observed_z:.3f} (p = {res.observed_p:.3g}); "
        f"expected Z = {res.expected_z:.3f} (p = {res.expected_p:.3g})"
    )
    _write(res.to_dict(), out, overwrite)


@app.command()
def scan(
    workspace: WS,
    parameter: Annotated[str | None, typer.Option(help="parameter (default: POI)")] = None,
    low: Annotated[float, typer.Option("--min", help="lowest scanned value")] = 0.0,
    high: Annotated[float, typer.Option("--max", help="highest scanned value")] = 3.0,
    points: Annotated[int, typer.Option(help="scan points")] = 21,
    poi: POI = None,
    asimov: Annotated[bool, typer.Option(help="scan Asimov data")] = False,
    out: OUT = None,
    plot: PLOT = None,
    sqrt_s: SQRT_S = None,
    lumi: LUMI = None,
    overwrite: OVERWRITE = False,
) -> None:
    """1D profile-likelihood scan with 68%/95% intervals.

    An interval end outside [--min, --max] is reported as beyond the scanned range (null in the JSON).
    """
    import numpy as np

    import higgsflow.stats as st
    from higgsflow.errors import ConfigError

    _check(out, plot, overwrite=overwrite)
    if not high > low or points < 2:
        raise ConfigError(
            "the scan needs --max > --min and at least 2 --points", field="--min/--max/--points"
        )
    sm = _model(workspace)
    _parameter(sm, workspace, poi, "--poi")
    _parameter(sm, workspace, parameter, "--parameter", poi)
    res = st.scan(sm, parameter, np.linspace(low, high, points), poi=poi, asimov=asimov)
    console.print(
        f"{res.parameter} = {res.bestfit:.4f}; 68% CL: {res.interval_text(68)}; 95% CL: {res.interval_text(95)}"
    )
    _write(
        {
            "parameter": res.parameter,
            "values": res.values.tolist(),
            "delta_twice_nll": res.delta_twice_nll.tolist(),
            "bestfit": res.bestfit,
            "scan_range": [float(low), float(high)],
            "interval68": [_json_value(x) for x in res.interval68],
            "interval95": [_json_value(x) for x in res.interval95],
        },
        out,
        overwrite,
    )
    if plot:
        from higgsflow.stats.plots import plot_scan

        plot_scan(res, path=plot, overwrite=overwrite, **_header(workspace, sqrt_s, lumi))


@app.command("scan2d")
def scan2d(
    workspace: WS,
    x: Annotated[str, typer.Option(help="first parameter")],
    y: Annotated[str, typer.Option(help="second parameter")],
    x_range: Annotated[tuple[float, float], typer.Option(help="x min max")] = (0.0, 3.0),
    y_range: Annotated[tuple[float, float], typer.Option(help="y min max")] = (0.0, 3.0),
    points: Annotated[int, typer.Option(help="scan points per axis")] = 11,
    poi: POI = None,
    asimov: Annotated[bool, typer.Option(help="scan Asimov data")] = False,
    out: OUT = None,
    plot: PLOT = None,
    sqrt_s: SQRT_S = None,
    lumi: LUMI = None,
    overwrite: OVERWRITE = False,
) -> None:
    """2D profile-likelihood scan (68%/95% contours)."""
    import numpy as np

    import higgsflow.stats as st

    _check(out, plot, overwrite=overwrite)
    sm = _model(workspace)
    _parameter(sm, workspace, poi, "--poi")
    _parameter(sm, workspace, x, "--x", poi)
    _parameter(sm, workspace, y, "--y", poi)
    res = st.scan_2d(
        sm,
        (x, y),
        np.linspace(*x_range, points),
        np.linspace(*y_range, points),
        poi=poi,
        asimov=asimov,
    )
    console.print(f"best fit ({x}, {y}) = ({res.bestfit[0]:.3f}, {res.bestfit[1]:.3f})")
    _write(
        {
            "parameters": list(res.parameters),
            "x": res.x.tolist(),
            "y": res.y.tolist(),
            "delta_twice_nll": res.delta_twice_nll.tolist(),
        },
        out,
        overwrite,
    )
    if plot:
        from higgsflow.stats.plots import plot_scan_2d

        plot_scan_2d(res, path=plot, overwrite=overwrite, **_header(workspace, sqrt_s, lumi))


@app.command()
def impacts(
    workspace: WS,
    poi: POI = None,
    workers: Annotated[int | None, typer.Option(help="processes")] = None,
    asimov: Annotated[bool, typer.Option(help="Asimov data")] = False,
    top: Annotated[int, typer.Option(help="show the N largest impacts")] = 20,
    out: OUT = None,
    plot: PLOT = None,
    sqrt_s: SQRT_S = None,
    lumi: LUMI = None,
    overwrite: OVERWRITE = False,
) -> None:
    """Pulls and pre-/post-fit impacts on the POI, ranked (fits in a process pool)."""
    from rich.progress import Progress

    import higgsflow.stats as st

    _check(out, plot, overwrite=overwrite)
    sm = _model(workspace)
    _parameter(sm, workspace, poi, "--poi")
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("impact fits", total=None)
        res = st.impacts(
            sm,
            poi=poi,
            asimov=asimov,
            n_workers=workers,
            progress=lambda i, n: bar.update(task, completed=i, total=n),
        )
    for k in res.ranking()[:top]:
        console.print(
            f"{res.labels[k]:40s} pull {res.pulls[k]: .3f}  post-fit {res.postfit_up[k]: .4f} "
            f"{res.postfit_down[k]: .4f}  pre-fit {res.prefit_up[k]: .4f} {res.prefit_down[k]: .4f}"
        )
    _write(
        {
            "poi": res.poi,
            "labels": res.labels,
            "pulls": res.pulls.tolist(),
            "postfit_up": res.postfit_up.tolist(),
            "postfit_down": res.postfit_down.tolist(),
            "prefit_up": [_json_value(float(v)) for v in res.prefit_up],
            "prefit_down": [_json_value(float(v)) for v in res.prefit_down],
        },
        out,
        overwrite,
    )
    if plot:
        from higgsflow.stats.plots import plot_impacts

        plot_impacts(res, top=top, path=plot, overwrite=overwrite, **_header(workspace, sqrt_s, lumi))


@app.command()
def yields(
    workspace: WS,
    postfit: Annotated[bool, typer.Option(help="post-fit instead of pre-fit")] = False,
    latex: Annotated[Path | None, typer.Option(help="write a LaTeX table here")] = None,
    plots: Annotated[Path | None, typer.Option(help="write one stack plot per region in this folder")] = None,
    sqrt_s: SQRT_S = None,
    lumi: LUMI = None,
    overwrite: OVERWRITE = False,
) -> None:
    """Pre- or post-fit yields per region and sample with uncertainties (text, LaTeX, stack plots)."""
    import higgsflow.stats as st
    from higgsflow.stats.plots import plot_stack, yield_table_latex, yield_table_text

    sm = _model(workspace)
    label = "post-fit" if postfit else "pre-fit"
    regions = list(sm.model().config.channels)
    stack_paths = {r: plots / f"{r}_{label}.png" for r in regions} if plots else {}
    _check(latex, *stack_paths.values(), overwrite=overwrite)
    table = st.yields(sm, st.fit(sm) if postfit else None)
    console.print(yield_table_text(table))
    if latex:
        _write_text(latex, yield_table_latex(table), overwrite)
    meta = _meta(workspace, sqrt_s, lumi)
    signal = sorted(  # the samples scaled by the parameter of interest go on top of the stacks
        {
            smp["name"]
            for ch in sm.spec["channels"]
            for smp in ch["samples"]
            for m in smp["modifiers"]
            if m["type"] == "normfactor" and m["name"] == sm.default_poi
        }
    )
    for r, path in stack_paths.items():
        info = meta["regions"].get(r) or {}
        plot_stack(
            table,
            r,
            edges=info.get("edges"),
            xlabel=info.get("label"),
            signal=signal,
            path=path,
            overwrite=overwrite,
            com=meta["com"],
            lumi=meta["lumi"],
        )


def _write_text(path: Path, text: str, overwrite: bool) -> None:
    from higgsflow.errors import DataError

    if path.exists() and not overwrite:
        raise DataError("output exists (use --overwrite)", file=path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@app.command()
def kappa(
    workspace: WS,
    kc_max: Annotated[float, typer.Option(help="largest κ_c scanned")] = 5.0,
    points: Annotated[int, typer.Option(help="scan points per axis")] = 21,
    kappa_b: Annotated[float, typer.Option(help="fixed κ_b")] = 1.0,
    kb_range: Annotated[tuple[float, float] | None, typer.Option(help="also scan κ_b (2D)")] = None,
    poi_cc: Annotated[
        str | None,
        typer.Option(
            "--poi-cc",
            "--mu-cc",
            help="the workspace's H→cc̄ signal strength (default: mu_ttHcc if present, else the workspace's POI)",
        ),
    ] = None,
    poi_bb: Annotated[
        str | None,
        typer.Option(
            "--poi-bb",
            "--mu-bb",
            help="the workspace's H→bb̄ signal strength (default: mu_ttHbb if present; 'none': no H→bb̄ signal)",
        ),
    ] = None,
    asimov: Annotated[bool, typer.Option(help="scan Asimov data")] = False,
    out: OUT = None,
    plot: PLOT = None,
    sqrt_s: SQRT_S = None,
    lumi: LUMI = None,
    overwrite: OVERWRITE = False,
) -> None:
    """κ_c scan at fixed κ_b (limit on κ_c), optionally the 2D κ_c–κ_b scan."""
    import numpy as np

    from higgsflow.stats.kappa import kappa_limit, kappa_pois, kappa_scan, kappa_scan_2d

    _check(out, plot, overwrite=overwrite)
    sm = _model(workspace)
    pois = kappa_pois(sm, cc=poi_cc, bb=poi_bb, file=workspace)
    kc = np.linspace(0.0, kc_max, points)
    if kb_range is None:
        res = kappa_scan(sm, kc, kappa_b=kappa_b, pois=pois, asimov=asimov)
        lim = kappa_limit(res)
        text = (
            f"|κ_c| < {lim:.3f}"
            if np.isfinite(lim)
            else f"|κ_c| > {kc_max:g}: the 95% CL limit lies beyond the scanned range [0, {kc_max:g}]"
        )
        used = ", ".join(v for v in pois.values() if v)
        console.print(
            f"κ_c = {res.bestfit:.3f}; 95% CL: {text} (κ_b = {kappa_b:g}; signal strengths: {used})"
        )
        _write(
            {
                "parameter": "kappa_c",
                "kappa_b": kappa_b,
                "pois": pois,
                "values": res.values.tolist(),
                "delta_twice_nll": res.delta_twice_nll.tolist(),
                "bestfit": res.bestfit,
                "scan_range": [0.0, float(kc_max)],
                "limit95": _json_value(float(lim)),
            },
            out,
            overwrite,
        )
        if plot:
            from higgsflow.stats.plots import plot_scan

            plot_scan(
                res, path=plot, overwrite=overwrite, label=r"$\kappa_c$", **_header(workspace, sqrt_s, lumi)
            )
    else:
        res2 = kappa_scan_2d(sm, kc, np.linspace(*kb_range, points), pois=pois, asimov=asimov)
        console.print(f"best fit (κ_c, κ_b) = ({res2.bestfit[0]:.3f}, {res2.bestfit[1]:.3f})")
        _write(
            {
                "parameters": list(res2.parameters),
                "pois": pois,
                "x": res2.x.tolist(),
                "y": res2.y.tolist(),
                "delta_twice_nll": res2.delta_twice_nll.tolist(),
                "bestfit": list(res2.bestfit),
            },
            out,
            overwrite,
        )
        if plot:
            from higgsflow.stats.plots import plot_scan_2d

            plot_scan_2d(res2, path=plot, overwrite=overwrite, **_header(workspace, sqrt_s, lumi))
