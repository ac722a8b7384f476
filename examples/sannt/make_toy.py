"""Write the toy files that examples/sannt/analysis.yaml reads (a signal peak over a broad background, three
features, and the background's systematic variations as a varied file pair and as weight columns).

    python examples/sannt/make_toy.py toy/          # then: higgsflow sannt train -c examples/sannt/analysis.yaml \
                                                    #         --inputs toy --out toy/run

Signal: (x0, x1) ~ N((0, 0), I), x2 ~ Exp(rate 2); background: (x0, x1) ~ N((2, 0), diag(5, 9)), x2 ~ Exp(rate 3)
(the generative model of the INFERNO benchmark, arXiv:1806.04743). Expected events: 50 signal, 1000 background.
The background's x0 shift r = 0 ± 0.4 is a varied-file systematic (background_up/down.parquet: the same events
with x0 ± 0.4); its x2 slope is a weight systematic (weight_slope_up/down: the x2 rate 3 ± 1 as event weights).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from higgsflow.data import write_table


def write_toy(folder: str | Path, n_signal: int = 2000, n_background: int = 4000, seed: int = 1) -> Path:
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    sig = {
        "x0": rng.normal(0, 1, n_signal),
        "x1": rng.normal(0, 1, n_signal),
        "x2": rng.exponential(1 / 2, n_signal),
        "weight": np.full(n_signal, 50.0 / n_signal),
    }
    x2 = rng.exponential(1 / 3, n_background)
    w = np.full(n_background, 1000.0 / n_background)

    def rate(lam: float) -> np.ndarray:  # reweight Exp(3) to Exp(lam)
        return w * (lam * np.exp(-lam * x2)) / (3 * np.exp(-3 * x2))

    bkg = {
        "x0": rng.normal(2, np.sqrt(5), n_background),
        "x1": rng.normal(0, 3, n_background),
        "x2": x2,
        "weight": w,
        "weight_slope_up": rate(4.0),
        "weight_slope_down": rate(2.0),
    }
    write_table(folder / "signal.parquet", {k: v.astype(np.float32) for k, v in sig.items()})
    write_table(folder / "background.parquet", {k: v.astype(np.float32) for k, v in bkg.items()})
    for side, shift in (("up", 0.4), ("down", -0.4)):
        varied = {k: bkg[k] for k in ("x0", "x1", "x2", "weight")}
        varied["x0"] = bkg["x0"] + shift
        write_table(
            folder / f"background_{side}.parquet", {k: v.astype(np.float32) for k, v in varied.items()}
        )
    return folder


if __name__ == "__main__":
    print(f"wrote toy files to {write_toy(sys.argv[1] if len(sys.argv) > 1 else 'toy')}")
