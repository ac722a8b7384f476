"""``higgsflow stats ...``: build the workspace, fit, limits, significance, scans, impacts, yields, κ scans.

Only typer/rich/stdlib at module level; the commands call library functions (imported inside them).
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="Binned profile-likelihood inference with pyhf (fits, limits, scans, impacts, κ).",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)

WS = Annotated[Path, typer.Argument(help="pyhf JSON workspace")]
POI = Annotated[str | None, typer.Option("--poi", help="parameter of interest (default: the workspace's)")]
OUT = Annotated[Path | None, typer.Option("--output", "-o", help="write the result as JSON here")]
PLOT = Annotated[Path | None, typer.Option("--plot", help="write a plot (png/pdf) here")]
OVERWRITE = Annotated[bool, typer.Option("--overwrite", help="replace existing outputs")]


def _handle(fn):
    """Print a HiggsflowError as one line and exit 1 (conventions: exit codes)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from higgsflow.errors import HiggsflowError

        try:
            return fn(*args, **kwargs)
        except HiggsflowError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from exc

    return wrapper


def _model(path: Path):
    import higgsflow.stats as st
    from higgsflow.errors import DataError

    if not path.exists():
        raise DataError("workspace not found", file=path)
    try:
        spec = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"not JSON: {exc}", file=path) from exc
    return st.StatModel(spec)


def _write(obj: dict, path: Path | None, overwrite: bool) -> None:
    from higgsflow.errors import DataError

    text = json.dumps(obj, indent=1, default=float)
    if path is None:
        return
    if path.exists() and not overwrite:
        raise DataError("output exists (use --overwrite)", file=path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@app.command()
@_handle
def build(
    config: Annotated[Path, typer.Argument(help="analysis YAML config")],
    output: Annotated[Path, typer.Option("--output", "-o", help="pyhf workspace JSON to write")] = Path(
        "workspace.json"
    ),
    datacard: Annotated[Path | None, typer.Option(help="also write a Combine datacard + shapes here")] = None,
    overwrite: OVERWRITE = False,
) -> None:
    """Fill the templates from the config's files and write the pyhf workspace (and a Combine datacard)."""
    import higgsflow.stats as st

    cfg = st.load_config(config)
    templates = st.templates_from_files(cfg)
    spec = st.build_workspace(cfg, templates)
    st.write_workspace(spec, output, overwrite=overwrite)
    console.print(f"wrote {output}")
    if datacard is not None:
        edges = {r.name: templates[next(k for k in templates if k[0] == r.name)].edges for r in cfg.regions}
        card, shapes = st.write_datacard(
            spec,
            datacard,
            edges=edges,
            interpolation=cfg.interpolation,
            mcstat_threshold=cfg.mcstat_threshold,
            overwrite=overwrite,
        )
        console.print(f"wrote {card} and {shapes}")


@app.command()
@_handle
def fit(
    workspace: WS,
    poi: POI = None,
    asimov: Annotated[bool, typer.Option(help="fit Asimov data")] = False,
    output: OUT = None,
    plot: PLOT = None,
    overwrite: OVERWRITE = False,
) -> None:
    """Maximum-likelihood fit with uncertainties (Minuit); optional correlation-matrix plot."""
    import higgsflow.stats as st

    res = st.fit(_model(workspace), poi=poi, asimov=asimov)
    for name, v, e in zip(res.labels, res.bestfit, res.uncertainty, strict=True):
        if e > 0:
            console.print(f"{name:40s} {v: .4f} ± {e:.4f}")
    _write(res.to_dict(), output, overwrite)
    if plot:
        from higgsflow.stats.plots import plot_correlation

        plot_correlation(res, min_correlation=0.1, path=plot, overwrite=overwrite)


@app.command()
@_handle
def limit(
    workspace: WS,
    poi: POI = None,
    cl: Annotated[float, typer.Option(help="confidence level")] = 0.95,
    toys: Annotated[int, typer.Option(help="use this many toys instead of asymptotics (0: asymptotic)")] = 0,
    seed: Annotated[int, typer.Option(help="toy seed")] = 0,
    output: OUT = None,
    plot: PLOT = None,
    overwrite: OVERWRITE = False,
) -> None:
    """CLs upper limit (asymptotic q̃ by default) with the ±1σ/±2σ expected band."""
    import numpy as np

    import higgsflow.stats as st

    sm = _model(workspace)
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
    _write(res.to_dict(), output, overwrite)
    if plot:
        from higgsflow.stats.plots import plot_limits

        plot_limits({res.poi: res}, path=plot, overwrite=overwrite)


@app.command()
@_handle
def significance(workspace: WS, poi: POI = None, output: OUT = None, overwrite: OVERWRITE = False) -> None:
    """Discovery significance: observed, and expected on Asimov data (μ = 1)."""
    import higgsflow.stats as st

    res = st.significance(_model(workspace), poi=poi)
    console.print(
        f"{res.poi}: observed Z = {res.observed_z:.3f} (p = {res.observed_p:.3g}); "
        f"expected Z = {res.expected_z:.3f} (p = {res.expected_p:.3g})"
    )
    _write(res.to_dict(), output, overwrite)


@app.command()
@_handle
def scan(
    workspace: WS,
    parameter: Annotated[str | None, typer.Option(help="parameter (default: POI)")] = None,
    low: Annotated[float, typer.Option("--min")] = 0.0,
    high: Annotated[float, typer.Option("--max")] = 3.0,
    points: int = 21,
    poi: POI = None,
    asimov: bool = False,
    output: OUT = None,
    plot: PLOT = None,
    overwrite: OVERWRITE = False,
) -> None:
    """1D profile-likelihood scan with 68%/95% intervals."""
    import numpy as np

    import higgsflow.stats as st

    res = st.scan(_model(workspace), parameter, np.linspace(low, high, points), poi=poi, asimov=asimov)
    console.print(
        f"{res.parameter} = {res.bestfit:.4f}; 68%: [{res.interval68[0]:.4f}, {res.interval68[1]:.4f}]; "
        f"95%: [{res.interval95[0]:.4f}, {res.interval95[1]:.4f}]"
    )
    _write(
        {
            "parameter": res.parameter,
            "values": res.values.tolist(),
            "delta_twice_nll": res.delta_twice_nll.tolist(),
            "bestfit": res.bestfit,
            "interval68": res.interval68,
            "interval95": res.interval95,
        },
        output,
        overwrite,
    )
    if plot:
        from higgsflow.stats.plots import plot_scan

        plot_scan(res, path=plot, overwrite=overwrite)


@app.command("scan2d")
@_handle
def scan2d(
    workspace: WS,
    x: Annotated[str, typer.Option(help="first parameter")],
    y: Annotated[str, typer.Option(help="second parameter")],
    x_range: Annotated[tuple[float, float], typer.Option(help="x min max")] = (0.0, 3.0),
    y_range: Annotated[tuple[float, float], typer.Option(help="y min max")] = (0.0, 3.0),
    points: int = 11,
    poi: POI = None,
    asimov: bool = False,
    output: OUT = None,
    plot: PLOT = None,
    overwrite: OVERWRITE = False,
) -> None:
    """2D profile-likelihood scan (68%/95% contours)."""
    import numpy as np

    import higgsflow.stats as st

    res = st.scan_2d(
        _model(workspace),
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
        output,
        overwrite,
    )
    if plot:
        from higgsflow.stats.plots import plot_scan_2d

        plot_scan_2d(res, path=plot, overwrite=overwrite)


@app.command()
@_handle
def impacts(
    workspace: WS,
    poi: POI = None,
    workers: Annotated[int | None, typer.Option(help="processes")] = None,
    asimov: bool = False,
    top: int = 20,
    output: OUT = None,
    plot: PLOT = None,
    overwrite: OVERWRITE = False,
) -> None:
    """Pulls and pre-/post-fit impacts on the POI, ranked (fits in a process pool)."""
    from rich.progress import Progress

    import higgsflow.stats as st

    sm = _model(workspace)
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
            "prefit_up": res.prefit_up.tolist(),
            "prefit_down": res.prefit_down.tolist(),
        },
        output,
        overwrite,
    )
    if plot:
        from higgsflow.stats.plots import plot_impacts

        plot_impacts(res, top=top, path=plot, overwrite=overwrite)


@app.command()
@_handle
def yields(
    workspace: WS,
    postfit: Annotated[bool, typer.Option(help="post-fit instead of pre-fit")] = False,
    latex: Annotated[Path | None, typer.Option(help="write a LaTeX table here")] = None,
    plots: Annotated[Path | None, typer.Option(help="write one stack plot per region in this folder")] = None,
    overwrite: OVERWRITE = False,
) -> None:
    """Pre- or post-fit yields per region and sample with uncertainties (text, LaTeX, stack plots)."""
    import higgsflow.stats as st
    from higgsflow.stats.plots import plot_stack, yield_table_latex, yield_table_text

    sm = _model(workspace)
    table = st.yields(sm, st.fit(sm) if postfit else None)
    console.print(yield_table_text(table))
    if latex:
        _write_text(latex, yield_table_latex(table), overwrite)
    if plots:
        for r in table.regions:
            plot_stack(table, r, path=plots / f"{r}_{table.label}.png", overwrite=overwrite)


def _write_text(path: Path, text: str, overwrite: bool) -> None:
    from higgsflow.errors import DataError

    if path.exists() and not overwrite:
        raise DataError("output exists (use --overwrite)", file=path)
    path.write_text(text)


@app.command()
@_handle
def kappa(
    workspace: WS,
    kc_max: Annotated[float, typer.Option(help="largest κ_c scanned")] = 5.0,
    points: int = 21,
    kappa_b: Annotated[float, typer.Option(help="fixed κ_b")] = 1.0,
    kb_range: Annotated[tuple[float, float] | None, typer.Option(help="also scan κ_b (2D)")] = None,
    mu_cc: str = "mu_ttHcc",
    mu_bb: str = "mu_ttHbb",
    asimov: bool = False,
    plot: PLOT = None,
    overwrite: OVERWRITE = False,
) -> None:
    """κ_c scan at fixed κ_b (limit on κ_c), optionally the 2D κ_c–κ_b scan."""
    import numpy as np

    from higgsflow.stats.kappa import kappa_limit, kappa_scan, kappa_scan_2d

    sm = _model(workspace)
    pois = {"ttHcc": mu_cc, "ttHbb": mu_bb or None}
    kc = np.linspace(0.0, kc_max, points)
    if kb_range is None:
        res = kappa_scan(sm, kc, kappa_b=kappa_b, pois=pois, asimov=asimov)
        console.print(f"κ_c = {res.bestfit:.3f}; 95% CL: |κ_c| < {kappa_limit(res):.3f} (κ_b = {kappa_b})")
        if plot:
            from higgsflow.stats.plots import plot_scan

            plot_scan(res, path=plot, overwrite=overwrite, label=r"$\kappa_c$")
    else:
        res2 = kappa_scan_2d(sm, kc, np.linspace(*kb_range, points), pois=pois, asimov=asimov)
        console.print(f"best fit (κ_c, κ_b) = ({res2.bestfit[0]:.3f}, {res2.bestfit[1]:.3f})")
        if plot:
            from higgsflow.stats.plots import plot_scan_2d

            plot_scan_2d(res2, path=plot, overwrite=overwrite)


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("-v", help="log at INFO level")] = False) -> None:
    if verbose:
        logging.basicConfig(level=logging.INFO)
