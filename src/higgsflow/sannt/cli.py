"""``higgsflow sannt``: systematic-aware training against the cross-entropy baseline."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(help="Systematic-aware NN training (SANNT) vs cross-entropy (CENNT).", no_args_is_help=True)


@app.callback()
def _main() -> None:
    """Systematic-aware NN training (SANNT) vs cross-entropy (CENNT)."""


@app.command()
def benchmark(
    out: Path = typer.Option(..., "--out", "-o", help="Output folder for results.json and the plots."),
    seeds: int = typer.Option(5, help="Number of seeds (0, 1, ..., seeds-1)."),
    first_seed: int = typer.Option(0, help="First seed."),
    n_events: int = typer.Option(
        10000, help="Simulated events per process and split (weighted to the yields)."
    ),
    sannt_epochs: int = typer.Option(150, help="Maximum SANNT epochs."),
    ce_epochs: int = typer.Option(60, help="Maximum CENNT epochs."),
    threads: int = typer.Option(1, help="torch CPU threads (1 is fastest for these small networks)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output folder's files."),
) -> None:
    """Run the 2-D toy benchmark: CENNT vs SANNT, σ(μ) from pyhf Asimov fits, the improvement and its
    significance over seeds, plots."""
    import torch
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from higgsflow.errors import ConfigError
    from higgsflow.outputs import check_outputs
    from higgsflow.sannt.benchmark import (
        METHODS,
        BenchmarkResult,
        describe,
        plot_output_distributions,
        plot_sigma_vs_epoch,
        run_seed,
    )
    from higgsflow.sannt.train import SanntConfig

    console = Console()
    for option, value, least in (
        ("--seeds", seeds, 1),
        ("--first-seed", first_seed, 0),
        ("--n-events", n_events, 1),
        ("--sannt-epochs", sannt_epochs, 1),
        ("--ce-epochs", ce_epochs, 1),
        ("--threads", threads, 1),
    ):
        if value < least:
            raise ConfigError(f"{value}", field=option, expected=f"an integer >= {least}")
    results_file, epochs_png, outputs_png = check_outputs(
        [out / "results.json", out / "sigma_vs_epoch.png", out / "output_distributions.png"],
        overwrite=overwrite,
    )
    config = SanntConfig(sannt_epochs=sannt_epochs, ce_epochs=ce_epochs)
    torch.set_num_threads(threads)
    done = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("seeds", total=seeds)
        for seed in range(first_seed, first_seed + seeds):

            def tick(method: str, epoch: int, value: float, seed: int = seed) -> None:
                progress.update(task, description=f"seed {seed} {method} epoch {epoch} ({value:.4g})")

            done.append(run_seed(seed, n_events, config, callback=tick))
            progress.advance(task)
    result = BenchmarkResult(done)
    out.mkdir(parents=True, exist_ok=True)
    plot_sigma_vs_epoch(done[0], epochs_png, overwrite=overwrite)
    plot_output_distributions(done[0].templates, outputs_png, sigma=done[0].sigma, overwrite=overwrite)
    results_file.write_text(json.dumps(result.to_dict(), indent=2))

    table = Table(title=f"pyhf Asimov σ(μ) over {seeds} seeds (mean ± sd)")
    table.add_column("method")
    table.add_column("σ(μ_ggH)")
    table.add_column("σ(μ_qqH)")
    for method, row in result.summary().items():
        table.add_row(method, *(f"{m:.4f} ± {s:.4f}" for m, s in row.values()))
    console.print(table)
    for method in METHODS[1:]:
        console.print(describe(method, result.verdict(method)))
    console.print(f"wrote {results_file}")


@app.command()
def train(
    config: Path = typer.Option(
        ..., "--config", "-c", help="analysis YAML with a SANNT section (docs/sannt.md)"
    ),
    out: Path = typer.Option(..., "--out", "-o", help="run folder: network, templates, workspace, results"),
    inputs: Path | None = typer.Option(
        None, "--inputs", help="folder of the config's relative file paths (default: the config's folder)"
    ),
    cennt: bool = typer.Option(False, "--cennt", help="train only the cross-entropy baseline (CENNT)"),
    binning: str | None = typer.Option(
        None,
        "--binning",
        help="nodes (one output node per bin, from scratch) or score (bins of the CENNT class scores, "
        "fine-tuned); default: the config's SANNT.Binning, else nodes",
    ),
    threads: int = typer.Option(1, help="torch CPU threads (1 is fastest for these small networks)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace the run folder's files"),
) -> None:
    """Train SANNT (or CENNT) on the config's files; write the network (network.pt + network.json), the
    templates, the pyhf workspace (as `higgsflow stats build` builds it), the analysis config for the scored
    files (analysis.yaml) and σ of every POI (results.json)."""
    import torch
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from higgsflow.errors import ConfigError
    from higgsflow.outputs import check_output, check_outputs
    from higgsflow.sannt.analysis import SanntRun, train_analysis

    if threads < 1:
        raise ConfigError(f"{threads}", field="--threads", expected="an integer >= 1")
    if binning is not None and binning not in ("nodes", "score"):
        raise ConfigError(f"{binning!r}", field="--binning", expected="nodes or score")
    check_output(out, folder=True, overwrite=overwrite)
    check_outputs([out / n for n in SanntRun.OUTPUTS], overwrite=overwrite)
    torch.set_num_threads(threads)
    console = Console()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("reading", total=None)

        def tick(method: str, epoch: int, value: float) -> None:
            progress.update(task, description=f"{method} epoch {epoch} ({value:.4g})")

        run = train_analysis(
            config,
            input_dir=inputs,
            method="CENNT" if cennt else None,
            binning=binning,
            callback=tick,
        )
    run.write(out, overwrite=overwrite)
    table = Table(title=f"{run.results['method']}: expected σ (pyhf, Asimov)")
    table.add_column("POI")
    table.add_column("σ(μ)")
    table.add_column("σ (cross section)")
    table.add_column("σ(μ) training")
    for poi, entry in run.results["sigma"].items():
        xs = f"{entry['sigma']:.4g} {entry['unit']}" if "sigma" in entry else "-"
        table.add_row(poi, f"{entry['sigma_mu']:.4g}", xs, f"{entry['sigma_mu_training']:.4g}")
    console.print(table)
    console.print(f"wrote {out}/: " + ", ".join(SanntRun.OUTPUTS))


@app.command()
def predict(
    run: Path = typer.Argument(..., help="run folder of `higgsflow sannt train`"),
    files: list[Path] = typer.Argument(..., help="ROOT or Parquet files to score"),
    out: Path = typer.Option(..., "--out", "-o", help="folder for the scored copies"),
    tree: str = typer.Option("tree", help="tree name in ROOT files"),
) -> None:
    """Write copies of FILES with the network's branches added; never overwrites. Node binning: <prefix>_bin
    (the highest output node: the bin), <prefix>_score (its probability), <prefix>_node<k> (every node). Score
    binning: <prefix>_score (the highest output), <prefix>_category (its class index), <prefix>_<class>."""
    from higgsflow.sannt.model import predict_files

    for p in predict_files(run, files, out, tree=tree):
        typer.echo(f"wrote {p}")
