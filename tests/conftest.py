"""Shared fixtures. Real CMS files live outside the repository (../shared/data/real, see its README)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("HIGGSFLOW_REAL_DATA", REPO.parent / "shared" / "data" / "real"))


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The folder of real NanoAOD/PFNano files; tests using it skip cleanly when it is absent."""
    if not (REAL_DATA / "nano_tt_v15.root").is_file():
        pytest.skip(f"real CMS files not found in {REAL_DATA} (set HIGGSFLOW_REAL_DATA to their folder)")
    return REAL_DATA


@pytest.fixture(scope="session")
def load_script() -> Callable[[str], ModuleType]:
    """Import a script of the repository that is not part of the package (``benchmarks/glopart.py``) by its
    path relative to the repository, once per session."""
    cache: dict[str, ModuleType] = {}

    def load(relpath: str) -> ModuleType:
        if relpath not in cache:
            path = REPO / relpath
            spec = importlib.util.spec_from_file_location(path.stem.lstrip("_") + "_script", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            cache[relpath] = module
        return cache[relpath]

    return load
