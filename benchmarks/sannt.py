"""SANNT vs CENNT, σ measured by pyhf Asimov fits on independent test samples.

The 2-D toy benchmark: PYTHONPATH=src python benchmarks/sannt.py [--seeds 5] [--n-events 10000]
Prints mean ± sd over seeds per method, whether SANNT's reduction of σ(μ_ggH) is significant (paired differences
over seeds), whether it reaches the 10% target, and whether σ(μ_qqH) stays within +5%.

The INFERNO benchmark (de Castro & Dorigo 2018, benchmarks 3 and 4):
PYTHONPATH=src python benchmarks/sannt.py --inferno [--seeds 3] [--n-events 20000] [--benchmarks 3 4]
Prints σ of the signal yield per seed for CENNT and SANNT (library defaults: SANNT from scratch), the median over
seeds, the paper's table beside them, and whether SANNT is ≥ 15% (benchmark 3) / ≥ 20% (benchmark 4) below CENNT
and at or below INFERNO's published σ.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from higgsflow.sannt.benchmark import METHODS, BenchmarkResult, describe, run_seed
from higgsflow.sannt.inferno import PAPER_SIGMA, run_inferno_seed
from higgsflow.sannt.train import SanntConfig

#: the reduction of σ(s) against CENNT that SANNT must reach per INFERNO benchmark
REQUIRED_REDUCTION = {3: 0.15, 4: 0.20}


def inferno(args: argparse.Namespace) -> None:
    n_train = args.n_events or 20000
    report: dict = {}
    t0 = time.perf_counter()
    for bench in args.benchmarks:
        rows = []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            res = run_inferno_seed(seed, bench, n_train=n_train, n_test=args.n_test)
            rows.append(res)
            print(
                f"benchmark {bench} seed {seed}: σ(s) CENNT {res.sigma['CENNT']:.2f} ({res.seconds['CENNT']:.0f}s), "
                f"SANNT {res.sigma['SANNT']:.2f} ({res.seconds['SANNT']:.0f}s)",
                flush=True,
            )
        med = {m: float(np.median([r.sigma[m] for r in rows])) for m in ("CENNT", "SANNT")}
        change = med["SANNT"] / med["CENNT"] - 1
        report[bench] = {"seeds": [{"seed": r.seed, "sigma": r.sigma, "seconds": r.seconds} for r in rows]}
        report[bench]["median"] = med
        paper = PAPER_SIGMA[bench]
        print(
            f"\nINFERNO benchmark {bench}: σ(s), signal yield s = 50, b = 1000 (median of {len(rows)} seeds)"
        )
        print(f"  {'':28s} {'this run':>9s} {'paper':>7s}")
        print(f"  {'CENNT / NN classifier':28s} {med['CENNT']:9.2f} {paper['NN classifier']:7.2f}")
        print(f"  {'SANNT / INFERNO':28s} {med['SANNT']:9.2f} {paper['INFERNO']:7.2f}")
        print(f"  {'analytical likelihood':28s} {'':9s} {paper['analytical likelihood']:7.2f}")
        met, below = change <= -REQUIRED_REDUCTION[bench], med["SANNT"] <= paper["INFERNO"]
        print(
            f"  SANNT vs CENNT: {100 * change:+.1f}% (required: ≤ −{100 * REQUIRED_REDUCTION[bench]:.0f}%, "
            f"{'met' if met else 'not met'}); at or below INFERNO's {paper['INFERNO']:.2f}: "
            f"{'yes' if below else 'no'}\n",
            flush=True,
        )
        report[bench].update({"change": change, "reduction_met": met, "at_or_below_inferno": below})
    print(
        f"{time.perf_counter() - t0:.0f} s on {args.threads} thread(s), {n_train} training events per process"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=float))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=None, help="seeds (toy: 5, --inferno: 3)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument(
        "--n-events",
        type=int,
        default=None,
        help="simulated events per process and split (toy: 10000; --inferno: 20000 for training and validation)",
    )
    parser.add_argument("--inferno", action="store_true", help="the INFERNO benchmarks instead of the toy")
    parser.add_argument("--benchmarks", type=int, nargs="+", default=[3, 4], help="INFERNO benchmarks (3, 4)")
    parser.add_argument("--n-test", type=int, default=100000, help="INFERNO test events per process")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest here)")
    parser.add_argument("--json", help="also write the per-seed results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.inferno:
        args.seeds = args.seeds or 3
        inferno(args)
        return
    args.seeds = args.seeds or 5
    args.n_events = args.n_events or 10000
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
