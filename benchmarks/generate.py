"""Throughput of ``higgsflow generate jets`` against bare Pythia 8 with the same settings, in the same run.

Prints, for Hbb, Tbqq and QCD: jets per second per core of the full chain (Pythia + detector + FastJet +
labels + features, one process), events per second of that chain and of a bare ``pythia.next()`` loop with the
same process settings, and their ratio (required ≥ 0.5, aimed at ≥ 0.7). Times are CPU times of this process
(``time.process_time``), so that other work on a shared machine does not bias the ratio.

Run: ``PYTHONPATH=src /work/venv/bin/python benchmarks/generate.py [--jets N]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from higgsflow.generate.jets import ChunkSpec, make_pythia, run_chunk
from higgsflow.generate.processes import class_spec


def bare_pythia_rate(name: str, n_events: int, seed: int = 7) -> float:
    """Events per second of ``pythia.next()`` alone (init excluded)."""
    pythia = make_pythia(class_spec(name).settings, seed)
    pythia.next()
    t0 = time.process_time()
    for _ in range(n_events):
        pythia.next()
    return n_events / (time.process_time() - t0)


def chain_rate(name: str, n_jets: int, seed: int = 7) -> tuple[float, float, int]:
    """(jets/s, events/s, events) of the full chain for one chunk, Pythia initialisation excluded."""
    t_init = time.process_time()
    make_pythia(class_spec(name).settings, seed)
    init = time.process_time() - t_init
    t0 = time.process_time()
    cols = run_chunk(ChunkSpec(name, n_jets, (seed, 1, 0)))
    elapsed = time.process_time() - t0 - init
    n_events = int(cols["_n_events"])
    return len(cols["jet_pt"]) / elapsed, n_events / elapsed, n_events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=150, help="jets per class")
    args = parser.parse_args()
    print(f"{'class':6s} {'jets/s/core':>12s} {'events/s chain':>15s} {'events/s bare':>14s} {'ratio':>6s}")
    ratios = []
    for name in ("Hbb", "Tbqq", "QCD"):
        jets_s, ev_s, n_ev = chain_rate(name, args.jets)
        bare = bare_pythia_rate(name, n_ev)
        ratios.append(ev_s / bare)
        print(f"{name:6s} {jets_s:12.1f} {ev_s:15.1f} {bare:14.1f} {ev_s / bare:6.2f}")
    print(f"mean throughput ratio higgsflow/bare Pythia: {np.mean(ratios):.2f} (required 0.5, aimed at 0.7)")


if __name__ == "__main__":
    main()
