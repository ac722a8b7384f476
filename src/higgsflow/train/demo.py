"""The end-to-end demo: generate a small JetClass-like sample, train a small ParT, evaluate it.

It is what the README runs first; on 2 CPU cores it finishes in a few minutes. The jets of every class are split
60/20/20 into training, validation and test sets class by class, so that each set holds the same number of jets of
every class; the evaluation gives every figure with its statistical interval (:mod:`higgsflow.evaluate.metrics`).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from higgsflow.data.config import DataConfig
from higgsflow.data.io import read_table, write_table
from higgsflow.errors import ConfigError, DataError

__all__ = [
    "DEMO_CLASSES",
    "DemoProgress",
    "DemoResult",
    "RichDemoProgress",
    "balanced_split",
    "demo_data_config",
    "demo_reporter",
    "prepare_demo_folder",
    "run_demo",
    "write_splits",
]

log = logging.getLogger(__name__)

DEMO_CLASSES = ("QCD", "Hbb", "Hcc", "Tbqq", "Wqq")
_MARKER = ".higgsflow-demo"
DEMO_PART = {
    "embed_dims": [64, 128, 64],
    "pair_embed_dims": [32, 32],
    "num_heads": 4,
    "num_layers": 3,
    "num_cls_layers": 1,
}


def demo_data_config(classes=DEMO_CLASSES, length: int = 64) -> DataConfig:
    """The JetClass_full inputs (17 particle features, four-vectors, mask) padded to ``length``."""
    return DataConfig.from_dict(
        {
            "new_variables": {
                "part_mask": "ak.ones_like(part_energy)",
                "part_pt": "np.hypot(part_px, part_py)",
                "part_pt_log": "np.log(part_pt)",
                "part_e_log": "np.log(part_energy)",
                "part_logptrel": "np.log(part_pt/jet_pt)",
                "part_logerel": "np.log(part_energy/jet_energy)",
                "part_deltaR": "np.hypot(part_deta, part_dphi)",
                "part_d0": "np.tanh(part_d0val)",
                "part_dz": "np.tanh(part_dzval)",
            },
            "preprocess": {"method": "manual", "data_fraction": 0.5},
            "inputs": {
                "pf_points": {
                    "length": length,
                    "pad_mode": "wrap",
                    "vars": [["part_deta", None], ["part_dphi", None]],
                },
                "pf_features": {
                    "length": length,
                    "pad_mode": "wrap",
                    "vars": [
                        ["part_pt_log", 1.7, 0.7],
                        ["part_e_log", 2.0, 0.7],
                        ["part_logptrel", -4.7, 0.7],
                        ["part_logerel", -4.7, 0.7],
                        ["part_deltaR", 0.2, 4.0],
                        ["part_charge", None],
                        ["part_isChargedHadron", None],
                        ["part_isNeutralHadron", None],
                        ["part_isPhoton", None],
                        ["part_isElectron", None],
                        ["part_isMuon", None],
                        ["part_d0", None],
                        ["part_d0err", 0, 1, 0, 1],
                        ["part_dz", None],
                        ["part_dzerr", 0, 1, 0, 1],
                        ["part_deta", None],
                        ["part_dphi", None],
                    ],
                },
                "pf_vectors": {
                    "length": length,
                    "pad_mode": "wrap",
                    "vars": [["part_px", None], ["part_py", None], ["part_pz", None], ["part_energy", None]],
                },
                "pf_mask": {"length": length, "pad_mode": "constant", "vars": [["part_mask", None]]},
            },
            "labels": {"type": "simple", "value": [f"label_{c}" for c in classes]},
            "observers": ["jet_pt", "jet_eta", "jet_sdmass"],
        }
    )


@dataclass
class DemoResult:
    run_dir: Path
    metrics: Any
    plots: dict[str, Path]
    n_test: int
    #: jets per class in each split
    split_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    epochs: int = 0


class DemoProgress:
    """What :func:`run_demo` reports as it goes; this base class logs the stages and ignores the rest.

    ``stage`` starts a stage (``"generate"``, ``"train"``, ``"evaluate"``) with a sentence saying what it does
    and, where known, its size (jets to generate; epochs to train). ``jets(n)`` says n more jets are made;
    ``training(info)`` passes on the training loop's reports (per step: epoch, step, steps, loss; per epoch:
    epoch, train_loss, val_loss, val_acc). ``finish()`` ends the last stage.
    """

    def stage(self, name: str, message: str, total: int | None = None) -> None:
        log.info(message)

    def jets(self, n: int) -> None:
        pass

    def training(self, info: dict[str, Any]) -> None:
        pass

    def finish(self) -> None:
        pass


class _Messages(DemoProgress):
    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say

    def stage(self, name: str, message: str, total: int | None = None) -> None:
        self.say(message)


def demo_reporter(progress: DemoProgress | Callable[[str], None] | None) -> DemoProgress:
    """The demos' progress argument as a :class:`DemoProgress`: itself, a wrapper of a function called with one
    sentence per stage, or the base class (log lines only) for None."""
    if progress is None:
        return DemoProgress()
    if isinstance(progress, DemoProgress):
        return progress
    return _Messages(progress)


def balanced_split(
    labels: np.ndarray, fractions: tuple[float, ...] = (0.6, 0.2, 0.2), *, seed: int = 1
) -> list[np.ndarray]:
    """Split jets class by class: every set but the first gets ``round(fraction × n_min)`` jets of *each*
    class (n_min: the smallest class), the first set the rest. Returns sorted index arrays, one per fraction.

    With equal classes (as the demo generates them) every set is balanced; the evaluation then rests on as many
    background jets as signal jets of each class.
    """
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if len(classes) == 0:
        return [np.zeros(0, dtype=np.int64) for _ in fractions]
    n_min = min(int((labels == c).sum()) for c in classes)
    sizes = [round(f * n_min) for f in fractions[1:]]
    if min(sizes, default=1) < 1 or sum(sizes) >= n_min:
        raise DataError(
            f"too few jets to split: {n_min} in the smallest class",
            field="jets_per_class",
            expected="enough jets per class for at least one of each class in every set (10 or more)",
        )
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for c in classes:
        idx = rng.permutation(np.flatnonzero(labels == c))
        start = 0
        for j, n in enumerate(sizes, start=1):
            parts[j].append(idx[start : start + n])
            start += n
        parts[0].append(idx[start:])
    return [np.sort(np.concatenate(p)) for p in parts]


def _generate(
    classes,
    jets_per_class: int,
    path: Path,
    *,
    seed: int,
    workers: int,
    toy: bool,
    progress: Callable[[int], None] | None = None,
    jet_type: str = "ak8",
) -> list[Path]:
    if toy:
        from higgsflow.data.toy import write_toy_jets

        out = write_toy_jets(path, list(classes), jets_per_class, seed=seed)
        if progress is not None:
            progress(jets_per_class * len(classes))
        return [out]
    try:
        from higgsflow.generate import generate_jets
    except ImportError as exc:
        raise ConfigError(
            f"the jet generator is not available ({exc})",
            field="higgsflow.generate",
            expected="higgsflow installed with the [gen] extra (pythia8mc, fastjet), or `demo --toy`",
        ) from None
    # n_jets is per class; the generator returns the one file it wrote
    return [
        Path(
            generate_jets(
                list(classes),
                jets_per_class,
                path,
                seed=seed,
                workers=workers,
                progress=progress,
                jet_type=jet_type,
            )
        )
    ]


def write_splits(
    table, classes, out: Path, *, seed: int, sqrt_s: float | None
) -> tuple[dict[str, Path], dict[str, dict[str, int]]]:
    """Split the jets of ``table`` 60/20/20 class by class (:func:`balanced_split`) into ``out/train.parquet``,
    ``val.parquet``, ``test.parquet``; returns the paths and the jets per class of each split (``"_n"``: the
    number of jets of each split)."""
    labels = np.stack([np.asarray(table[f"label_{c}"]) for c in classes], axis=1).argmax(axis=1)
    idx_train, idx_val, idx_test = balanced_split(labels, (0.6, 0.2, 0.2), seed=seed)
    splits = {"train": idx_train, "val": idx_val, "test": idx_test}
    counts: dict[str, dict[str, int]] = {
        name: {c: int((labels[idx] == k).sum()) for k, c in enumerate(classes)}
        for name, idx in splits.items()
    }
    counts["_n"] = {name: len(idx) for name, idx in splits.items()}
    paths = {}
    for name, idx in splits.items():
        part = table[idx]
        paths[name] = write_table(
            out / f"{name}.parquet",
            {k: part[k] for k in part.fields},
            metadata={"demo_split": name, "sqrt_s_tev": sqrt_s},
        )
    return paths, counts


def prepare_demo_folder(out: str | os.PathLike[str], *, overwrite: bool) -> Path:
    """Make the demo's output folder; an existing non-empty one is replaced only with ``overwrite`` and only if
    an earlier demo made it (its marker file), never an arbitrary folder."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise DataError("demo folder exists", file=out, expected="a new --out folder or --overwrite")
        if not (out / _MARKER).is_file():
            raise DataError(
                "folder is not empty and was not made by higgsflow demo; refusing to delete it",
                file=out,
                expected="a new or empty --out folder",
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / _MARKER).write_text(
        "made by higgsflow demo; `higgsflow demo --overwrite` may delete this folder\n"
    )
    return out


def run_demo(
    out: str | os.PathLike[str],
    *,
    jets_per_class: int = 300,
    epochs: int = 6,
    seed: int = 1,
    workers: int = 1,
    toy: bool = False,
    overwrite: bool = False,
    progress: DemoProgress | Callable[[str], None] | None = None,
    network_kwargs: dict[str, Any] | None = None,
) -> DemoResult:
    """Generate ``jets_per_class`` jets of each of :data:`DEMO_CLASSES`, split them 60/20/20 class by class
    (:func:`balanced_split`), train a small ParT for ``epochs`` epochs, evaluate on the test set
    (``out/run/eval``).

    ``progress`` is a :class:`DemoProgress` (or a function called with one sentence per stage);
    ``network_kwargs`` replaces the small ParT's settings (:data:`DEMO_PART`).
    """
    from higgsflow.evaluate.plots import sqrt_s_of
    from higgsflow.train.inference import evaluate_run
    from higgsflow.train.loop import TrainSettings, train

    report = demo_reporter(progress)
    out = prepare_demo_folder(out, overwrite=overwrite)
    n_classes = len(DEMO_CLASSES)
    report.stage(
        "generate",
        f"generating {jets_per_class} jets for each of {', '.join(DEMO_CLASSES)}",
        total=jets_per_class * n_classes,
    )
    files = _generate(
        DEMO_CLASSES,
        jets_per_class,
        out / "jets.parquet",
        seed=seed,
        workers=workers,
        toy=toy,
        progress=report.jets,
    )
    table = read_table(files[0])
    for f in files[1:]:
        import awkward as ak

        table = ak.concatenate([table, read_table(f)])
    com = sqrt_s_of(files)
    paths, counts = write_splits(table, DEMO_CLASSES, out, seed=seed, sqrt_s=com)
    n_train, n_test = counts["_n"]["train"], counts["_n"]["test"]
    cfg = demo_data_config()
    cfg.dump(out / "data_config.yaml")
    cfg = DataConfig.load(out / "data_config.yaml")
    report.stage(
        "train",
        f"training a small ParT on {n_train} jets for {epochs} epoch{'s' if epochs != 1 else ''}",
        total=epochs,
    )
    settings = TrainSettings(
        network="part",
        network_kwargs=DEMO_PART if network_kwargs is None else network_kwargs,
        epochs=epochs,
        batch_size=64,
        lr=2e-3,
        optimizer="ranger",
        scheduler="flat+decay",
        seed=seed,
    )
    run = train(cfg, [paths["train"]], [paths["val"]], out / "run", settings, progress=report.training)
    report.stage("evaluate", f"evaluating on the {n_test} test jets")
    ev = evaluate_run(run.run_dir, [paths["test"]])
    report.finish()
    counts.pop("_n")
    return DemoResult(run.run_dir, ev.metrics, ev.plots, n_test, counts, epochs)


class RichDemoProgress(DemoProgress):
    """Progress bars on a rich console, one per stage: jets made (count and time left) while generating,
    steps and the running loss (count and time left) while training with one line per epoch (training and
    validation loss, validation accuracy), a spinner while evaluating."""

    def __init__(self, console) -> None:
        self.console = console
        self._bar = None
        self._task = None
        self._epochs = 0
        self._steps = 0

    def _stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
        self._bar, self._task = None, None

    def stage(self, name: str, message: str, total: int | None = None) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._stop()
        self.console.print(f"[bold]›[/bold] {message}")
        if name == "train":
            self._epochs = int(total or 0)
        if not self.console.is_terminal:  # a log file gets the lines, not the bars
            return
        if name == "generate":
            self._bar = Progress(
                TextColumn("[bold]generating jets"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("time left"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._task = self._bar.add_task("jets", total=total)
        elif name == "train":
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TextColumn("time left"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._task = self._bar.add_task("training", total=None, info="")
        else:
            self._bar = Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.description}"),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self._task = self._bar.add_task(message, total=None)
        self._bar.start()

    def jets(self, n: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def training(self, info: dict[str, Any]) -> None:
        if "steps" in info:  # one optimiser step: the bar counts steps over all epochs
            if self._bar is None:
                return
            self._steps = int(info["steps"])
            done = int(info["epoch"]) * self._steps + int(info["step"])
            self._bar.update(
                self._task,
                total=self._steps * max(self._epochs, 1),
                completed=done,
                description=f"epoch {int(info['epoch']) + 1}/{self._epochs}",
                info=f"loss {info['loss']:.4f}",
            )
        else:  # end of an epoch
            self.console.print(
                f"epoch {int(info['epoch']) + 1}/{self._epochs}: train loss {info['train_loss']:.4f}"
                f"  val loss {info['val_loss']:.4f}  val accuracy {info['val_acc']:.3f}"
            )

    def finish(self) -> None:
        self._stop()
