"""``higgsflow eft``: generate the ZH SMEFT sample, train Boosted Information Trees, expected limits."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="SMEFT inference with Boosted Information Trees (VH(bb) ZH model).", no_args_is_help=True
)


def _bar(description: str):
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn(description),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
        transient=True,
    )
    return progress


def _names(text: str, option: str, count: int | None = None) -> tuple[str, ...]:
    """Comma-separated names of an option; ``count`` of them when given (ConfigError naming the option)."""
    from higgsflow.errors import ConfigError

    names = tuple(v.strip() for v in text.split(","))
    if any(not v for v in names) or (count is not None and len(names) != count):
        what = f"{count} comma-separated names" if count else "comma-separated names"
        raise ConfigError(f"{text!r}", field=option, expected=what)
    return names


def _numbers(text: str, option: str, count: int) -> tuple[float, ...]:
    """``count`` comma-separated numbers of an option (ConfigError naming the option)."""
    from higgsflow.errors import ConfigError

    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != count:
        raise ConfigError(f"{text!r}", field=option, expected=f"{count} comma-separated numbers, e.g. 90,150")
    return values


@app.command("generate-zh")
def generate_zh(
    out: Path = typer.Option(..., "--out", "-o", help="Parquet sample to write."),
    n_events: int = typer.Option(50_000, help="Phase-space points to sample."),
    seed: int = typer.Option(1, help="Random seed."),
    lhe: Path | None = typer.Option(None, help="Also write the events as LHE (with basis-point weights)."),
    pt_z_min: float = typer.Option(0.0, help="Minimum Z pT in GeV."),
    sqrt_shat_max: float = typer.Option(3000.0, help="Largest sampled √ŝ in GeV."),
    shower: bool = typer.Option(False, help="Shower with Pythia 8 (via LHE) instead of parton smearing."),
    background_events: int = typer.Option(
        0, help="With --shower: also generate this many Pythia 8 Z(->ll)+jets background events."
    ),
    detector: bool = typer.Option(
        True, help="With --shower: the generator's CMS-like detector model (else particle level)."
    ),
    overwrite: bool = typer.Option(False, help="Replace existing outputs."),
) -> None:
    """Sample weighted pp → ZH(ℓℓbb) events with exact SMEFT weight coefficients."""
    from rich.console import Console

    from higgsflow.eft.pipeline import generate_zh_sample

    with _bar("showering") as progress:
        task = progress.add_task("shower", total=n_events)
        path = generate_zh_sample(
            out,
            n_events,
            seed,
            lhe=lhe,
            pt_z_min=pt_z_min,
            sqrt_shat_max=sqrt_shat_max,
            shower=shower,
            background_events=background_events,
            detector=detector,
            overwrite=overwrite,
            callback=lambda k: progress.update(task, completed=k),
        )
    Console(stderr=True).print(f"wrote {path}")


@app.command("train")
def train(
    sample: Path = typer.Option(..., "--sample", "-s", help="Parquet sample from generate-zh."),
    out: Path = typer.Option(..., "--out", "-o", help="Model file (.npz) to write."),
    level: str = typer.Option("reco", help="'reco' (smeared) or 'parton' features."),
    features: str | None = typer.Option(
        None, help="Comma-separated feature names (default: all angles, masses)."
    ),
    n_trees: int = typer.Option(100, help="Boosting rounds per coefficient."),
    learning_rate: float = typer.Option(0.2),
    max_depth: int = typer.Option(3, help="Up to 2^max_depth leaves per tree."),
    min_size: int = typer.Option(50, help="Minimum events per leaf."),
    mode: str = typer.Option("exact", help="'exact' or 'hist'."),
    backend: str = typer.Option("native", help="'native' or 'xgboost'."),
    joint: bool = typer.Option(False, help="One joint forest for all coefficients."),
    n_jobs: int = typer.Option(1, help="Threads."),
    overwrite: bool = typer.Option(False, help="Replace an existing model."),
) -> None:
    """Train one BIT per coefficient (or a joint one) on the even rows of the sample."""
    from higgsflow.eft.pipeline import train_bits

    with _bar("training BITs") as progress:
        task = progress.add_task("train", total=None)

        def cb(i, n):
            progress.update(task, completed=i, total=n)

        path = train_bits(
            sample,
            out,
            level=level,
            features=_names(features, "--features") if features else None,
            joint=joint,
            overwrite=overwrite,
            callback=cb,
            n_trees=n_trees,
            learning_rate=learning_rate,
            max_depth=max_depth,
            min_size=min_size,
            mode=mode,
            backend=backend,
            n_jobs=n_jobs,
        )
    typer.echo(f"wrote {path}")


@app.command("limits")
def limits(
    sample: Path = typer.Option(..., "--sample", "-s", help="Parquet sample from generate-zh."),
    model: Path = typer.Option(..., "--model", "-m", help="Model from train."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Folder for limits.json and plots."),
    lumi: float = typer.Option(138.0, help="Integrated luminosity in fb⁻¹."),
    n_bins: int = typer.Option(8, help="Template bins."),
    n_trials: int = typer.Option(30, help="optuna trials for θ*."),
    background_ratio: float = typer.Option(
        5.0, help="Placeholder background / SM signal (used when no Pythia 8 background file exists)."
    ),
    background: Path | None = typer.Option(
        None, help="Pythia 8 Z+jets background file (default: <sample>_zjets.parquet when present)."
    ),
    m_bb_window: str | None = typer.Option(
        None, help="lo,hi in GeV on the H->bb candidate mass (default 90,150 with the Pythia 8 background)."
    ),
    norm_uncertainty: float = typer.Option(0.1, help="Relative normalisation uncertainty per sample."),
    seed: int = typer.Option(0, help="Seed of the θ* search."),
    n_scan: int = typer.Option(31, help="Points per 1D scan."),
    profile: bool = typer.Option(True, help="Also profile the other coefficients."),
    contour: str = typer.Option("cHq3,g2ZZ", help="Two coefficients for the 2D contour ('' for none)."),
    overwrite: bool = typer.Option(False, help="Replace existing outputs."),
) -> None:
    """Expected 68%/95% CL intervals and contours with the BIT template and the exact-ratio reference."""
    from rich.console import Console
    from rich.table import Table

    from higgsflow.eft.pipeline import expected_limits

    console = Console(stderr=True)
    pair = _names(contour, "--contour", 2) if contour else None
    window = _numbers(m_bb_window, "--m-bb-window", 2) if m_bb_window else None
    res = expected_limits(
        sample,
        model,
        out_dir,
        lumi_fb=lumi,
        n_bins=n_bins,
        n_trials=n_trials,
        background_ratio=background_ratio,
        background=background,
        m_bb_window=window,
        norm_uncertainty=norm_uncertainty,
        seed=seed,
        n_scan=n_scan,
        profile=profile,
        contour=pair,
        overwrite=overwrite,
        callback=lambda msg: console.log(msg),
    )
    table = Table(title=f"expected 95% CL intervals, {lumi:g} fb⁻¹ (others fixed at 0)")
    table.add_column("coefficient")
    for label in res["templates"]:
        table.add_column(label)
    for nm in res["names"]:
        row = [nm]
        for entry in res["templates"].values():
            row.append(" ∪ ".join(f"[{a:.3g}, {b:.3g}]" for a, b in entry["intervals"][nm]["fixed_95"]))
        table.add_row(*row)
    Console().print(table)
    typer.echo(f"wrote {out_dir / 'limits.json'}")
