"""``higgsflow tag ...``: flavour discriminants, working points and tagging categories of a scored file.

A scored file is either a ``higgsflow predict`` output (``score_<class>`` and ``label_<class>`` branches) or a CMS
NanoAOD file (tree ``Events``, the stored ``Jet_btag*`` scores of ``--tagger``). Only typer/rich/stdlib at module
level; errors reach :func:`higgsflow.cli.main` (one line, exit 1). Every command checks all its outputs before it
reads anything.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="Flavour-tagging discriminants, working points and (p_B+C, p_BvsC) categories of scored jets.",
    no_args_is_help=True,
)
console = Console(soft_wrap=True, highlight=False)

FILE = Annotated[Path, typer.Argument(help="scored jets: a higgsflow file (score_*, label_*) or CMS NanoAOD")]
TAGGER = Annotated[
    str,
    typer.Option(
        "--tagger", help="NanoAOD only: the stored scores to use, PNet, UParTAK4 or DeepFlav (default PNet)"
    ),
]
TREE = Annotated[
    str | None, typer.Option("--tree", help="TTree name (default: Events for NanoAOD, else tree)")
]
NO_SUM = Annotated[
    bool,
    typer.Option("--no-sum-check", help="do not require the class scores of a jet to sum to one"),
]
OVERWRITE = Annotated[bool, typer.Option("--overwrite", help="replace existing outputs")]


@app.callback()
def _main() -> None:
    """Flavour-tagging discriminants, working points and (p_B+C, p_BvsC) categories of scored jets."""


def _fmt(x: float, digits: int = 3) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _pm(x: float, interval: tuple[float, float]) -> str:
    """0.948±0.014: the efficiency and half its 68% interval."""
    if isinstance(x, float) and math.isnan(x):
        return "—"
    return f"{x:.3f}±{(interval[1] - interval[0]) / 2:.3f}"


def _labelled(jets, path: Path):
    from higgsflow.errors import DataError

    if not (jets.flavour >= 0).any():
        raise DataError(
            "no truth flavour",
            file=path,
            field="label_*",
            expected="label_<class> branches or Jet_hadronFlavour",
        )
    sel = jets.select(jets.evaluated & (jets.flavour >= 0))
    if len(sel) == 0:
        raise DataError("no jet with discriminants and a truth flavour", file=path)
    return sel


def _clean(obj):
    """JSON-safe: NaN → null, tuples → lists."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(payload), indent=2) + "\n", encoding="utf-8")


@app.command("discriminants")
def discriminants_command(
    path: FILE,
    out: Annotated[Path, typer.Option("--out", "-o", help="output file (.root or .parquet)")],
    tagger: Annotated[
        str | None,
        typer.Option(
            "--tagger",
            help="NanoAOD only: comma-separated taggers (PNet, UParTAK4, DeepFlav); default every one stored",
        ),
    ] = None,
    tree: TREE = None,
    no_sum_check: NO_SUM = False,
    overwrite: OVERWRITE = False,
) -> None:
    """Write a copy of FILE with discriminant branches added.

    higgsflow files: disc_BvsAll, disc_CvsL, disc_CvsB, disc_QvsG, disc_pBplusC, disc_pBvsC from score_*.
    NanoAOD: the Jet collection (and run, luminosityBlock, event) with Jet_btag<TAGGER>_pBplusC and _pBvsC rebuilt
    from the stored B, CvL and CvB (-1 where the tagger did not run)."""
    from higgsflow.data.io import read_metadata, read_table, write_table
    from higgsflow.errors import SchemaError
    from higgsflow.outputs import check_outputs
    from higgsflow.tagging.formulas import NANOAOD_TAGGERS, discriminants, from_stored
    from higgsflow.tagging.jets import file_kind

    check_outputs([out], overwrite=overwrite)
    kind, tree_name, cols = file_kind(path, tree)
    if kind == "nanoaod":
        stored = [t for t, b in NANOAOD_TAGGERS.items() if all(x in cols for x in b.values())]
        taggers = [t.strip() for t in tagger.split(",") if t.strip()] if tagger else stored
        for t in taggers:
            if t not in NANOAOD_TAGGERS:
                raise SchemaError(
                    f"unknown tagger {t!r}",
                    field="--tagger",
                    expected="one of: " + ", ".join(NANOAOD_TAGGERS),
                )
            if t not in stored:
                raise SchemaError(
                    f"the file does not store the {t} scores",
                    file=path,
                    field=", ".join(NANOAOD_TAGGERS[t].values()),
                    expected="one of: " + (", ".join(stored) or "none stored"),
                )
        if not taggers:
            raise SchemaError("no stored tagger scores", file=path, field="Jet_btag*")
        keep = [c for c in cols if c.startswith("Jet_") or c in ("run", "luminosityBlock", "event")]
        table = read_table(path, keep, tree=tree_name)
        columns = {c: table[c] for c in keep}
        added = []
        for t in taggers:
            d = from_stored({k: table[b] for k, b in NANOAOD_TAGGERS[t].items()})
            for key in ("pBplusC", "pBvsC"):
                name = f"Jet_btag{t}_{key}"
                columns[name] = d[key]
                added.append(name)
        meta = {"source": str(path), "added": added, "tagger": taggers}
    else:
        table = read_table(path, tree=tree_name)
        scores = {c: table[c] for c in cols if c.startswith("score_")}
        if not scores:
            raise SchemaError(
                "no class scores",
                file=path,
                field="score_*",
                expected="score_<class> branches or a NanoAOD file",
            )
        d = discriminants(scores, sum_to_one=not no_sum_check, file=path)
        columns = {c: table[c] for c in table.fields}
        added = []
        for key, values in d.items():
            columns[f"disc_{key}"] = values
            added.append(f"disc_{key}")
        meta = {**read_metadata(path), "discriminants": added}
    write_table(out, columns, metadata=meta, tree=tree_name, overwrite=overwrite)
    console.print(
        f"wrote {out}: {len(table)} {'events' if kind == 'nanoaod' else 'jets'}, added {', '.join(added)}"
    )


def _floats(text: str, option: str) -> list[float]:
    from higgsflow.errors import ConfigError

    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"not numbers: {text!r}", field=option, expected="e.g. 0.1,0.01,0.001") from None
    if not values:
        raise ConfigError("no value", field=option, expected="e.g. 0.1,0.01,0.001")
    return values


@app.command("working-points")
def working_points_command(
    path: FILE,
    discriminant: Annotated[
        str,
        typer.Option(
            "--discriminant", "-d", help="comma-separated: BvsAll, CvsL, CvsB, QvsG, pBplusC, pBvsC"
        ),
    ] = "BvsAll,pBplusC",
    mistag: Annotated[
        str, typer.Option("--mistag", help="light-jet mistag rates of the working points")
    ] = "0.1,0.01,0.001",
    tagger: TAGGER = "PNet",
    tree: TREE = None,
    no_sum_check: NO_SUM = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write the table as JSON here")] = None,
    maps: Annotated[
        Path | None,
        typer.Option(
            "--maps",
            help="write (pT, |η|) efficiency maps per flavour and working point to this ROOT file "
            "(<disc>_<WP>_<flavour>_passed / _total)",
        ),
    ] = None,
    overwrite: OVERWRITE = False,
) -> None:
    """Working points at fixed light-jet mistag and the b, c and light efficiencies at each (68% intervals)."""
    from rich.table import Table

    from higgsflow.errors import ConfigError
    from higgsflow.outputs import check_outputs
    from higgsflow.tagging.formulas import DISCRIMINANTS
    from higgsflow.tagging.jets import read_scored_jets
    from higgsflow.tagging.workingpoints import working_points

    check_outputs([out, maps], overwrite=overwrite)
    names = [d.strip() for d in discriminant.split(",") if d.strip()]
    for name in names:
        if name not in DISCRIMINANTS:
            raise ConfigError(
                f"unknown discriminant {name!r}",
                field="--discriminant",
                expected="one of: " + ", ".join(DISCRIMINANTS),
            )
    rates = _floats(mistag, "--mistag")
    jets = _labelled(read_scored_jets(path, tagger=tagger, tree=tree, sum_to_one=not no_sum_check), path)
    table = Table("discriminant", "WP", "mistag", "threshold", "ε_b", "ε_c", "ε_light", title=f"{path}")
    rows = []
    hists = {}
    for name in names:
        if name not in jets.disc:
            raise ConfigError("not available for this tagger", file=path, field=name)
        for wp in working_points(jets.disc[name], jets.flavour, mistags=rates, discriminant=name):
            rows.append(wp.as_dict())
            if maps is not None:
                from higgsflow.tagging.workingpoints import efficiency_maps

                passed = jets.disc[name] > wp.threshold
                hists[f"{name}_{wp.name}"] = efficiency_maps(jets.pt, jets.eta, jets.flavour, passed)
            flag = "" if wp.reliable else " *"
            table.add_row(
                name,
                wp.name,
                f"{wp.target_mistag:g}",
                f"{wp.threshold:.4f}",
                _pm(wp.eff_b, wp.interval_b),
                _pm(wp.eff_c, wp.interval_c),
                f"{_fmt(wp.eff_light, 4)}{flag}",
            )
    console.print(table)
    n = {f: int((jets.flavour == c).sum()) for c, f in ((5, "b"), (4, "c"), (0, "light"))}
    console.print(
        f"{len(jets)} jets ({n['b']} b, {n['c']} c, {n['light']} light), tagger {jets.tagger}; "
        "* fewer than 10 light jets pass: the threshold rests on a handful of jets"
    )
    if out is not None:
        _json(out, {"file": str(path), "tagger": jets.tagger, "jets": n, "working_points": rows})
        console.print(f"wrote {out}")
    if maps is not None:
        from higgsflow.tagging.workingpoints import write_efficiency_maps

        write_efficiency_maps(maps, hists, overwrite=overwrite)
        console.print(f"wrote {maps}")


@app.command("categories")
def categories_command(
    path: FILE,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="category YAML: explicit rectangles (categories:) or efficiency targets (targets:); "
            "default: the 11 categories of the default targets",
        ),
    ] = None,
    tagger: TAGGER = "PNet",
    tree: TREE = None,
    no_sum_check: NO_SUM = False,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="write the boundaries and the table as JSON here")
    ] = None,
    jets_out: Annotated[
        Path | None,
        typer.Option("--jets-out", help="write one row per jet (pT, η, flavour, p_B+C, p_BvsC, category)"),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="write the flavour → category migration plot (png/pdf) here")
    ] = None,
    compare_tagger: Annotated[
        str | None,
        typer.Option(
            "--compare-tagger",
            help="NanoAOD only: categorise the jets with this second tagger too (same definition) and draw the "
            "migration of jets from --tagger's categories to its categories (needs --compare-plot)",
        ),
    ] = None,
    compare_plot: Annotated[
        Path | None, typer.Option("--compare-plot", help="where to write the tagger → tagger migration plot")
    ] = None,
    overwrite: OVERWRITE = False,
) -> None:
    """The category of each jet in the (p_B+C, p_BvsC) plane, the per-category flavour efficiencies and purities,
    and the migration of each true flavour into the categories."""
    import numpy as np
    from rich.table import Table

    from higgsflow.data.io import write_table
    from higgsflow.errors import ConfigError, DataError
    from higgsflow.outputs import check_outputs
    from higgsflow.tagging.categories import (
        assign_categories,
        category_table,
        derive_categories,
        load_categories,
        migration_matrix,
        plot_migration,
    )
    from higgsflow.tagging.jets import read_nanoaod_jets, read_scored_jets

    check_outputs([out, jets_out, plot, compare_plot], overwrite=overwrite)
    if (compare_tagger is None) != (compare_plot is None):
        raise ConfigError(
            "--compare-tagger and --compare-plot go together",
            field="--compare-tagger" if compare_tagger is None else "--compare-plot",
            expected="both options or neither",
        )
    spec = load_categories(config)
    jets = read_scored_jets(path, tagger=tagger, tree=tree, sum_to_one=not no_sum_check)
    other = None
    if compare_tagger is not None:
        if jets.source != "nanoaod":
            raise ConfigError(
                "a second tagger needs a NanoAOD file",
                file=path,
                field="--compare-tagger",
                expected="NanoAOD input",
            )
        other = read_nanoaod_jets(path, tagger=compare_tagger, tree=tree or "Events")
    x, y = jets.disc["pBplusC"], jets.disc["pBvsC"]
    if "scheme" in spec:
        scheme = spec["scheme"]
    else:
        lab = _labelled(jets, path)
        scheme = derive_categories(lab.disc["pBplusC"], lab.disc["pBvsC"], lab.flavour, spec["targets"])
    cat = assign_categories(x, y, scheme)
    has_truth = bool((jets.flavour >= 0).any())
    if plot is not None and not has_truth:
        raise DataError("no truth flavour for the migration plot", file=path, field="label_*")
    rows = category_table(cat, jets.flavour, scheme.names)
    bounds = Table(
        "category", "p_B+C", "p_BvsC", "jets", "ε_b", "ε_c", "ε_light", "purity b/c/light", title=str(path)
    )
    for c, r in zip(scheme.categories, rows, strict=True):
        bounds.add_row(
            c.name,
            f"{c.p_BplusC[0]:.4f}–{c.p_BplusC[1]:.4g}",
            f"{c.p_BvsC[0]:.4f}–{c.p_BvsC[1]:.4g}",
            str(r["jets"]),
            _fmt(r["eff_b"]),
            _fmt(r["eff_c"]),
            _fmt(r["eff_light"]),
            "/".join(_fmt(r[f"purity_{f}"], 2) for f in ("b", "c", "light")),
        )
    console.print(bounds)
    n_out = int((cat < 0).sum())
    console.print(
        f"{len(jets)} jets, {n_out} without discriminants (not categorised); tagger {jets.tagger}"
        + ("" if "scheme" in spec else "; boundaries derived from the efficiency targets on this file")
    )
    if jets_out is not None:
        write_table(
            jets_out,
            {
                "jet_pt": jets.pt,
                "jet_eta": jets.eta,
                "jet_hadronFlavour": jets.flavour,
                "jet_pBplusC": x,
                "jet_pBvsC": y,
                "jet_category": cat,
            },
            metadata={"source": str(path), "tagger": jets.tagger, "categories": scheme.names},
            overwrite=overwrite,
        )
        console.print(f"wrote {jets_out}")
    if out is not None:
        _json(out, {"file": str(path), "tagger": jets.tagger, **scheme.as_dict(), "table": rows})
        console.print(f"wrote {out}")
    if plot is not None:
        codes = {5: 0, 4: 1, 0: 2}
        flav_row = np.array([codes.get(int(f), -1) for f in jets.flavour]) if len(jets) else np.array([], int)
        counts = migration_matrix(flav_row, cat, 3, len(scheme.names))
        tag = jets.tagger if jets.source == "nanoaod" else "higgsflow scores"
        com = None
        if jets.source != "nanoaod":
            from higgsflow.evaluate.plots import sqrt_s_of

            com = sqrt_s_of(path)
        plot_migration(
            counts,
            ["b", "c", "light"],
            scheme.names,
            plot,
            title=tag,
            com=com,
            overwrite=overwrite,
        )
        console.print(f"wrote {plot}")
    if other is not None:
        if "scheme" in spec:
            scheme_b = spec["scheme"]
        else:
            lab = _labelled(other, path)
            scheme_b = derive_categories(lab.disc["pBplusC"], lab.disc["pBvsC"], lab.flavour, spec["targets"])
        cat_b = assign_categories(other.disc["pBplusC"], other.disc["pBvsC"], scheme_b)
        counts = migration_matrix(cat, cat_b, len(scheme.names), len(scheme_b.names))
        same = int(np.trace(counts)) if scheme.names == scheme_b.names else None
        plot_migration(
            counts,
            scheme.names,
            scheme_b.names,
            compare_plot,
            ylabel=f"{jets.tagger} category",
            xlabel=f"{other.tagger} category",
            overwrite=overwrite,
        )
        summary = f"; {same} of {int(counts.sum())} jets in the same category" if same is not None else ""
        console.print(f"wrote {compare_plot}{summary}")


@app.command("hlt")
def hlt_command(
    path: Annotated[
        Path, typer.Argument(help="events with jagged Jet_pt, Jet_eta, Jet_<score> (CMS NanoAOD or alike)")
    ],
    paths: Annotated[
        Path | None,
        typer.Option(
            "--paths",
            help="trigger paths YAML (paths: {NAME: {jet_pt: [...], ht:, btag: {...}}}); default: the 2022, "
            "2023 and legacy HH paths and the stored NanoAOD HH paths the file has",
        ),
    ] = None,
    tree: Annotated[
        str | None, typer.Option("--tree", help="TTree name (default: Events, else tree)")
    ] = None,
    no_jet_id: Annotated[bool, typer.Option("--no-jet-id", help="do not apply the tight jet ID")] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write the table as JSON here")] = None,
    overwrite: OVERWRITE = False,
) -> None:
    """Emulate HH → 4b trigger paths from the offline AK4 jets and b scores: the efficiency of each and, where the
    file stores the path's HLT bit, the agreement (both fire, only emulation, only HLT, neither)."""
    from higgsflow.outputs import check_outputs
    from higgsflow.tagging.hlt import default_paths, emulate_nanoaod, load_paths

    check_outputs([out], overwrite=overwrite)
    if tree is None:
        from higgsflow.data.io import list_columns
        from higgsflow.errors import SchemaError

        try:
            list_columns(path, tree="Events")
            tree = "Events"
        except SchemaError:
            tree = "tree"
    chosen = load_paths(paths) if paths is not None else default_paths(path, tree=tree)
    report = emulate_nanoaod(path, chosen, tree=tree, jet_id=not no_jet_id)
    console.print(report.format())
    console.print(
        "emulated from offline AK4 jets (pT, |η| < 2.5"
        + ("" if no_jet_id else ", tight ID")
        + ") and offline scores; online PF jets and the HLT ParticleNet differ near thresholds"
    )
    if out is not None:
        _json(out, report.to_dict())
        console.print(f"wrote {out}")
