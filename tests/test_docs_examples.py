"""Every ```python block of the docs runs (per page, in order, in a temporary folder).

A block preceded by the line ``<!-- no-test -->`` is shown only (for example one that needs hours or a cluster).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
_BLOCK = re.compile(r"(<!-- no-test -->\s*\n)?```python\n(.*?)```", re.S)


def _pages():
    for page in sorted(DOCS.glob("*.md")):
        blocks = [code for skip, code in _BLOCK.findall(page.read_text()) if not skip]
        if blocks:
            yield pytest.param(page, blocks, id=page.stem)


@pytest.mark.parametrize(("page", "blocks"), list(_pages()))
def test_docs_example_runs(page, blocks, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for i, code in enumerate(blocks):
        exec(compile(code, f"{page.name}[block {i}]", "exec"), namespace)
