"""The README's tour runs as written: every line, in order, from a checkout (examples/ in place)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

for module in ("pythia8mc", "fastjet", "torch", "onnxruntime", "pyhf"):
    pytest.importorskip(module)


def tour_lines() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## A short tour", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_tour_is_found_and_every_line_is_a_higgsflow_command():
    lines = tour_lines()
    assert len(lines) >= 8
    assert all(line.startswith("higgsflow ") for line in lines)
    for config in re.findall(r"examples/\S+", " ".join(lines)):
        assert (ROOT / config).is_file(), config


def test_every_example_config_is_used_or_documented():
    examples = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "examples").rglob("*.yaml"))
    assert examples
    mentioned = (ROOT / "README.md").read_text() + "".join(
        p.read_text() for p in (ROOT / "docs").glob("*.md")
    )
    assert [e for e in examples if e not in mentioned] == []


@pytest.fixture(scope="module")
def tour(tmp_path_factory):
    """Run the tour in a scratch folder that holds a link to the checkout's examples/."""
    work = tmp_path_factory.mktemp("tour")
    (work / "examples").symlink_to(ROOT / "examples")
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("OMP_NUM_THREADS", "2")
    results = []
    for line in tour_lines():
        proc = subprocess.run(
            ["bash", "-c", f"set -o pipefail; {line}"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        results.append((line, proc))
        if proc.returncode != 0:
            break
    return work, results


def test_every_tour_line_exits_0(tour):
    _, results = tour
    failed = [(line, p.returncode, p.stderr[-2000:]) for line, p in results if p.returncode != 0]
    assert failed == []
    assert len(results) == len(tour_lines())


def test_tour_results_make_physical_sense(tour):
    work, results = tour
    if any(p.returncode for _, p in results):
        pytest.skip("the tour failed (see test_every_tour_line_exits_0)")
    from higgsflow.data.io import read_table

    metrics = json.loads((work / "tour/run/eval/metrics.json").read_text())
    text = json.dumps(metrics)
    assert "auc" in text.lower()
    scored = read_table(work / "tour/scored/test.root")
    scores = np.stack([np.asarray(scored[f"score_{c}"]) for c in ("QCD", "Hbb", "Tbqq")], axis=1)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-4)
    # even two epochs on 900 jets separate H->bb from QCD: the H->bb score is higher on H->bb jets
    is_hbb, is_qcd = np.asarray(scored["label_Hbb"]) == 1, np.asarray(scored["label_QCD"]) == 1
    assert scores[is_hbb, 1].mean() > scores[is_qcd, 1].mean()
    limit_out = next(p for line, p in results if "stats limit" in line).stdout
    assert re.search(r"\d", limit_out)
