"""Peak resident memory of `higgsflow train` with the default settings (full ParT, batch 512) on JetClass-like jets.

    python benchmarks/train_memory.py [--jets-per-class 300] [--n-max 60] [--epochs 1] [--max-train-jets N] [-- ...]

Writes toy jets in the JetClass schema (higgsflow.data.toy, 10 classes, n_max particles at most), runs
`python -m higgsflow train -c tests/data/particle_transformer/JetClass_full.yaml ...` as a child process and prints
its peak resident set size (getrusage of the children, the number `/usr/bin/time -v` reports as "Maximum resident
set size"). Arguments after `--` go to `higgsflow train` (e.g. `-- --max-memory-gb 4`). Minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jets-per-class", type=int, default=300)
    ap.add_argument("--n-max", type=int, default=60, help="most particles in a jet (JetClass: up to ~128)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--max-train-jets", type=int, default=None)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT / "src"))
    from higgsflow.data.toy import JETCLASS_LABELS, write_toy_jets

    labels = list(JETCLASS_LABELS)
    with tempfile.TemporaryDirectory() as d:
        tr = write_toy_jets(
            f"{d}/train.parquet", labels, args.jets_per_class, seed=1, n_max=args.n_max, label_names=labels
        )
        va = write_toy_jets(
            f"{d}/val.parquet",
            labels,
            max(args.jets_per_class // 6, 1),
            seed=2,
            n_max=args.n_max,
            label_names=labels,
        )
        cmd = [
            sys.executable,
            "-m",
            "higgsflow",
            "-v",
            "train",
            "-c",
            str(ROOT / "tests/data/particle_transformer/JetClass_full.yaml"),
            "--train",
            str(tr),
            "--val",
            str(va),
            "-o",
            f"{d}/run",
            "--epochs",
            str(args.epochs),
        ]
        if args.max_train_jets:
            cmd += ["--max-train-jets", str(args.max_train_jets)]
        cmd += extra
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env=env)
        wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # kB -> GB
    n = len(labels) * args.jets_per_class
    if args.max_train_jets:
        n = min(n, args.max_train_jets)
    print(
        f"{n} training jets of up to {args.n_max} particles, {args.epochs} epoch(s): peak RSS {peak:.2f} GB, {wall:.0f} s"
    )


if __name__ == "__main__":
    main()
