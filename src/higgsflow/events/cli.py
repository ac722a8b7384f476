"""``higgsflow events ...``: the event-level steps of the ttH(cc) chain (docs/tthcc.md).

- ``prepare``: event files (``higgsflow generate events``) with their jets files scored by the AK4 tagger
  (``higgsflow predict``), or CMS NanoAOD files → the selected events with the discriminants, channels and
  high-level features: the file(s) the event classifier trains on and is applied to;
- ``fit``: event files scored by the event classifier → the 27 regions → the pyhf workspace (and its
  ``.meta.json``) that the ``higgsflow stats`` commands read.

Only typer/rich/stdlib at module level. Errors are not caught here: :func:`higgsflow.cli.main` prints a
:class:`~higgsflow.errors.HiggsflowError` as one line naming the file and field (exit code 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="Event-level steps of the ttH(cc) search: prepare events for the event classifier; regions → workspace.",
    no_args_is_help=True,
)
console = Console(soft_wrap=True, highlight=False)

OVERWRITE = Annotated[bool, typer.Option("--overwrite", help="replace existing outputs")]


def _scores_for(events: list[Path], scores: list[Path] | None) -> list[Path | None] | None:
    """One scored jets file per event file: given one by one (same order), or a folder holding NAME_jets.SUFFIX
    for each event file NAME.SUFFIX (what ``higgsflow predict RUN *_jets.parquet -o FOLDER`` writes)."""
    from higgsflow.errors import ConfigError, DataError

    if not scores:
        return None
    if len(scores) == 1 and scores[0].is_dir():
        folder = scores[0]
        out: list[Path | None] = []
        for e in events:
            candidate = folder / f"{e.stem}_jets{e.suffix}"
            if not candidate.is_file():
                raise DataError(
                    "no scored jets file for the event file",
                    file=candidate,
                    field="--scores",
                    expected=f"the scored copy of {e.stem}_jets{e.suffix} (higgsflow predict)",
                )
            out.append(candidate)
        return out
    if len(scores) != len(events):
        raise ConfigError(
            f"{len(events)} event files but {len(scores)} scored jets files",
            field="--scores",
            expected="one --scores per event file in the same order, or one folder of scored jets files",
        )
    return list(scores)


@app.command()
def prepare(
    events: Annotated[
        list[Path], typer.Argument(help="event files of higgsflow generate events, or CMS NanoAOD files")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="the prepared event file (.parquet or .root)")],
    scores: Annotated[
        list[Path] | None,
        typer.Option(
            "--scores",
            "-s",
            help="the scored jets file of each event file (repeat, same order), or one folder holding "
            "NAME_jets.SUFFIX for each NAME.SUFFIX; not for NanoAOD (its scores are stored)",
        ),
    ] = None,
    split: Annotated[
        str | None,
        typer.Option(
            help="split the events at random, e.g. 0.6,0.2,0.2 (train, val, test) or train=0.5,test=0.5: writes "
            "OUT_<part>; weights are rescaled so that every part adds up to the cross sections"
        ),
    ] = None,
    channels: Annotated[str, typer.Option(help="channels kept, comma-separated")] = "0L,1L,2L",
    tagger: Annotated[str, typer.Option(help="NanoAOD's stored tagger: PNet, UParTAK4 or DeepFlav")] = "PNet",
    stitch: Annotated[
        bool,
        typer.Option(
            "--stitch/--no-stitch",
            help="count each tt+jets category once when an inclusive and an enriched tt file both hold it",
        ),
    ] = True,
    seed: Annotated[int, typer.Option(help="seed of the random split")] = 1,
    variation: Annotated[
        str | None,
        typer.Option(
            help="shift the events before the selection, for the fit's shape systematics: jes:up, jes:down (jet "
            "energy scale ±2%, MET recomputed), tag_b:up, tag_c:down, tag_light:up ... (the tagger scores of b, "
            "c or light jets); the same --split and --seed give the same events per part as the nominal run"
        ),
    ] = None,
    overwrite: OVERWRITE = False,
) -> None:
    """Attach the AK4 tagger's discriminants, select objects and channels (0L/1L/2L), add the high-level
    features: the file the event ParT and the DNN baseline train on (examples/tthcc/event_part.yaml)."""
    from higgsflow.errors import ConfigError
    from higgsflow.events.chain import parse_split, prepare_files, split_paths
    from higgsflow.events.objects import CHANNELS
    from higgsflow.outputs import check_outputs

    names = [c.strip() for c in channels.split(",") if c.strip()]
    bad = [c for c in names if c not in CHANNELS]
    if bad or not names:
        raise ConfigError(
            f"unknown channel {bad[0] if bad else ''!r}", field="--channels", expected="0L, 1L, 2L"
        )
    if variation is not None:
        from higgsflow.events.systematics import parse_variation

        parse_variation(variation, field="--variation")
    parts = parse_split(split)
    check_outputs(list(split_paths(out, parts).values()), overwrite=overwrite)
    written = prepare_files(
        events,
        out,
        scores=_scores_for(events, scores),
        split=parts,
        channels=tuple(CHANNELS[c] for c in names),
        stitch=stitch,
        tagger=tagger,
        seed=seed,
        variation=variation,
        overwrite=overwrite,
    )
    for name, (path, n) in written.items():
        console.print(f"{n} selected events" + (f" ({name})" if name != "all" else "") + f" → {path}")


@app.command()
def fit(
    scored: Annotated[
        list[Path],
        typer.Argument(help="prepared event files scored by the event classifier (higgsflow predict)"),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="the pyhf workspace (JSON); its .meta.json next to it")
    ],
    regions: Annotated[
        Path | None,
        typer.Option(help="region config (default: the shipped 27 regions, examples/tthcc/regions.yaml)"),
    ] = None,
    lumi: Annotated[float, typer.Option(help="integrated luminosity in fb⁻¹")] = 138.0,
    mu_max: Annotated[
        float,
        typer.Option(help="upper bound of the four signal strengths in the fit (raise it for small samples)"),
    ] = 50.0,
    drop_empty: Annotated[
        bool,
        typer.Option(
            "--drop-empty",
            help="leave out regions without events or without tt+jets background (small samples), with a warning",
        ),
    ] = False,
    variation: Annotated[
        list[str] | None,
        typer.Option(
            "--variation",
            help="a shape systematic NAME=UP,DOWN (repeat): the same events prepared with "
            "`events prepare --variation NAME:up` and NAME:down, scored by the event classifier (or by "
            "--classifier)",
        ),
    ] = None,
    classifier: Annotated[
        Path | None,
        typer.Option(
            help="the event classifier's training run: scores the --variation files that are not scored"
        ),
    ] = None,
    overwrite: OVERWRITE = False,
) -> None:
    """The regions from the classifier's scores and the pyhf workspace of the fit (4 signal strengths, free
    tt+b/≥2b/c/≥2c normalisations, luminosity, cross sections, MC statistics, and the shape systematics of
    --variation). Then: higgsflow stats fit | limit | significance | kappa | yields WORKSPACE."""
    import logging

    from higgsflow.configs import config_path
    from higgsflow.events.chain import fillable_regions
    from higgsflow.events.regions import load_regions, read_scored_events, write_fit
    from higgsflow.outputs import check_outputs
    from higgsflow.stats import metadata_path

    check_outputs([out, metadata_path(out)], overwrite=overwrite)
    pairs = _variation_files(variation or [])
    source = regions if regions is not None else config_path("tthcc_regions")
    region_list = load_regions(source)  # overlapping or incomplete regions: an error naming file and regions
    cols = read_scored_events(scored)
    variations = _scored_variations(pairs, classifier) if pairs else None
    used, dropped = fillable_regions(cols, region_list, file=source)
    if dropped and drop_empty:
        logging.getLogger("higgsflow.events").warning(
            "regions left out of the fit: %s", "; ".join(f"{k} ({v})" for k, v in dropped.items())
        )
    if mu_max <= 1.0:
        from higgsflow.errors import ConfigError

        raise ConfigError(
            f"--mu-max {mu_max:g} leaves no room above the SM", field="--mu-max", expected="> 1"
        )
    ws, _ = write_fit(
        cols,
        used if drop_empty else region_list,
        out,
        overwrite=overwrite,
        lumi=lumi,
        poi_bounds=(-20.0, mu_max),
        variations=variations,
    )
    console.print(
        f"{len(cols['weight'])} events in {len(used)} of {len(region_list)} regions at {lumi:g} fb⁻¹"
        + (f", shape systematics {', '.join(pairs)}" if pairs else "")
        + f" → {ws}"
    )
    console.print(f"next: higgsflow stats fit {ws} (limit, significance, kappa, yields --plots DIR)")


def _variation_files(texts: list[str]) -> dict[str, tuple[Path, Path]]:
    """``NAME=UP,DOWN`` → {NAME: (UP, DOWN)}; a :class:`ConfigError` naming ``--variation`` otherwise, a missing
    file a :class:`DataError` naming it."""
    import re

    from higgsflow.errors import ConfigError, DataError

    out: dict[str, tuple[Path, Path]] = {}
    for text in texts:
        name, _, files = text.partition("=")
        name = name.strip()
        paths = [f.strip() for f in files.split(",")]
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or len(paths) != 2 or not all(paths):
            raise ConfigError(
                f"bad variation {text!r}", field="--variation", expected="NAME=UP,DOWN (two event files)"
            )
        if name in out:
            raise ConfigError(f"variation {name!r} given twice", field="--variation")
        for p in paths:
            if not Path(p).is_file():
                raise DataError("no such file", file=p, field=f"--variation {name}")
        out[name] = (Path(paths[0]), Path(paths[1]))
    return out


def _scored_variations(
    pairs: dict[str, tuple[Path, Path]], classifier: Path | None
) -> dict[str, tuple[dict, dict]]:
    """The scored columns of each variation's (up, down) files; files without class scores are scored by the
    ``classifier`` run first (in a temporary folder)."""
    import tempfile

    from higgsflow.data.io import list_columns
    from higgsflow.errors import DataError, SchemaError
    from higgsflow.events.regions import read_scored_events

    def scored(path: Path) -> bool:
        for tree in ("events", "tree"):
            try:
                return "score_ttHcc" in list_columns(path, tree=tree)
            except SchemaError:
                continue
        return False

    with tempfile.TemporaryDirectory(prefix="higgsflow-variations-") as tmp:
        todo = [p for pair in pairs.values() for p in pair if not scored(p)]
        if todo and classifier is None:
            name = next(n for n, pair in pairs.items() if todo[0] in pair)
            raise DataError(
                "not scored by the event classifier",
                file=todo[0],
                field=f"--variation {name}: score_<class>",
                expected="the file after higgsflow predict RUN, or --classifier RUN to score it here",
            )
        done: dict[Path, Path] = {}
        if todo and classifier is not None:
            from higgsflow.train.inference import predict_files

            for k, p in enumerate(todo):  # one folder each: two inputs may share a file name
                done[p] = predict_files(classifier, [p], Path(tmp) / str(k))[0]
        return {
            name: (read_scored_events(done.get(up, up)), read_scored_events(done.get(down, down)))
            for name, (up, down) in pairs.items()
        }
