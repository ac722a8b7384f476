"""The 2-D toy benchmark: SANNT vs CENNT, σ(μ_ggH) and σ(μ_qqH) measured by pyhf Asimov fits on test samples.

Run: PYTHONPATH=src /work/venv/bin/python benchmarks/sannt.py [--seeds 5] [--n-events 10000]
Prints mean ± sd over seeds per method, whether SANNT's reduction of σ(μ_ggH) is significant (paired differences
over seeds), whether it reaches the 10% target, and whether σ(μ_qqH) stays within +5%.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from higgsflow.sannt.benchmark import METHODS, BenchmarkResult, describe, run_seed
from higgsflow.sannt.train import SanntConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--n-events", type=int, default=10000, help="simulated events per process and split")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest here)")
    parser.add_argument("--json", help="also write the per-seed results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = SanntConfig()
    seeds = []
    t0 = time.perf_counter()
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        res = run_seed(seed, args.n_events, config)
        seeds.append(res)
        cells = "  ".join(
            f"{m}: {res.sigma[m]['mu_ggH']:.4f}/{res.sigma[m]['mu_qqH']:.4f} ({res.seconds[m]:.0f}s)"
            for m in METHODS
        )
        print(f"seed {seed}: σ(μ_ggH)/σ(μ_qqH)  {cells}", flush=True)
    total = time.perf_counter() - t0
    result = BenchmarkResult(seeds)
    print(
        f"\n{args.seeds} seeds, {args.n_events} events per process and split, "
        f"{total:.0f} s on {args.threads} threads"
    )
    print(f"{'method':22s} {'σ(μ_ggH) mean ± sd':>22s} {'σ(μ_qqH) mean ± sd':>22s}")
    for method, row in result.summary().items():
        print(f"{method:22s} " + " ".join(f"{m:>13.4f} ± {s:.4f}" for m, s in row.values()))
    ce_gg = result.values("CENNT", "mu_ggH").mean()
    for method in METHODS[1:]:
        v = result.verdict(method)
        ratio = result.values(method, "mu_ggH").mean() / ce_gg
        print(
            f"\n{method} vs CENNT: σ(μ_ggH) ratio {ratio:.3f} "
            f"(improvement {100 * v['improvement_ggH']:.1f}%), "
            f"paired difference {v['mean_difference']:.4f} ± {v['standard_error']:.4f} (SE)\n"
            f"  {describe(method, v)}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(result.to_dict(), indent=2, default=float))


if __name__ == "__main__":
    main()
