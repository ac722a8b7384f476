"""The AK4 flavour-tagging demo (``higgsflow demo --task flavour``): the AK4 chain of the talk at small scale.

It generates AK4 jets of the eight flavour classes (b, bb, c, cc, s, ud, g, τh) with the CMS-like detector,
splits them 60/20/20 class by class, trains a small UParT-AK4 (charged PF, neutral PF and secondary-vertex tokens;
the eight classes plus the flavour-aware p_T regression and its 16 %/84 % quantiles, the shipped
``higgsflow/configs/upart_ak4.yaml``), evaluates it, and turns the class scores into the CMS discriminants
(BvsAll, CvsL, CvsB, QvsG) and a working point at 10 % light-jet mistag with :mod:`higgsflow.tagging`. On 2 CPU
cores it takes a few minutes; the figures are rough at this size (a few dozen test jets per class), which the
printout says with their statistical intervals.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from higgsflow.data.io import read_table

__all__ = [
    "DEMO_UPART",
    "FLAVOUR_CLASSES",
    "FlavourDemoResult",
    "flavour_summary",
    "print_flavour_summary",
    "run_flavour_demo",
]

log = logging.getLogger(__name__)

FLAVOUR_CLASSES = ("b", "bb", "c", "cc", "s", "ud", "g", "tauh")
#: the small UParT of the demo (ParT's full size is (128, 512, 128), 8 + 2 blocks of 8 heads)
DEMO_UPART = {
    "embed_dims": [32, 64, 32],
    "pair_embed_dims": [16, 16],
    "num_heads": 2,
    "num_layers": 2,
    "num_cls_layers": 1,
}
#: light-jet mistag of the demo's working point (1 % needs more light jets than the demo has)
DEMO_MISTAG = 0.1


@dataclass
class FlavourDemoResult:
    run_dir: Path
    #: ``flavour.json``: the discriminants' AUCs, the working point, the p_T resolution and coverage
    summary: dict[str, Any]
    summary_path: Path
    plots: dict[str, Path]
    n_test: int
    split_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    epochs: int = 0


def _auc_interval(
    score: np.ndarray, is_sig: np.ndarray, *, seed: int = 1, n_boot: int = 200
) -> dict[str, float]:
    """ROC AUC and its 68 % bootstrap interval (resampling signal and background jets separately)."""
    from sklearn.metrics import roc_auc_score

    sig, bkg = score[is_sig], score[~is_sig]
    if sig.size == 0 or bkg.size == 0:
        return {
            "auc": float("nan"),
            "lo": float("nan"),
            "hi": float("nan"),
            "n_sig": sig.size,
            "n_bkg": bkg.size,
        }
    y = np.r_[np.ones(sig.size), np.zeros(bkg.size)]
    auc = float(roc_auc_score(y, np.r_[sig, bkg]))
    rng = np.random.default_rng(seed)
    boot = [
        roc_auc_score(y, np.r_[rng.choice(sig, sig.size), rng.choice(bkg, bkg.size)]) for _ in range(n_boot)
    ]
    lo, hi = np.quantile(boot, [0.16, 0.84])
    return {"auc": auc, "lo": float(lo), "hi": float(hi), "n_sig": int(sig.size), "n_bkg": int(bkg.size)}


def _half_width(ratio: np.ndarray) -> float:
    """Half the 16–84 % width of ``ratio`` over its median (a response offset does not count as resolution)."""
    if ratio.size < 2:
        return float("nan")
    q16, q50, q84 = np.quantile(ratio, [0.16, 0.5, 0.84])
    return float(0.5 * (q84 - q16) / q50) if q50 > 0 else float("nan")


def flavour_codes(label: np.ndarray, classes: list[str] | tuple[str, ...]) -> np.ndarray:
    """Hadron-flavour codes of class indices: b, bb → 5; c, cc → 4; ud, s, g → 0; anything else (τh) → −1."""
    code = {"b": 5, "bb": 5, "lepb": 5, "c": 4, "cc": 4, "ud": 0, "s": 0, "uds": 0, "g": 0}
    table = np.array([code.get(c, -1) for c in classes])
    return table[np.asarray(label)]


def flavour_summary(
    heads: dict[str, np.ndarray],
    label: np.ndarray,
    classes: tuple[str, ...] | list[str],
    pt: np.ndarray,
    pt_gen: np.ndarray,
    *,
    mistag: float = DEMO_MISTAG,
) -> dict[str, Any]:
    """What the demo prints, from the model's heads on the test jets (``softmax`` (N, K) in ``classes`` order,
    optionally ``pt_corr``, ``pt_q16``, ``pt_q84``), the true class index ``label`` and the raw and generator p_T:

    - ``discriminants``: AUC of BvsAll (b jets = b + bb against light = ud + s + g), CvsL (c + cc against light),
      CvsB (c against b) and QvsG (ud + s against g) with 68 % bootstrap intervals;
    - ``working_point``: BvsAll at ``mistag`` light-jet efficiency, the b, c and light efficiencies there;
    - ``pt_resolution``: raw (jet_pt) and regressed (jet_pt · pt_corr) resolution per flavour group;
    - ``coverage_16_84``: the fraction of jets whose p_T,gen/p_T lies between the two quantiles (target 0.68).
    """
    from higgsflow.tagging import discriminants, working_points

    classes = list(classes)
    probs = heads["softmax"]
    d = discriminants({c: probs[:, i] for i, c in enumerate(classes)})
    of = {c: label == classes.index(c) for c in classes}
    b, c = of["b"] | of["bb"], of["c"] | of["cc"]
    light = of["ud"] | of["s"] | of["g"]
    pairs = {
        "BvsAll": ("BvsAll", b, light, "b vs light"),
        "CvsL": ("CvsL", c, light, "c vs light"),
        "CvsB": ("CvsB", c, b, "c vs b"),
        "QvsG": ("QvsG", of["ud"] | of["s"], of["g"], "ud+s vs g"),
    }
    out: dict[str, Any] = {"discriminants": {}}
    for key, (disc, sig, bkg, what) in pairs.items():
        keep = sig | bkg
        row = _auc_interval(np.asarray(d[disc])[keep], sig[keep])
        row["what"] = what
        out["discriminants"][key] = row
    flavour = np.where(b, 5, np.where(c, 4, np.where(light, 0, -1)))
    keep = flavour >= 0
    wp = working_points(np.asarray(d["BvsAll"])[keep], flavour[keep], mistags=(mistag,))[0]
    out["working_point"] = {
        "discriminant": "BvsAll",
        "target_mistag": mistag,
        "threshold": wp.threshold,
        "eff_b": wp.eff_b,
        "interval_b": list(wp.interval_b),
        "eff_c": wp.eff_c,
        "eff_light": wp.eff_light,
        "n_b": wp.n_b,
        "n_light": wp.n_light,
    }
    groups = {"b": b, "c": c, "light": light, "tauh": of["tauh"]}
    res = {}
    for name, m in groups.items():
        row = {"raw": _half_width(pt[m] / pt_gen[m]), "jets": int(m.sum())}
        if "pt_corr" in heads:
            row["regressed"] = _half_width(pt[m] * heads["pt_corr"][m] / pt_gen[m])
        res[name] = row
    out["pt_resolution"] = res
    if "pt_q16" in heads and "pt_q84" in heads:
        truth = pt_gen / pt
        lo = np.minimum(heads["pt_q16"], heads["pt_q84"])
        hi = np.maximum(heads["pt_q16"], heads["pt_q84"])
        out["coverage_16_84"] = float(np.mean((truth >= lo) & (truth <= hi)))
    return out


def run_flavour_demo(
    out: str | os.PathLike[str],
    *,
    jets_per_class: int = 250,
    epochs: int = 15,
    seed: int = 1,
    workers: int = 1,
    overwrite: bool = False,
    progress: Any = None,
    network_kwargs: dict[str, Any] | None = None,
) -> FlavourDemoResult:
    """Generate ``jets_per_class`` AK4 jets of each of :data:`FLAVOUR_CLASSES`, split them 60/20/20 class by class,
    train a small UParT-AK4 (:data:`DEMO_UPART`, or ``network_kwargs``) for ``epochs`` epochs, evaluate it
    (``out/run/eval``: metrics.json, roc.png, scores.png) and write ``out/flavour.json``
    (:func:`flavour_summary`). ``progress`` as for :func:`higgsflow.train.demo.run_demo`."""
    from higgsflow.configs import config_path
    from higgsflow.data.config import DataConfig
    from higgsflow.data.loader import load_arrays
    from higgsflow.evaluate.plots import sqrt_s_of
    from higgsflow.train.demo import _generate, demo_reporter, prepare_demo_folder, write_splits
    from higgsflow.train.inference import evaluate_run, score_heads
    from higgsflow.train.loop import TrainSettings, load_run_model, train

    report = demo_reporter(progress)
    out = prepare_demo_folder(out, overwrite=overwrite)
    report.stage(
        "generate",
        f"generating {jets_per_class} AK4 jets for each of {', '.join(FLAVOUR_CLASSES)}",
        total=jets_per_class * len(FLAVOUR_CLASSES),
    )
    files = _generate(
        FLAVOUR_CLASSES,
        jets_per_class,
        out / "jets.parquet",
        seed=seed,
        workers=workers,
        toy=False,
        progress=report.jets,
        jet_type="ak4",
    )
    table = read_table(files[0])
    paths, counts = write_splits(table, FLAVOUR_CLASSES, out, seed=seed, sqrt_s=sqrt_s_of(files))
    sizes = counts.pop("_n")
    config = config_path("upart_ak4")
    report.stage(
        "train",
        f"training a small UParT-AK4 on {sizes['train']} jets for {epochs} epoch{'s' if epochs != 1 else ''}",
        total=epochs,
    )
    settings = TrainSettings(
        network="upart",
        network_kwargs=DEMO_UPART if network_kwargs is None else network_kwargs,
        epochs=epochs,
        batch_size=64,
        lr=2e-3,
        optimizer="ranger",
        scheduler="flat+decay",
        seed=seed,
    )
    run = train(
        DataConfig.load(config),
        [paths["train"]],
        [paths["val"]],
        out / "run",
        settings,
        progress=report.training,
    )
    report.stage("evaluate", f"evaluating on the {sizes['test']} test jets and computing the discriminants")
    ev = evaluate_run(run.run_dir, [paths["test"]])
    cfg, model = load_run_model(run.run_dir)
    arrays = load_arrays([paths["test"]], cfg, train=False)
    heads = score_heads(model, cfg, arrays)
    summary = flavour_summary(
        heads,
        arrays.label,
        [n.removeprefix("label_") for n in cfg.label_names],
        arrays.observers["jet_pt"],
        arrays.observers["jet_genjet_wnu_pt"],
    )
    from higgsflow.tagging import discriminants
    from higgsflow.tagging.plots import plot_flavour_rocs

    names = [n.removeprefix("label_") for n in cfg.label_names]
    plots = dict(ev.plots)
    plots["discriminants"] = plot_flavour_rocs(
        discriminants({c: heads["softmax"][:, i] for i, c in enumerate(names)}),
        flavour_codes(arrays.label, names),
        out / "discriminants.png",
        com=sqrt_s_of([paths["test"]]),
        title=f"small UParT-AK4, {len(arrays.label)} test jets",
    )
    summary["test_jets"] = len(arrays.label)
    summary["run"] = os.fspath(run.run_dir)
    summary_path = out / "flavour.json"
    summary_path.write_text(json.dumps(summary, indent=2))
    report.finish()
    return FlavourDemoResult(run.run_dir, summary, summary_path, ev.plots, len(arrays.label), counts, epochs)


def _f(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.3f}"


def print_flavour_summary(result: FlavourDemoResult, console: Any) -> None:
    """The demo's table on a rich console."""
    from rich.markup import escape
    from rich.table import Table

    s = result.summary
    n_train = sum(result.split_counts["train"].values())
    console.print(
        f"\nSmall UParT-AK4 trained on {n_train} jets for {result.epochs} epoch{'s' if result.epochs != 1 else ''}, tested on {result.n_test} jets "
        f"({', '.join(f'{n} {c}' for c, n in result.split_counts['test'].items())}):",
        soft_wrap=True,
    )
    table = Table()
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_column("68% interval", justify="right")
    table.add_column("based on")
    for key, row in s["discriminants"].items():
        table.add_row(
            f"{key} AUC ({row['what']})",
            _f(row["auc"]),
            escape(f"[{_f(row['lo'])}, {_f(row['hi'])}]"),
            f"{row['n_sig']} + {row['n_bkg']} jets",
        )
    wp = s["working_point"]
    table.add_row(
        f"b efficiency, BvsAll at {wp['target_mistag']:.0%} light mistag",
        _f(wp["eff_b"]),
        escape(f"[{_f(wp['interval_b'][0])}, {_f(wp['interval_b'][1])}]"),
        f"{wp['n_b']} b, {wp['n_light']} light jets",
    )
    for name, row in s["pt_resolution"].items():
        if "regressed" in row:
            table.add_row(
                f"p_T resolution {name} jets: raw → regressed",
                f"{_f(row['raw'])} → {_f(row['regressed'])}",
                "",
                f"{row['jets']} jets",
            )
    if "coverage_16_84" in s:
        table.add_row(
            escape("[q16, q84] coverage of p_T,gen/p_T (target 0.68)"), _f(s["coverage_16_84"]), "", ""
        )
    console.print(table)
    console.print(
        "b jets = b + bb, c jets = c + cc, light = ud + s + g; resolution = half the 16–84 % width of "
        "p_T/p_T,gen over its median (p_T,gen with neutrinos).",
        soft_wrap=True,
    )
    for name, p in result.plots.items():
        console.print(f"{name} plot: {p}", soft_wrap=True)
    console.print(f"summary: {result.summary_path}", soft_wrap=True)
    console.print(f"run folder: {result.run_dir}", soft_wrap=True)
