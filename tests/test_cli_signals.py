"""Ctrl-C during a long command: exit code 130, "interrupted" on stderr, no half-written output."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")


def _interrupt_when(proc: subprocess.Popen, ready, timeout: float = 120.0) -> None:
    start = time.monotonic()
    while not ready():
        if proc.poll() is not None:
            raise AssertionError(f"finished before it could be interrupted: {proc.communicate()}")
        if time.monotonic() - start > timeout:
            proc.kill()
            raise AssertionError("never got going")
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)


@pytest.mark.parametrize("workers", [1, 2])
def test_sigint_during_generate_exits_130_and_keeps_no_partial_file(tmp_path, workers):
    out = tmp_path / "jets.root"
    parts = tmp_path / ".jets.root.parts"
    cmd = [sys.executable, "-m", "higgsflow", "generate", "jets", "--classes", "QCD", "--n-jets", "5000"]
    cmd += ["--out", str(out), "--seed", "1", "--workers", str(workers), "--chunk-size", "50"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    _interrupt_when(proc, lambda: parts.is_dir() and any(parts.glob("*.parquet")))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "interrupted"
    assert not out.exists()  # the final file is written only when every chunk is done
    assert "Traceback" not in err and "WARNING" not in err  # no shutdown chatter from the Dask workers
    leftovers = [
        p for p in Path(tmp_path).iterdir() if p.name.startswith(".jets.root") and p.suffix == ".tmp"
    ]
    assert leftovers == [] and parts.is_dir()  # finished chunks stay for a resumed run
