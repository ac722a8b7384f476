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
