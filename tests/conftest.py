"""Shared fixtures. Real CMS files live outside the repository (../shared/data/real, see its README)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("HIGGSFLOW_REAL_DATA", REPO.parent / "shared" / "data" / "real"))


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The folder of real NanoAOD/PFNano files; tests using it skip cleanly when it is absent."""
    if not (REAL_DATA / "nano_tt_v15.root").is_file():
        pytest.skip(f"real CMS files not found in {REAL_DATA} (set HIGGSFLOW_REAL_DATA to their folder)")
    return REAL_DATA
