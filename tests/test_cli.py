import subprocess
import sys

import numpy as np
import pytest
import typer

import higgsflow
from higgsflow.cli import EXIT_INTERNAL, app, main
from higgsflow.data.io import write_table
from higgsflow.errors import ConfigError


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"higgsflow {higgsflow.__version__}"


def test_help_lists_every_command_with_its_help(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "Exit codes" in out
    for command in app.registered_commands:
        assert command.name in out
    for group in app.registered_groups:
        assert group.name in out


def test_console_script_runs_as_module():
    proc = subprocess.run([sys.executable, "-m", "higgsflow", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and higgsflow.__version__ in proc.stdout


def test_library_error_is_one_line_with_exit_code_1(tmp_path, capsys):
    missing = tmp_path / "nope.root"
    assert main(["inspect", str(missing)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("error:") and str(missing) in err and "not found" in err
    assert "Traceback" not in err


def test_verbose_adds_the_traceback(tmp_path, capsys):
    assert main(["-v", "inspect", str(tmp_path / "x.txt")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "expected a .root or .parquet file" in err


def test_usage_errors_exit_2(capsys):
    assert main(["no-such-command"]) == 2
    assert main(["inspect"]) == 2


def test_internal_error_exit_3(monkeypatch, capsys):
    sub = typer.Typer()

    @sub.command("boom")
    def boom() -> None:
        raise ZeroDivisionError("division by zero")

    @sub.command("bad-config")
    def bad_config() -> None:
        raise ConfigError("unknown key", file="c.yaml", field="inputs.pf", expected="one of: length, vars")

    app.add_typer(sub, name="testing")
    try:
        assert main(["testing", "boom"]) == EXIT_INTERNAL
        assert "bug in higgsflow" in capsys.readouterr().err
        assert main(["testing", "bad-config"]) == 1
        assert capsys.readouterr().err.strip() == (
            "error: c.yaml: inputs.pf: unknown key (expected one of: length, vars)"
        )
    finally:
        app.registered_groups.pop()


def test_inspect_prints_groups_labels_and_seed(tmp_path, capsys):
    path = write_table(
        tmp_path / "jets.parquet",
        {"jet_pt": np.array([600.0, 700.0, 800.0]), "label_QCD": np.array([1, 0, 1]), "label_Hbb": [0, 1, 0]},
        metadata={"seed": 42},
    )
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "3 entries" in out and "label_Hbb" in out and "seed: 42" in out
    assert "0.667" in out  # QCD fraction


@pytest.mark.parametrize("flag", ["-v", "-vv"])
def test_verbosity_sets_logging_level(flag):
    import logging

    assert main([flag, "inspect", "missing.root"]) == 1
    level = logging.getLogger("higgsflow").level
    assert level == (logging.INFO if flag == "-v" else logging.DEBUG)


def test_cli_import_does_not_load_heavy_libraries():
    """`higgsflow --help` stays fast: sub-command modules import torch, pyhf, pythia8 only when a command runs."""
    code = (
        "import sys, higgsflow.cli; print(sorted({'torch', 'pyhf', 'pythia8', 'xgboost'} & set(sys.modules)))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def _all_command_paths() -> list[list[str]]:
    root = typer.main.get_command(app)
    paths = []
    for name, command in root.commands.items():
        sub = getattr(command, "commands", None)
        paths += [[name, s] for s in sub] if sub else [[name]]
    return paths


@pytest.mark.parametrize("path", _all_command_paths(), ids=" ".join)
def test_every_command_exits_2_on_an_unknown_option(path, capsys):
    assert main([*path, "--no-such-option"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: No such option: --no-such-option")
    assert f"(see 'higgsflow {' '.join(path)} -h')" in err[0]


def test_an_unknown_command_and_a_missing_value_are_one_line(capsys):
    assert main(["nosuch"]) == 2
    assert capsys.readouterr().err.strip() == "error: No such command 'nosuch'. (see 'higgsflow -h')"
    assert main(["generate", "jets", "--n-jets"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--n-jets" in err[0] and "requires an argument" in err[0]


@pytest.mark.parametrize("path", _all_command_paths(), ids=" ".join)
def test_every_command_has_help_and_exits_0(path, capsys):
    assert main([*path, "--help"]) == 0
    assert "Usage" in capsys.readouterr().out


def test_exit_code_of_a_command_that_raises_typer_exit_is_kept(capsys):
    """typer in non-standalone mode returns the code of typer.Exit: main must pass it on (it used to drop it)."""
    sub = typer.Typer()

    @sub.command("fail")
    def fail() -> None:
        raise typer.Exit(4)

    @sub.command("stop")
    def stop() -> None:
        raise KeyboardInterrupt

    @sub.command("ok")
    def ok() -> None:
        pass

    app.add_typer(sub, name="testing")
    try:
        assert main(["testing", "fail"]) == 4
        assert main(["testing", "stop"]) == 130
        assert capsys.readouterr().err.strip() == "interrupted"
        assert main(["testing", "ok"]) == 0
    finally:
        app.registered_groups.pop()


def test_an_unwritable_path_from_the_os_is_a_user_error(tmp_path, capsys):
    sub = typer.Typer()
    blocker = tmp_path / "afile"
    blocker.write_text("x")

    @sub.command("write")
    def write() -> None:
        (blocker / "out.json").write_text("{}")

    @sub.command("denied")
    def denied() -> None:
        raise PermissionError(13, "Permission denied", "/restricted/out.json")

    app.add_typer(sub, name="testing")
    try:
        assert main(["testing", "write"]) == 1
        err = capsys.readouterr().err.strip()
        assert err == f"error: {blocker / 'out.json'}: not a directory"
        assert main(["testing", "denied"]) == 1
        assert capsys.readouterr().err.strip() == "error: /restricted/out.json: permission denied"
    finally:
        app.registered_groups.pop()
