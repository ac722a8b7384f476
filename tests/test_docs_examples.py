"""Every ```python block of the docs runs (per page, in order, in a temporary folder).

A block preceded by the line ``<!-- slow-test -->`` runs only with ``pytest -m slow`` (an example that takes
minutes); one preceded by ``<!-- no-test -->`` is shown only (for example one that needs a cluster).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
_BLOCK = re.compile(r"(?:<!-- (no-test|slow-test) -->\s*\n)?```python\n(.*?)```", re.S)


def _pages():
    for page in sorted(DOCS.glob("*.md")):
        found = _BLOCK.findall(page.read_text())
        fast = [code for tag, code in found if not tag]
        slow = [code for tag, code in found if tag != "no-test"]
        if fast:
            yield pytest.param(page, fast, id=page.stem)
        if len(slow) > len(fast):
            yield pytest.param(page, slow, id=f"{page.stem}-all", marks=pytest.mark.slow)


@pytest.mark.parametrize(("page", "blocks"), list(_pages()))
def test_docs_example_runs(page, blocks, tmp_path, monkeypatch):
    # examples run from a scratch folder that sees the repository's tests/data and examples/ (as from a checkout)
    (tmp_path / "tests").symlink_to(DOCS.parent / "tests", target_is_directory=True)
    (tmp_path / "examples").symlink_to(DOCS.parent / "examples", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for i, code in enumerate(blocks):
        exec(compile(code, f"{page.name}[block {i}]", "exec"), namespace)
