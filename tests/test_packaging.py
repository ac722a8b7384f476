"""What `pip install higgsflow` gives a user: the command line with only the base dependencies, wheels only."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

#: top-level modules that only the optional extras (or nothing at all) install
NOT_BASE = [
    "click", "torch", "pythia8", "pythia8mc", "fastjet", "pyhf", "iminuit", "scipy", "matplotlib", "mplhep", "hist",
    "xgboost", "sklearn", "onnx", "onnxruntime", "dask", "distributed", "optuna", "pylhe", "numba",
    "tensorboard", "weaver", "cabinetry",
]  # fmt: skip

#: modules that `--help` must not even import (they are installed, but cost time)
HEAVY_FOR_HELP = ["awkward", "pyarrow", "uproot", "numpy", "yaml", *NOT_BASE]


def _run_with_blocked_imports(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter in which importing any NOT_BASE module fails as if not installed."""
    prelude = textwrap.dedent(
        f"""
        import sys
        BLOCKED = {NOT_BASE!r}
        class _Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
                return None
        sys.meta_path.insert(0, _Blocker())
        """
    )
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


def test_help_works_with_only_the_base_dependencies():
    proc = _run_with_blocked_imports(
        """
        from higgsflow.cli import main
        codes = [main(["--help"])]
        for sub in ["generate", "stats", "eft", "sannt", "train", "evaluate", "predict", "export", "demo", "inspect"]:
            codes.append(main([sub, "--help"]))
        print("codes", codes)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "codes [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]" in proc.stdout
    assert "Usage" in proc.stdout


def test_help_imports_no_heavy_library():
    code = f"import sys; from higgsflow.cli import main; main(['--help']); print(sorted(set({HEAVY_FOR_HELP!r}) & set(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_a_missing_extra_is_a_one_line_user_error():
    """A command that needs an extra the user did not install says which one (exit 1), not a traceback."""
    proc = _run_with_blocked_imports(
        """
        import json, pathlib, tempfile
        from higgsflow.cli import main
        path = pathlib.Path(tempfile.mkdtemp()) / "ws.json"
        path.write_text(json.dumps({"channels": [], "measurements": [], "observations": [], "version": "1.0.0"}))
        raise SystemExit(main(["stats", "fit", str(path)]))
        """
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "pip install 'higgsflow[stats]'" in lines[0] and "pyhf" in lines[0]


def test_base_dependencies_declare_everything_the_cli_imports():
    base = {
        d.split(">")[0].split("=")[0].split("<")[0].strip().lower()
        for d in PYPROJECT["project"]["dependencies"]
    }
    assert {"typer", "rich", "numpy", "awkward", "uproot", "pyarrow", "pyyaml"} <= base
    assert "click" not in base  # not needed: typer >= 0.29 vendors its own copy


def test_pythia8mc_requirement_admits_only_releases_with_wheels():
    from packaging.specifiers import SpecifierSet

    (req,) = [r for r in PYPROJECT["project"]["optional-dependencies"]["gen"] if r.startswith("pythia8mc")]
    spec = SpecifierSet(req.removeprefix("pythia8mc"))
    assert "8.317.2" in spec  # the cp311 manylinux wheel CI installs
    assert "8.318.0" not in spec  # source archive only: a 15-minute compile


@pytest.mark.slow
def test_help_in_a_fresh_venv_with_only_the_base_dependencies(tmp_path):
    """The real thing: a new virtual environment, `pip install <checkout>` without extras, `higgsflow --help`."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "install", "-c", str(ROOT / "constraints" / "ci.txt"), str(ROOT)], check=True, timeout=900
    )
    proc = subprocess.run([str(venv / "bin" / "higgsflow"), "--help"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "generate" in proc.stdout and "stats" in proc.stdout
    listed = subprocess.run([*pip, "list"], capture_output=True, text=True).stdout.lower()
    assert "torch" not in listed and "pythia8mc" not in listed
