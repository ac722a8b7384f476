"""``higgsflow generate``: make realistic jet files (Pythia 8 + parametric CMS detector + FastJet)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="Generate realistic jet data (Pythia 8 + FastJet + a CMS-like detector) in the JetClass schema.",
    no_args_is_help=True,
)


@app.callback()
def _main() -> None:
    """Generate realistic jet data (Pythia 8 + FastJet + a CMS-like detector) in the JetClass schema, and whole events."""


@app.command("jets")
def jets(
    classes: str = typer.Option(
        None,
        "--classes",
        help=(
            "Comma-separated classes: QCD, Hbb, Hcc, Hgg, H4q, Hqql, Zqq, Wqq, Tbqq, Tbl, options Hss, Hqq, "
            "Htautau, the 37 GloParT classes (Xbb ... QCD_light, see docs/generate.md); with --jet-type ak4: b, bb, c, cc, s, ud, g, tauh. Default: the ten JetClass classes "
            "(ak8) or the eight flavour classes (ak4)."
        ),
    ),
    n_jets: int = typer.Option(..., "--n-jets", help="Jets per class."),
    out: Path = typer.Option(..., "--out", help="Output file, .root or .parquet."),
    seed: int = typer.Option(..., "--seed", help="Master seed (same seed, same file, for any --workers)."),
    workers: int = typer.Option(1, "--workers", help="Worker processes (Dask LocalCluster when > 1)."),
    scheduler: str = typer.Option(None, "--scheduler", help="Address of a running Dask scheduler."),
    jet_type: str = typer.Option(
        "ak8", "--jet-type", help="Jet definition: ak8 (JetClass) or ak4 (flavour)."
    ),
    chunk_size: int = typer.Option(
        500, "--chunk-size", help="Jets per chunk (unit of parallelism and resuming)."
    ),
    resonance_mass: str = typer.Option(
        None, "--resonance-mass", help="flat:LOW:HIGH draws the resonance mass (GeV) per chunk uniformly."
    ),
    pythia: list[str] = typer.Option(
        None, "--pythia", help="Extra Pythia setting for every chunk, e.g. 'Tune:pp = 21' (repeatable)."
    ),
    pileup: float = typer.Option(
        0.0, "--pileup", help="Mean number of pile-up interactions (default 0: none)."
    ),
    detector_shift: str = typer.Option(
        None,
        "--detector-shift",
        help="A shifted detector (mismodelling proxy), e.g. "
        "'ip_resolution=1.2,tracking_efficiency=0.97,neutral_energy_scale=1.05': the same events, other detector.",
    ),
    shard_size: int = typer.Option(
        None,
        "--shard-size",
        help=(
            "Write shards of about this many jets (OUT_00000.root, ...; every class in each, shuffled) and a "
            "manifest OUT.manifest.json that train/evaluate/predict take as a file list, instead of one file."
        ),
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
) -> None:
    """Generate N jets of each class into one file, or shards (resumable; finished chunks are not redone)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from higgsflow.generate.api import generate_jets
    from higgsflow.generate.processes import JETCLASS_LABELS, parse_classes
    from higgsflow.generate.truth import AK4_LABELS

    if classes is None:
        classes = ",".join(AK4_LABELS if jet_type == "ak4" else JETCLASS_LABELS)
    names = parse_classes(classes, jet_type)
    total = max(n_jets, 0) * len(names)
    with Progress(
        TextColumn("[bold]generating jets"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task("jets", total=total)
        path = generate_jets(
            names,
            n_jets,
            out,
            seed=seed,
            workers=workers,
            scheduler=scheduler,
            jet_type=jet_type,
            chunk_size=chunk_size,
            resonance_mass=resonance_mass,
            overwrite=overwrite,
            pythia_settings=pythia or None,
            pileup=pileup,
            detector_shift=detector_shift,
            shard_size=shard_size,
            progress=lambda n: bar.advance(task, n),
        )
    if shard_size is None:
        typer.echo(f"wrote {path} ({total} jets)")
    else:
        n_shards = -(-total // shard_size)
        typer.echo(f"wrote {n_shards} shards and their manifest {path} ({total} jets)")


@app.command("events")
def events(
    process: str = typer.Option(
        ...,
        "--process",
        help="One of: ttHcc, ttHbb, ttZcc, ttZbb, tt, QCD, HH4b (see docs/generate.md, Events).",
    ),
    n_events: int = typer.Option(..., "--n-events", help="Events to write."),
    out: Path = typer.Option(
        ...,
        "--out",
        help="Event file, .root or .parquet; the jets file OUT_jets.SUFFIX is written next to it.",
    ),
    seed: int = typer.Option(..., "--seed", help="Master seed (same seed, same files, for any --workers)."),
    workers: int = typer.Option(1, "--workers", help="Worker processes (Dask LocalCluster when > 1)."),
    scheduler: str = typer.Option(None, "--scheduler", help="Address of a running Dask scheduler."),
    chunk_size: int = typer.Option(
        200, "--chunk-size", help="Events per chunk (unit of parallelism and resuming)."
    ),
    top_decays: str = typer.Option(
        "inclusive", "--top-decays", help="tt̄ decay channel: inclusive, semileptonic, dileptonic or hadronic."
    ),
    tt_enrich: str = typer.Option(
        None,
        "--tt-enrich",
        help="Process tt only: keep tt+b/≥2b (b), tt+c/≥2c (c) or both (bc); weights carry it.",
    ),
    pthat_min: float = typer.Option(100.0, "--pthat-min", help="QCD: minimum p̂T in GeV."),
    hh_mass: float = typer.Option(400.0, "--hh-mass", help="HH4b: mass of the heavy scalar in GeV."),
    sqrt_s: float = typer.Option(13.0, "--sqrt-s", help="Centre-of-mass energy in TeV."),
    cross_section: float = typer.Option(
        None, "--cross-section", help="Production cross section in pb, replacing the default (before BRs)."
    ),
    pileup: float = typer.Option(
        0.0, "--pileup", help="Mean number of pile-up interactions (default 0: none)."
    ),
    pythia: list[str] = typer.Option(
        None, "--pythia", help="Extra Pythia setting for every chunk (repeatable)."
    ),
    shard_size: int = typer.Option(
        None,
        "--shard-size",
        help="Write shards of about this many events (whole chunks): OUT_00000.SUFFIX with OUT_00000_jets.SUFFIX, "
        "..., and the manifests OUT.manifest.json and OUT_jets.manifest.json, instead of one pair of files.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
) -> None:
    """Generate whole events (jets, leptons, MET, gen-jet truth, weights in pb) and their AK4 jets file."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from higgsflow.generate.events import generate_events

    with Progress(
        TextColumn("[bold]generating events"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task("events", total=max(n_events, 0))
        ev, jets = generate_events(
            process,
            n_events,
            out,
            seed=seed,
            workers=workers,
            scheduler=scheduler,
            chunk_size=chunk_size,
            overwrite=overwrite,
            top_decays=top_decays,
            tt_enrich=tt_enrich,
            pthat_min=pthat_min,
            hh_mass=hh_mass,
            sqrt_s=sqrt_s,
            cross_section=cross_section,
            pileup=pileup,
            pythia_settings=pythia or None,
            shard_size=shard_size,
            progress=lambda n: bar.advance(task, n),
        )
    what = "the shard manifests " if shard_size is not None else ""
    typer.echo(f"wrote {what}{ev} ({n_events} {process} events) and {jets}")
