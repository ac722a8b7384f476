"""The ``higgsflow`` command: one sub-command per stage, each a thin layer over a library call.

Exit codes (docs/conventions.md): 0 success; 1 a :class:`~higgsflow.errors.HiggsflowError` (bad input, config or
data, printed as one line); 2 wrong usage; 3 an unexpected internal error; 130 interrupted.

Sub-packages contribute their own typer app (``higgsflow/<package>/cli.py``, attribute ``app``); it is registered in
:data:`SUBCOMMANDS` and appears as ``higgsflow <name>``. Those modules import only light things at the top, so that
``higgsflow --help`` stays fast and works without the optional extras.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import logging
import sys
import traceback
from collections.abc import Sequence

import typer
from rich.console import Console
from rich.markup import escape

from higgsflow._version import __version__
from higgsflow.errors import HiggsflowError

__all__ = ["COMMANDS", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_USAGE", "SUBCOMMANDS", "app", "main"]

EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130

#: ``higgsflow <name>`` → module holding a typer app called ``app``
SUBCOMMANDS: dict[str, str] = {
    "generate": "higgsflow.generate.cli",
    "eft": "higgsflow.eft.cli",
    "events": "higgsflow.events.cli",
    "sannt": "higgsflow.sannt.cli",
    "stats": "higgsflow.stats.cli",
    "tag": "higgsflow.tagging.cli",
}

#: ``higgsflow <name>`` → ``module:function`` of a single top-level command
COMMANDS: dict[str, str] = {
    "demo": "higgsflow.train.cli:demo_command",
    "train": "higgsflow.train.cli:train_command",
    "evaluate": "higgsflow.train.cli:evaluate_command",
    "predict": "higgsflow.train.cli:predict_command",
    "export": "higgsflow.train.cli:export_command",
}

_err = Console(stderr=True, highlight=False, soft_wrap=True)

app = typer.Typer(
    name="higgsflow",
    help=(
        "higgsflow: the machine-learning analysis methods of CMS Higgs physics, end to end.\n\n"
        "Exit codes: 0 success, 1 bad input/config/data (one-line message), 2 wrong usage, "
        "3 internal error (rerun with -v and report the traceback), 130 interrupted."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"higgsflow {__version__}")
        raise typer.Exit()


def configure_logging(verbosity: int) -> None:
    """Show higgsflow's log records on stderr: warnings by default, info with -v, debug with -vv."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logger = logging.getLogger("higgsflow")
    logger.setLevel(level)
    for h in logger.handlers:
        if isinstance(h, _StderrHandler):
            h.setFormatter(_formatter(verbosity))
            return
    handler = _StderrHandler()
    handler.setFormatter(_formatter(verbosity))
    logger.addHandler(handler)


class _StderrHandler(logging.StreamHandler):
    """One line per record on whatever ``sys.stderr`` is when the record is emitted (never wrapped)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _formatter(verbosity: int) -> logging.Formatter:
    if verbosity >= 2:
        return logging.Formatter("%(asctime)s %(levelname).1s %(name)s: %(message)s", "%H:%M:%S")
    return _LevelFormatter("%(levelname)s: %(message)s")


class _LevelFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord({**record.__dict__, "levelname": record.levelname.lower()})
        return super().format(record)


@app.callback()
def _root(
    verbose: int = typer.Option(
        0, "--verbose", "-v", count=True, help="More output: -v info messages and tracebacks, -vv debug."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    configure_logging(verbose)


@app.command("inspect")
def inspect_file(
    path: str = typer.Argument(..., help="A jet or event file (.root or .parquet), or a shard manifest."),
    tree: str = typer.Option("tree", help="Name of the TTree in ROOT files."),
) -> None:
    """Summarise a jet/event file: entries, branches by JetClass group, label counts, stored settings.

    For a shard manifest (NAME.manifest.json from `generate jets --shard-size`): the shards, total and per-class
    entries, seed and settings."""
    from rich.table import Table

    from higgsflow.data.io import describe_file

    out = Console(highlight=False)
    if path.endswith(".manifest.json"):
        import json
        import os

        from higgsflow.data.io import num_entries
        from higgsflow.data.loader import manifest_files
        from higgsflow.errors import DataError

        files = manifest_files(path)  # every shard must exist
        with open(path, encoding="utf-8") as fh:  # noqa: PTH123
            manifest = json.load(fh)
        for f, shard in zip(files, manifest["shards"], strict=True):
            n = num_entries(f, tree=tree)
            if "entries" in shard and n != shard["entries"]:
                raise DataError(f"shard {f} has {n} entries", file=path, expected=f"{shard['entries']}")
        total = sum(int(s.get("entries", 0)) for s in manifest["shards"])
        sizes = [int(s.get("entries", 0)) for s in manifest["shards"]] or [0]
        out.print(f"[bold]{path}[/bold]: manifest of {len(files)} shards, {total} entries")
        if files:
            first, last = os.path.basename(files[0]), os.path.basename(files[-1])  # noqa: PTH119
            out.print(f"shards: {first} … {last}, {min(sizes)}–{max(sizes)} entries each")
        counts = manifest.get("class_counts") or {}
        if counts:
            labels = Table("class", "entries", "fraction")
            for name, count in counts.items():
                labels.add_row(name, str(count), f"{count / max(total, 1):.3f}")
            out.print(labels)
        for key in ("seed", "settings"):
            if key in manifest:
                out.print(f"{key}: {manifest[key]}")
        return
    summary = describe_file(path, tree=tree)
    out.print(f"[bold]{summary.path}[/bold]: {summary.format}, {summary.entries} entries")
    table = Table("group", "branches")
    for group, names in summary.groups.items():
        table.add_row(group.rstrip("_"), ", ".join(names))
    out.print(table)
    if summary.label_counts:
        labels = Table("label", "entries", "fraction")
        for name, count in summary.label_counts.items():
            labels.add_row(name, str(count), f"{count / max(summary.entries, 1):.3f}")
        out.print(labels)
    for key in ("seed", "settings", "versions"):
        if key in summary.metadata:
            out.print(f"{key}: {summary.metadata[key]}")


@app.command("convert")
def convert_file(
    path: str = typer.Argument(..., help="A CMS PFNano file (.root)."),
    out: str = typer.Option(..., "--out", "-o", help="The jet file to write (.root or .parquet)."),
    jets: str = typer.Option("Jet", help="The jet collection: Jet (AK4) or FatJet (AK8)."),
    overwrite: bool = typer.Option(False, help="Replace an existing output."),
) -> None:
    """Turn the jets of a PFNano file (their PF candidates and secondary vertices) into a jet file in the
    generator's schema, one row per jet, for `higgsflow predict` and the data configs."""
    from higgsflow.data.io import write_table
    from higgsflow.data.nano import read_pfnano_jets
    from higgsflow.outputs import check_output

    check_output(out, overwrite=overwrite)
    columns = read_pfnano_jets(path, jets=jets)
    write_table(out, columns, overwrite=overwrite)
    Console(highlight=False).print(f"{len(columns['jet_pt'])} {jets} jets of {path} → {out}")


def _register_subcommands() -> None:
    for name, target in COMMANDS.items():
        module, _, function = target.partition(":")
        app.command(name)(getattr(importlib.import_module(module), function))
    for name, module in SUBCOMMANDS.items():
        sub = importlib.import_module(module).app
        app.add_typer(sub, name=name)


_register_subcommands()


def _exception_classes(name: str) -> tuple[type[BaseException], ...]:
    """The click exception ``name`` from click and from the copy of click that recent typer releases vendor."""
    import typer.exceptions

    modules = [typer.exceptions, typer]
    # typer >= 0.29 vendors its own click (typer._click); older releases use click itself, a dependency of theirs
    for name_ in ("typer._click.exceptions", "click.exceptions"):
        if name_ == "click.exceptions" and "click" not in sys.modules:
            continue  # never import click just for this: it need not be installed
        with contextlib.suppress(ImportError):
            modules.append(importlib.import_module(name_))
    found = {getattr(m, name) for m in modules if isinstance(getattr(m, name, None), type)}
    return tuple(found)


_EXIT = _exception_classes("Exit")
_ABORT = _exception_classes("Abort")
_CLICK_ERROR = _exception_classes("ClickException")
#: optional module → the extra of pyproject.toml that installs it
_EXTRAS = {
    "pythia8": "gen",
    "pythia8mc": "gen",
    "fastjet": "gen",
    "torch": "ml",
    "onnx": "ml",
    "onnxruntime": "ml",
    "sklearn": "ml",
    "tensorboard": "ml",
    "pyhf": "stats",
    "iminuit": "stats",
    "scipy": "stats",
    "hist": "stats",
    "mplhep": "stats",
    "matplotlib": "stats",
    "xgboost": "eft",
    "optuna": "eft",
    "pylhe": "eft",
    "numba": "eft",
    "dask": "dist",
    "distributed": "dist",
}

#: operating-system refusals of a named path: no permission, a read-only or full disk, a folder where a file
#: should be (or the reverse), a missing file or folder. They concern the user's files, not higgsflow's code.
_PATH_ERRNOS = frozenset(
    {
        errno.EACCES,
        errno.EPERM,
        errno.EROFS,
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EISDIR,
        errno.ENOTDIR,
        errno.ENOENT,
    }
)


def _verbosity(argv: Sequence[str]) -> int:
    count = 0
    for arg in argv:
        if arg == "--verbose":
            count += 1
        elif arg.startswith("-") and not arg.startswith("--") and set(arg[1:]) == {"v"}:
            count += len(arg) - 1
    return count


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (the console script exits with it)."""
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = _verbosity(args)
    try:
        # typer in non-standalone mode *returns* the code of a typer.Exit (and turns Ctrl-C into Exit(130))
        rc = app(args=args, prog_name="higgsflow", standalone_mode=False)
    except HiggsflowError as exc:
        if verbose:
            _err.print(traceback.format_exc(), markup=False)
        _err.print(f"[bold red]error:[/bold red] {escape(str(exc))}")
        return exc.exit_code
    except _EXIT as exc:
        rc = exc.exit_code  # type: ignore[attr-defined]
    except (*_ABORT, KeyboardInterrupt):
        rc = EXIT_INTERRUPTED
    except ModuleNotFoundError as exc:
        extra = _EXTRAS.get((exc.name or "").split(".")[0])
        if extra is None:
            return _internal_error(exc, verbose)
        if verbose:
            _err.print(traceback.format_exc(), markup=False)
        _err.print(
            "[bold red]error:[/bold red] "
            + escape(
                f"this command needs {exc.name!r}, which is not installed "
                f"(expected the '{extra}' extra: pip install 'higgsflow[{extra}]')"
            )
        )
        return 1
    except OSError as exc:
        if exc.filename is None or exc.errno not in _PATH_ERRNOS:
            return _internal_error(exc, verbose)
        # an output path or input file the operating system refuses is the user's to fix, not a bug
        if verbose:
            _err.print(traceback.format_exc(), markup=False)
        reason = (exc.strerror or type(exc).__name__).lower()
        _err.print(f"[bold red]error:[/bold red] {escape(str(exc.filename))}: {reason}")
        return 1
    except _CLICK_ERROR as exc:
        # one line, as every other error: click's usage block ("Usage: ... Try ... Error: ...") would be three
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} -h')" if getattr(ctx, "command_path", None) else ""
        message = " ".join(exc.format_message().split())  # type: ignore[attr-defined]
        _err.print("[bold red]error:[/bold red] " + escape(message + hint))
        return exc.exit_code  # type: ignore[attr-defined]
    except Exception as exc:
        return _internal_error(exc, verbose)
    if rc == EXIT_INTERRUPTED:
        _err.print("interrupted")
    return rc if isinstance(rc, int) and not isinstance(rc, bool) else 0


def _internal_error(exc: BaseException, verbose: int) -> int:
    if verbose:
        _err.print("".join(traceback.format_exception(exc)), markup=False)
    _err.print(
        f"[bold red]internal error:[/bold red] {type(exc).__name__}: {escape(str(exc))} "
        "(this is a bug in higgsflow; rerun with -v and report the traceback)"
    )
    return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
