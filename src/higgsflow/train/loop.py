"""The training loop: seeded, resumable, memory-bounded, optionally distributed (``torchrun``), with CSV and
TensorBoard logs.

The pieces: :mod:`~higgsflow.train.batches` (jets in memory or streamed from the files), the task
(:class:`~higgsflow.train.task.Task`: the loss and the per-head metrics), :mod:`~higgsflow.train.steps` (a
step in micro-batches, a validation pass), :mod:`~higgsflow.train.checkpoint` (exact resume) and
:mod:`~higgsflow.train.runtime` (device, seeds, ``torchrun``). :func:`train` puts them together.

A run folder holds ``data_config.yaml`` (the resolved config), ``train.json`` (settings, seed, micro-batch,
versions), ``checkpoint.pt`` (model, optimiser, scheduler, scaler, RNG states, position (epoch, step) and history,
as tensors, numbers, lists and dicts only: read with ``weights_only=True``), written after every epoch, every
``checkpoint_every`` steps and on Ctrl-C; resuming from it gives bit-identical weights to an uninterrupted run),
``model.pt`` (the weights of the best validation epoch), ``log.csv`` (per epoch: losses, learning rate, the
per-head validation metrics) and, if asked, ``tensorboard/``.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from higgsflow.data.config import DataConfig
from higgsflow.data.loader import JetArrays, auto_standardize, expand_files
from higgsflow.errors import CheckpointError, ConfigError
from higgsflow.models.registry import build_model
from higgsflow.outputs import check_output
from higgsflow.train.batches import LOAD_MODES, load_mode, make_batches
from higgsflow.train.checkpoint import (
    CHECKPOINT_FORMAT,
    InterruptGuard,
    check_same_settings,
    plain,
    read_training_checkpoint,
    rng_state,
    set_rng_state,
    write_checkpoint,
)
from higgsflow.train.memory import MemoryPlan, measure_step_bytes, plan_micro_batch
from higgsflow.train.optim import make_optimizer, make_scheduler
from higgsflow.train.runtime import device_for, dist_info, init_distributed, seed_everything, versions
from higgsflow.train.steps import (
    accumulate,
    forward_batch,
    reduce_validation,
    to_device,
    validate,
    validation_metrics,
)
from higgsflow.train.task import Task

__all__ = [
    "TrainResult",
    "TrainSettings",
    "forward_batch",
    "load_run_model",
    "model_input_names",
    "read_training_checkpoint",
    "reduce_validation",
    "train",
]

log = logging.getLogger(__name__)


@dataclass
class TrainSettings:
    """Training hyper-parameters (ParT paper defaults where it has one)."""

    network: str = "part"
    network_kwargs: dict[str, Any] = field(default_factory=dict)
    epochs: int = 20
    batch_size: int = 512
    lr: float = 1e-3
    optimizer: str = "ranger"
    weight_decay: float = 0.01
    scheduler: str = "flat+decay"
    warmup_steps: int = 0
    grad_clip: float | None = None
    seed: int = 42
    num_workers: int = 0
    early_stopping_patience: int | None = None
    amp: bool = True
    device: str = "auto"
    max_train_jets: int | None = None
    max_val_jets: int | None = None
    tensorboard: bool = False
    micro_batch_size: int | None = None
    max_memory_gb: float | None = None
    checkpoint_every: int | None = 200
    load: str = "auto"
    fetch_jets: int = 100_000
    adversarial_eps: float | None = None
    adversarial_every: int = 3
    adversarial_method: str = "ngm"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if int(getattr(self, name)) <= 0:
                raise ConfigError(f"{name} must be positive", field=name, expected="an integer > 0")
        if self.lr <= 0:
            raise ConfigError("learning rate must be positive", field="lr")
        if self.load not in LOAD_MODES:
            raise ConfigError(
                f"unknown load mode {self.load!r}", field="load (--load)", expected=" or ".join(LOAD_MODES)
            )
        if self.adversarial_eps is not None:
            from higgsflow.train.adversarial import check_attack

            check_attack(self.adversarial_eps, self.adversarial_method, self.adversarial_every)
        if int(self.fetch_jets) <= 0:
            raise ConfigError("must be positive", field="fetch_jets (--fetch-jets)", expected="jets > 0")


@dataclass
class TrainResult:
    run_dir: Path
    history: list[dict[str, float]]
    best_epoch: int
    best_val_loss: float


def _mask_name(model: torch.nn.Module, config: DataConfig) -> str | None:
    """The mask input of the model's main collection (the first one it reads), or None."""
    names = list(getattr(model, "input_map", {}).values())
    if not names:
        return None
    from higgsflow.models.contract import split_name

    coll = split_name(names[0])[0]
    name = f"{coll}_mask" if coll else "mask"
    return name if name in config.inputs else None


def _probe_inputs(
    arrays: JetArrays, model: torch.nn.Module, config: DataConfig, device: torch.device, n: int = 2
) -> tuple[dict[str, torch.Tensor], int]:
    """``n`` copies of the jet with the most particles (the worst case of a step) and that multiplicity."""
    names = model_input_names(model, config)
    mask = _mask_name(model, config)
    length = max(arrays.inputs[k].shape[-1] for k in names)
    if mask is not None:
        counts = (arrays.inputs[mask][:, 0] != 0).sum(axis=1)
        i = int(counts.argmax())
        length = max(int(counts[i]), 1)
    else:
        i = 0
    return {k: torch.from_numpy(arrays.inputs[k][[i] * n]).to(device) for k in names}, length


def model_input_names(model: torch.nn.Module, config: DataConfig) -> list[str]:
    """The data-config inputs the model reads (all of them for a model that does not say)."""
    names = list(getattr(model, "input_map", {}).values())
    return names or list(config.inputs)


def plan_memory(
    model: torch.nn.Module,
    config: DataConfig,
    arrays: JetArrays,
    settings: TrainSettings,
    device: torch.device,
    local_batch: int,
    *,
    amp: bool = False,
) -> MemoryPlan:
    """Measure the memory of a training step of ``model`` on the longest jets of ``arrays`` and choose the
    micro-batch (:func:`higgsflow.train.memory.plan_micro_batch`)."""
    n_probe = 2
    inputs, length = _probe_inputs(arrays, model, config, device, n_probe)
    names = list(inputs)
    saved = measure_step_bytes(
        model, lambda m, xs: m(dict(zip(names, xs, strict=True))), list(inputs.values()), amp=amp
    )
    return plan_micro_batch(
        saved / n_probe,
        local_batch,
        length=length,
        device=device,
        micro_batch=settings.micro_batch_size,
        max_memory_gb=settings.max_memory_gb,
        network=settings.network,
    )


def train(
    data_config: DataConfig | str | os.PathLike[str],
    train_files: Sequence[str | os.PathLike[str]],
    val_files: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    settings: TrainSettings | None = None,
    *,
    overwrite: bool = False,
    resume: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
    train_arrays: JetArrays | None = None,
    val_arrays: JetArrays | None = None,
) -> TrainResult:
    """Train ``settings.network`` on ``train_files`` (validation on ``val_files``) into the run folder ``out``.

    ``resume`` continues from ``out/checkpoint.pt`` exactly; an existing run folder is otherwise refused unless
    ``overwrite``. The jets are held in memory or streamed from the files a window of ``fetch_jets`` at a time
    (``settings.load``: ``auto`` streams a set of files holding more rows than that). Under ``torchrun``
    (``WORLD_SIZE`` > 1) the model is wrapped in DistributedDataParallel and each process sees its share of
    every batch (``batch_size`` is the global batch). ``progress`` is called with a dict after every step
    (``{"epoch", "step", "steps", "loss"}``) and epoch (``{"epoch", ...metrics}``). ``train_arrays`` /
    ``val_arrays`` give the jets directly (in memory) instead of reading files.
    """
    s = settings or TrainSettings()
    out = Path(out)
    if s.checkpoint_every is not None and s.checkpoint_every <= 0:
        raise ConfigError(
            "must be positive", field="checkpoint_every (--checkpoint-every)", expected="steps > 0"
        )
    ckpt_path = out / "checkpoint.pt"
    # refuse an unusable run folder (exists, is a file, cannot be written) before reading or training anything
    if resume:
        if not ckpt_path.is_file():
            raise CheckpointError("nothing to resume: no checkpoint.pt", file=out)
        check_output(ckpt_path, overwrite=True, what="checkpoint")
    else:
        check_output(out, folder=True, overwrite=overwrite, what="run")
    cfg = data_config if isinstance(data_config, DataConfig) else DataConfig.load(data_config)
    with torch.random.fork_rng(
        devices=[]
    ):  # the network fits the config's inputs and heads: fail before reading
        build_model(s.network, cfg, **s.network_kwargs)
    if train_arrays is None:
        train_files = expand_files(train_files, field="--train")
    if val_arrays is None:
        val_files = expand_files(val_files, field="--val")
    device = device_for(s.device)
    ck = read_training_checkpoint(ckpt_path, device) if resume else None
    if ck is not None:
        check_same_settings(asdict(s), ck["settings"], ckpt_path)
    started_dist = init_distributed(device)
    rank, world = dist_info()
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    if resume:
        cfg = DataConfig.load(out / "data_config.yaml")
    elif cfg.needs_auto_standardization:
        cfg = auto_standardize(cfg, train_files, save=cfg.source is not None and rank == 0)
    if s.batch_size % world:
        raise ConfigError("batch_size must be divisible by the number of processes", field="batch_size")

    seed_everything(s.seed)
    task = Task(cfg)
    model = build_model(s.network, cfg, **s.network_kwargs).to(device)
    names = model_input_names(model, cfg)
    modes = (ck or {}).get("load_modes") or [
        "memory" if train_arrays is not None else load_mode(s.load, train_files, cfg, s.fetch_jets),
        "memory" if val_arrays is not None else load_mode(s.load, val_files, cfg, s.fetch_jets),
    ]
    common = {"rank": rank, "world": world, "fetch_jets": s.fetch_jets}
    train_data = make_batches(
        train_files, cfg, names, mode=modes[0], batch_size=s.batch_size, shuffle=True, seed=s.seed,
        max_jets=s.max_train_jets, num_workers=s.num_workers, arrays=train_arrays, **common,
    )  # fmt: skip
    if train_data.mode == "stream":
        log.info(
            "streaming %d training jets from the files, %d at a time (--fetch-jets)",
            train_data.n_jets,
            s.fetch_jets,
        )
    if world > 1 and device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    use_amp = s.amp and device.type == "cuda"
    micro = _micro_batch(ck, model, cfg, train_data, s, device, s.batch_size // world, use_amp, world)
    val_bs = max(4 * micro, 64) * world  # validation keeps no activations: a few micro-batches at once fit
    val_data = make_batches(
        val_files, cfg, names, mode=modes[1], batch_size=val_bs, shuffle=False, seed=0,
        max_jets=s.max_val_jets, arrays=val_arrays, **common,
    )  # fmt: skip
    adversary = _adversary(s, train_data, names, out, resume)
    # the run folder is made only now: a run that stops while loading or planning (a bad file, a setting that
    # cannot fit) leaves nothing behind
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    if world > 1:
        torch.distributed.barrier()
    if rank == 0 and not resume:
        cfg.dump(out / "data_config.yaml")
        meta = {
            "settings": asdict(s),
            "train_files": [os.fspath(f) for f in train_files],
            "val_files": [os.fspath(f) for f in val_files],
            "n_train": train_data.n_jets,
            "n_val": val_data.n_jets,
            "load": modes,
            "label_names": cfg.label_names,
            "world_size": world,
            "micro_batch_size": micro,
            "versions": versions(),
        }
        (out / "train.json").write_text(json.dumps(meta, indent=2, default=str))
    if adversary is not None and rank == 0 and not resume:
        adversary.to_json(out / "adversarial.json")
    trainer = _Trainer(s, model, task, train_data, val_data, out, device, micro, use_amp, rank, world, modes)
    trainer.adversary = adversary
    try:
        if ck is not None:
            trainer.restore(ck, ckpt_path)
        trainer.run(progress)
    finally:
        trainer.close()
        train_data.close()
        val_data.close()
    if world > 1:
        torch.distributed.barrier()
    if started_dist:
        torch.distributed.destroy_process_group()
    return TrainResult(out, trainer.history, int(trainer.best["epoch"]), float(trainer.best["loss"]))


def _adversary(s: TrainSettings, data, names, out: Path, resume: bool):
    """The attack of adversarial training (``--adversarial-eps``), its feature spreads measured on the training
    jets (stored in ``adversarial.json``; a resumed run reads them back), or None."""
    if not s.adversarial_eps:
        return None
    from higgsflow.train.adversarial import Adversary, feature_spreads

    path = out / "adversarial.json"
    if resume and path.is_file():
        adv = Adversary.from_json(path)
    else:
        spreads = feature_spreads(data.sample(), names)
        adv = Adversary(s.adversarial_eps, spreads, s.adversarial_method, s.adversarial_every)
    log.info(
        "adversarial training: every %d-th step, %s attack of size %g", adv.every, adv.method, adv.epsilon
    )
    return adv


def _micro_batch(
    ck, model, cfg, data, s: TrainSettings, device, local_bs: int, use_amp: bool, world: int
) -> int:
    """The micro-batch of a step: the resumed run's, or planned from the memory a step needs."""
    if ck is not None and ck.get("micro_batch_size"):
        return int(ck["micro_batch_size"])  # the resumed run continues with the same micro-batches
    plan = plan_memory(model, cfg, data.sample(), s, device, local_bs, amp=use_amp)
    micro = plan.micro_batch
    if world > 1:  # the same micro-batch on every process (free memory differs a little between them)
        t = torch.tensor([micro], device=device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MIN)
        micro = int(t)
    if micro < local_bs:
        log.info(
            "a step of %d jets of up to %d particles needs about %.1f GB: gradients are accumulated over "
            "micro-batches of %d jets (budget %.1f GB, --max-memory-gb)",
            local_bs,
            plan.length,
            plan.estimate(local_bs) / 2**30,
            micro,
            (plan.budget or 0) / 2**30,
        )
    return micro


class _Trainer:
    """The state of a run (model, optimiser, scheduler, scaler, position, history) and its epochs."""

    def __init__(self, s, model, task, train_data, val_data, out, device, micro, use_amp, rank, world, modes):
        self.s, self.model, self.task = s, model, task
        self.train_data, self.val_data = train_data, val_data
        self.out, self.device, self.micro, self.use_amp = out, device, micro, use_amp
        self.rank, self.world, self.modes = rank, world, modes
        self.ckpt_path = out / "checkpoint.pt"
        self.opt = make_optimizer(s.optimizer, model, lr=s.lr, weight_decay=s.weight_decay)
        self.steps = len(train_data)
        self.sched = make_scheduler(
            self.opt, s.scheduler, total_steps=s.epochs * self.steps, warmup_steps=s.warmup_steps
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
        self.net = model
        if world > 1:
            self.net = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None
            )
        self.start_epoch, self.start_step = 0, 0
        self.history: list[dict[str, float]] = []
        self.best: dict[str, Any] = {"loss": float("inf"), "epoch": -1}
        self.bad_epochs = 0
        self.sums = [0.0, 0]  # training loss sum and jets of the epoch in progress
        self.resume_rng: Any = None
        self.adversary: Any = None
        self.writer = None
        if s.tensorboard and rank == 0:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(log_dir=os.fspath(out / "tensorboard"))
            except ImportError:
                log.warning("tensorboard is not installed; no TensorBoard log")

    def restore(self, ck: dict[str, Any], path: Path) -> None:
        try:
            self.model.load_state_dict(ck["model"])
            self.opt.load_state_dict(ck["optimizer"])
            self.sched.load_state_dict(ck["scheduler"])
            self.scaler.load_state_dict(ck["scaler"])
        except (RuntimeError, KeyError, ValueError) as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise CheckpointError(f"checkpoint does not fit this run: {msg}", file=path) from None
        self.start_epoch, self.start_step = int(ck["epoch"]), int(ck["step"])
        self.history, self.best = list(ck["history"]), dict(ck["best"])
        self.bad_epochs = int(ck["bad_epochs"])
        self.sums = [float(ck["train_sums"][0]), int(ck["train_sums"][1])]
        rngs = ck["rng"]
        self.resume_rng = rngs[self.rank] if self.rank < len(rngs) else rngs[0]
        if self.start_step > self.steps:
            raise CheckpointError(
                f"checkpoint is at step {self.start_step} of epoch {self.start_epoch + 1}, but an epoch has "
                f"{self.steps} steps with these files and settings",
                file=path,
            )
        log.info("resuming %s at epoch %d, step %d", self.out, self.start_epoch + 1, self.start_step)
        if self.start_step == 0:
            set_rng_state(self.resume_rng)

    def save(self, epoch: int, step: int, rng: Any = None, *, gather: bool = True) -> None:
        """Write checkpoint.pt for the position "``step`` steps of ``epoch`` done" (atomically)."""
        rng = rng_state() if rng is None else rng
        rngs = [rng] * self.world
        if self.world > 1 and gather:
            rngs = [None] * self.world
            torch.distributed.all_gather_object(rngs, rng)
        if self.rank != 0:
            return
        state = {
            "format": CHECKPOINT_FORMAT,
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": epoch,
            "step": step,
            "train_sums": [float(self.sums[0]), int(self.sums[1])],
            "history": self.history,
            "best": self.best,
            "bad_epochs": self.bad_epochs,
            "rng": rngs,
            "settings": plain(asdict(self.s)),
            "micro_batch_size": self.micro,
            "load_modes": list(self.modes),
        }
        write_checkpoint(state, self.ckpt_path)

    def run(self, progress) -> None:
        s = self.s
        guard = InterruptGuard()
        self.pos: tuple[int, int] = (self.start_epoch, self.start_step)  # where the model and optimiser are
        self.pos_rng: Any = None  # RNG state at pos when it was taken earlier (None: the current one)
        self.global_step = self.start_epoch * self.steps + self.start_step
        try:
            with guard:
                for epoch in range(self.start_epoch, s.epochs):
                    if s.early_stopping_patience is not None and self.bad_epochs >= s.early_stopping_patience:
                        log.info("early stopping after epoch %d", epoch)
                        break
                    t0 = time.perf_counter()
                    self._train_epoch(epoch, guard, progress)
                    self._end_epoch(epoch, t0, progress)
        except KeyboardInterrupt:
            if guard.in_step:
                log.warning("stopped during a training step: %s is from the last save", self.ckpt_path)
            else:
                self.save(*self.pos, rng=self.pos_rng, gather=False)
                if self.rank == 0:
                    e, k = self.pos
                    where = (
                        f"epoch {e + 1}, step {k} of {self.steps}" if k else f"after epoch {e} of {s.epochs}"
                    )
                    log.warning("interrupted: saved %s (%s); continue with --resume", self.ckpt_path, where)
            raise

    def _train_epoch(self, epoch: int, guard: InterruptGuard, progress) -> None:
        s = self.s
        self.net.train()
        resuming = epoch == self.start_epoch and self.start_step
        if not resuming:
            self.pos_rng = rng_state()  # creating the batch iterator may draw from the RNG
            self.sums = [0.0, 0]
        first = self.start_step if resuming else 0
        # a mid-epoch resume: the epoch's batches come in the same (seeded) order from the step reached on; the
        # random state is restored only then (creating the iterator draws from it)
        batches = self.train_data.epoch(epoch, first)
        if resuming:
            set_rng_state(self.resume_rng)
        for step in range(first, self.steps):
            batch = next(batches)
            guard.in_step = True
            batch = to_device(batch, self.device, non_blocking=True)
            nb = len(batch["weight"])
            self.opt.zero_grad(set_to_none=True)
            adv = (
                self.adversary
                if self.adversary is not None and self.adversary.active(self.global_step)
                else None
            )
            loss = accumulate(
                self.net, self.task, batch, self.micro, self.scaler, self.device, self.use_amp,
                ddp=self.world > 1, adversary=adv, model=self.model,
            )  # fmt: skip
            if s.grad_clip:
                self.scaler.unscale_(self.opt.base if hasattr(self.opt, "base") else self.opt)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), s.grad_clip)
            self.scaler.step(self.opt)
            self.scaler.update()
            self.sched.step()
            loss_value = float(loss)
            self.sums[0] += loss_value * nb
            self.sums[1] += nb
            self.pos, self.pos_rng, self.global_step = (epoch, step + 1), None, self.global_step + 1
            guard.in_step = False
            if progress is not None and self.rank == 0:
                progress({"epoch": epoch, "step": step + 1, "steps": self.steps, "loss": loss_value})
            if guard.pending:
                raise KeyboardInterrupt
            if s.checkpoint_every and self.global_step % s.checkpoint_every == 0 and step + 1 < self.steps:
                self.save(epoch, step + 1)

    def _end_epoch(self, epoch: int, t0: float, progress) -> None:
        self.pos_rng = rng_state()  # validation draws from the RNG: an interrupt there saves this state
        train_loss = self.sums[0] / max(self.sums[1], 1)
        if self.world > 1:
            t = torch.tensor(self.sums, dtype=torch.float64, device=self.device)
            torch.distributed.all_reduce(t)
            train_loss = float(t[0] / t[1])
        metrics = {"epoch": epoch, "train_loss": train_loss, "lr": self.sched.get_last_lr()[0]}
        sums = validate(self.model, self.task, self.val_data.epoch(0), self.device)
        metrics.update(reduce_validation(sums, self.device))
        metrics.update(validation_metrics(self.task, sums))
        metrics["time_s"] = time.perf_counter() - t0
        self.history.append(metrics)
        improved = metrics["val_loss"] < self.best["loss"]
        if improved:
            self.best = {"loss": metrics["val_loss"], "epoch": epoch}
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        self.sums = [0.0, 0]
        self.pos, self.pos_rng = (epoch + 1, 0), None
        if self.rank == 0 and improved:
            torch.save(self.model.state_dict(), self.out / "model.pt")
        self.save(epoch + 1, 0)
        if self.rank == 0:
            _write_csv(self.out / "log.csv", self.history)
            if self.writer is not None:
                for k, v in metrics.items():
                    if k != "epoch":
                        self.writer.add_scalar(k, v, epoch)
            log.info("epoch %d: %s", epoch + 1, {k: round(v, 5) for k, v in metrics.items()})
        if progress is not None and self.rank == 0:
            progress(dict(metrics))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _write_csv(path: Path, history: list[dict[str, float]]) -> None:
    keys = list(history[0])
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(history)


def load_run_model(run: str | os.PathLike[str], *, weights: str = "model.pt"):
    """The data config and the trained model (eval mode) of a run folder."""
    run = Path(run)
    meta_path = run / "train.json"
    if not meta_path.is_file():
        raise CheckpointError("not a run folder (no train.json)", file=run)
    meta = json.loads(meta_path.read_text())
    cfg = DataConfig.load(run / "data_config.yaml")
    st = meta["settings"]
    model = build_model(st["network"], cfg, **st.get("network_kwargs", {}))
    path = run / weights
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError("weights not found", file=path) from None
    except Exception as exc:
        raise CheckpointError(f"cannot read weights: {exc}", file=path) from None
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"weights do not fit the network: {exc}", file=path) from None
    return cfg, model.eval()
