"""The training loop: seeded, resumable, memory-bounded, optionally distributed (``torchrun``), with CSV and
TensorBoard logs.

A run folder holds ``data_config.yaml`` (the resolved config), ``train.json`` (settings, seed, micro-batch,
versions), ``checkpoint.pt`` (model, optimiser, scheduler, scaler, RNG states, position (epoch, step) and history,
as tensors, numbers, lists and dicts only: read with ``weights_only=True``), written after every epoch, every
``checkpoint_every`` steps and on Ctrl-C; resuming from it gives bit-identical weights to an uninterrupted run),
``model.pt`` (the weights of the best validation epoch), ``log.csv`` and, if asked, ``tensorboard/``.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import pickle
import platform
import random
import signal
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from higgsflow._version import __version__
from higgsflow.data.config import DataConfig
from higgsflow.data.loader import JetArrays, auto_standardize, expand_files, load_arrays, make_dataloader
from higgsflow.errors import CheckpointError, ConfigError, DataError
from higgsflow.models.registry import build_model
from higgsflow.outputs import check_output
from higgsflow.train.memory import MemoryPlan, measure_step_bytes, plan_micro_batch
from higgsflow.train.optim import make_optimizer, make_scheduler
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

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if int(getattr(self, name)) <= 0:
                raise ConfigError(f"{name} must be positive", field=name, expected="an integer > 0")
        if self.lr <= 0:
            raise ConfigError("learning rate must be positive", field="lr")


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


def forward_batch(model: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The model's heads for a batch of named inputs."""
    return model(inputs)


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


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (global state is saved for exact resume)
    torch.manual_seed(seed)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _dist_info() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _maybe_init_distributed(device: torch.device) -> bool:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return True
    return False


def _versions() -> dict[str, str]:
    return {"higgsflow": __version__, "torch": torch.__version__, "python": platform.python_version()}


def _rng_state() -> dict[str, Any]:
    """The random states of torch, NumPy and Python as tensors, numbers and lists (``torch.load(...,
    weights_only=True)`` reads them)."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()  # noqa: NPY002
    version, internal, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(gauss),
        },
        "python": {"version": int(version), "state": list(internal), "gauss": py_gauss},
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else None,
    }


def _set_rng_state(s: dict[str, Any]) -> None:
    torch.set_rng_state(s["torch"].cpu())
    n = s["numpy"]
    np.random.set_state(  # noqa: NPY002
        ("MT19937", n["keys"].cpu().numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    p = s["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if s.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([t.cpu() for t in s["cuda"]])


#: layout of checkpoint.pt: 2 = position (epoch, step), states as tensors/numbers/lists/dicts only
CHECKPOINT_FORMAT = 2
_CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "scaler", "epoch", "step", "history", "best", "rng")
#: settings that must match the run being resumed (the others, e.g. workers or device, may change)
_RESUME_SAME = (
    "network",
    "network_kwargs",
    "epochs",
    "batch_size",
    "lr",
    "optimizer",
    "weight_decay",
    "scheduler",
    "warmup_steps",
    "grad_clip",
    "seed",
    "max_train_jets",
)


def _plain(x: Any) -> Any:
    """``x`` with containers as lists/dicts and anything unusual as a string (weights_only-safe)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    return str(x)


def read_training_checkpoint(
    path: str | os.PathLike[str], device: torch.device | str = "cpu"
) -> dict[str, Any]:
    """Read a resume checkpoint without unpickling code (``weights_only=True``); refuse one that holds other
    objects, or lacks the keys of a higgsflow training checkpoint, with :class:`CheckpointError`."""
    try:
        ck = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            "refused: the file holds pickled objects other than tensors, numbers, strings, lists and dicts "
            "(loading it could run code)",
            file=path,
        ) from None
    except FileNotFoundError:
        raise CheckpointError("checkpoint not found", file=path) from None
    except Exception as exc:
        msg = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"cannot read checkpoint: {msg}", file=path) from None
    missing = [k for k in _CHECKPOINT_KEYS if not isinstance(ck, dict) or k not in ck]
    if missing:
        raise CheckpointError(
            "not a resumable training checkpoint",
            file=path,
            field=", ".join(missing[:3]),
            expected="a checkpoint.pt written by this version of higgsflow train",
        )
    return ck


def _check_same_settings(s: TrainSettings, saved: dict[str, Any], path: Path) -> None:
    now = _plain(asdict(s))
    for k in _RESUME_SAME:
        if k in saved and now.get(k) != saved[k]:
            raise ConfigError(
                f"{now.get(k)!r} differs from the run being resumed ({saved[k]!r})",
                file=path,
                field=k,
                expected="the settings of the interrupted run",
            )


class _InterruptGuard:
    """Ctrl-C (SIGINT) during a training step is held until the step is done, so that the checkpoint saved on
    interrupt is at a step boundary; a second Ctrl-C, or one outside a step, interrupts at once. Only in the
    main thread, and not where SIGINT is ignored (background jobs)."""

    def __init__(self) -> None:
        self.pending = False
        self.in_step = False
        self._old: Any = None

    def __enter__(self) -> _InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            old = signal.getsignal(signal.SIGINT)
            if old is not signal.SIG_IGN:
                self._old = old
                signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
            self._old = None

    def _handler(self, signum: int, frame: Any) -> None:
        if self.in_step and not self.pending:
            self.pending = True
            log.warning(
                "interrupt: finishing this training step to save a checkpoint (Ctrl-C again stops at once)"
            )
            return
        raise KeyboardInterrupt


def _to(batch: dict[str, Any], device: torch.device, non_blocking: bool = False) -> dict[str, Any]:
    """The batch (tensors and dicts of tensors) on ``device``."""
    return {
        k: {n: t.to(device, non_blocking=non_blocking) for n, t in v.items()}
        if isinstance(v, dict)
        else v.to(device, non_blocking=non_blocking)
        for k, v in batch.items()
    }


def _slice(batch: dict[str, Any], sl: slice) -> dict[str, Any]:
    return {k: {n: t[sl] for n, t in v.items()} if isinstance(v, dict) else v[sl] for k, v in batch.items()}


def _accumulate(net, task: Task, batch, micro, scaler, device, use_amp, *, ddp=False) -> torch.Tensor:
    """Forward and backward of one batch in micro-batches of ``micro`` jets; the gradient is that of the batch
    loss (mean over its jets), which is returned (detached)."""
    nb = len(batch["weight"])
    starts = range(0, nb, micro)
    total = torch.zeros((), device=device)
    for k, a in enumerate(starts):
        sl = slice(a, a + micro)
        part_batch = _slice(batch, sl) if len(starts) > 1 else batch
        sync = not ddp or k == len(starts) - 1
        with nullcontext() if sync else net.no_sync():
            with torch.autocast(device.type, enabled=use_amp):
                heads = forward_batch(net, part_batch["inputs"])
            part = task.loss(heads, part_batch)
            if len(starts) > 1:
                part = part * (len(part_batch["weight"]) / nb)
            scaler.scale(part).backward()
        total += part.detach()
    return total


@torch.no_grad()
def _validate(model, task: Task, loader, device) -> dict[str, float]:
    """Sums over the jets of ``loader``: loss × jets, correct predictions, jets (see :func:`reduce_validation`)."""
    model.eval()
    tot_loss = correct = n = 0.0
    for batch in loader:
        batch = _to(batch, device)
        heads = forward_batch(model, batch["inputs"])
        nb = len(batch["weight"])
        tot_loss += float(task.loss(heads, batch)) * nb
        n += nb
        if task.has_classes and "logits" in heads:
            correct += float((heads["logits"].argmax(1) == batch["label"]).sum())
    return {"loss_sum": tot_loss, "correct": correct, "n": n, "has_acc": float(task.has_classes)}


def reduce_validation(sums: dict[str, float], device: torch.device | str = "cpu") -> dict[str, float]:
    """Validation metrics from the sums of :func:`_validate`, added over all processes first under
    ``torchrun``: every process then sees the same validation loss and picks the same best epoch."""
    keys = ("loss_sum", "correct", "n")
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        t = torch.tensor([sums[k] for k in keys], dtype=torch.float64, device=device)
        torch.distributed.all_reduce(t)
        sums = {**sums, **dict(zip(keys, t.tolist(), strict=True))}
    n = sums["n"]
    acc = sums["correct"] / n if n and sums.get("has_acc", 1.0) else float("nan")
    return {"val_loss": sums["loss_sum"] / max(n, 1), "val_acc": acc}


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
    """Train ``settings.network`` on ``train_files`` (validation on ``val_files``) into the run folder
    ``out``.

    ``resume`` continues from ``out/checkpoint.pt`` exactly; an existing run folder is otherwise refused
    unless
    ``overwrite``. Under ``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in DistributedDataParallel and
    each process sees its share of every batch (``batch_size`` is the global batch). ``progress`` is called
    with
    a dict after every step (``{"epoch", "step", "steps", "loss"}``) and epoch (``{"epoch", ...metrics}``).
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
    device = _device(s.device)
    ck = read_training_checkpoint(ckpt_path, device) if resume else None
    if ck is not None:
        _check_same_settings(s, ck["settings"], ckpt_path)
    started_dist = _maybe_init_distributed(device)
    rank, world = _dist_info()
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    if resume:
        cfg = DataConfig.load(out / "data_config.yaml")
    elif cfg.needs_auto_standardization:
        cfg = auto_standardize(cfg, train_files, save=cfg.source is not None and rank == 0)
    if train_arrays is None:
        train_arrays = load_arrays(train_files, cfg, train=True, max_jets=s.max_train_jets)
    if val_arrays is None:
        val_arrays = load_arrays(val_files, cfg, train=True, max_jets=s.max_val_jets)
    if len(train_arrays) < world:
        raise DataError("fewer training jets than processes", field="train")

    _seed_everything(s.seed)
    task = Task(cfg)
    model = build_model(s.network, cfg, **s.network_kwargs).to(device)
    if world > 1 and device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    opt = make_optimizer(s.optimizer, model, lr=s.lr, weight_decay=s.weight_decay)
    names = model_input_names(model, cfg)
    if s.batch_size % world:
        raise ConfigError("batch_size must be divisible by the number of processes", field="batch_size")
    local_bs = s.batch_size // world
    sampler = None
    if world > 1:
        sampler = torch.utils.data.distributed.DistributedSampler(
            range(len(train_arrays)), num_replicas=world, rank=rank, shuffle=True, seed=s.seed, drop_last=True
        )
    train_loader = make_dataloader(
        train_arrays,
        names,
        batch_size=local_bs,
        shuffle=True,
        seed=s.seed,
        num_workers=s.num_workers,
        drop_last=len(train_arrays) >= 2 * s.batch_size,
        sampler=sampler,
    )
    use_amp = s.amp and device.type == "cuda"
    if ck is not None and ck.get("micro_batch_size"):
        micro = int(ck["micro_batch_size"])  # the resumed run continues with the same micro-batches
    else:
        plan = plan_memory(model, cfg, train_arrays, s, device, local_bs, amp=use_amp)
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
            "n_train": len(train_arrays),
            "n_val": len(val_arrays),
            "label_names": cfg.label_names,
            "world_size": world,
            "micro_batch_size": micro,
            "versions": _versions(),
        }
        (out / "train.json").write_text(json.dumps(meta, indent=2, default=str))
    # validation keeps no activations: a few micro-batches at once fit the same budget; each process
    # validates its share of the jets and the sums are added over processes
    val_share = val_arrays if world == 1 else val_arrays.subset(np.arange(rank, len(val_arrays), world))
    val_loader = make_dataloader(val_share, names, batch_size=max(4 * micro, 64), shuffle=False, seed=0)
    steps_per_epoch = len(train_loader)
    sched = make_scheduler(
        opt, s.scheduler, total_steps=s.epochs * steps_per_epoch, warmup_steps=s.warmup_steps
    )
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    start_epoch, start_step, history = 0, 0, []
    best = {"loss": float("inf"), "epoch": -1}
    bad_epochs = 0
    sums = [0.0, 0]  # training loss sum and jets of the epoch in progress
    resume_rng = None
    if ck is not None:
        try:
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            sched.load_state_dict(ck["scheduler"])
            scaler.load_state_dict(ck["scaler"])
        except (RuntimeError, KeyError, ValueError) as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise CheckpointError(f"checkpoint does not fit this run: {msg}", file=ckpt_path) from None
        start_epoch, start_step = int(ck["epoch"]), int(ck["step"])
        history, best, bad_epochs = list(ck["history"]), dict(ck["best"]), int(ck["bad_epochs"])
        sums = [float(ck["train_sums"][0]), int(ck["train_sums"][1])]
        rngs = ck["rng"]
        resume_rng = rngs[rank] if rank < len(rngs) else rngs[0]
        if start_step > steps_per_epoch:
            raise CheckpointError(
                f"checkpoint is at step {start_step} of epoch {start_epoch + 1}, but an epoch has "
                f"{steps_per_epoch} steps with these files and settings",
                file=ckpt_path,
            )
        log.info("resuming %s at epoch %d, step %d", out, start_epoch + 1, start_step)
        if start_step == 0:
            _set_rng_state(resume_rng)

    writer = None
    if s.tensorboard and rank == 0:
        try:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(log_dir=os.fspath(out / "tensorboard"))
        except ImportError:
            log.warning("tensorboard is not installed; no TensorBoard log")

    def save(epoch: int, step: int, rng: Any = None, *, gather: bool = True) -> None:
        """Write checkpoint.pt for the position "``step`` steps of ``epoch`` done" (atomically)."""
        rng = _rng_state() if rng is None else rng
        rngs = [rng] * world
        if world > 1 and gather:
            rngs = [None] * world
            torch.distributed.all_gather_object(rngs, rng)
        if rank != 0:
            return
        state = {
            "format": CHECKPOINT_FORMAT,
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "scaler": scaler.state_dict(),
            "epoch": epoch,
            "step": step,
            "train_sums": [float(sums[0]), int(sums[1])],
            "history": history,
            "best": best,
            "bad_epochs": bad_epochs,
            "rng": rngs,
            "settings": _plain(asdict(s)),
            "micro_batch_size": micro,
        }
        tmp = out / ".checkpoint.pt.tmp"
        torch.save(state, tmp)
        tmp.replace(ckpt_path)

    guard = _InterruptGuard()
    pos: tuple[int, int] = (start_epoch, start_step)  # the position the model and optimiser are at
    pos_rng: Any = None  # RNG state at pos when it was taken earlier (None: the current one)
    global_step = start_epoch * steps_per_epoch + start_step
    try:
        with guard:
            for epoch in range(start_epoch, s.epochs):
                if s.early_stopping_patience is not None and bad_epochs >= s.early_stopping_patience:
                    log.info("early stopping after epoch %d", epoch)
                    break
                if sampler is not None:
                    sampler.set_epoch(epoch)
                train_loader.seed_generator.manual_seed(s.seed + epoch)
                net.train()
                t0 = time.perf_counter()
                if not (epoch == start_epoch and start_step):
                    pos_rng = _rng_state()  # creating the batch iterator draws from the RNG
                batches = iter(train_loader)
                first = 0
                if epoch == start_epoch and start_step:
                    # mid-epoch resume: the epoch's batches come in the same order (seeded); skip those done
                    # and only then restore the random state (creating the iterator draws from it)
                    for _ in range(start_step):
                        next(batches)
                    first = start_step
                    _set_rng_state(resume_rng)
                else:
                    sums = [0.0, 0]
                for step in range(first, steps_per_epoch):
                    batch = next(batches)
                    guard.in_step = True
                    batch = _to(batch, device, non_blocking=True)
                    nb = len(batch["weight"])
                    opt.zero_grad(set_to_none=True)
                    loss = _accumulate(net, task, batch, micro, scaler, device, use_amp, ddp=world > 1)
                    if s.grad_clip:
                        scaler.unscale_(opt.base if hasattr(opt, "base") else opt)
                        torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
                    scaler.step(opt)
                    scaler.update()
                    sched.step()
                    loss_value = float(loss)
                    sums[0] += loss_value * nb
                    sums[1] += nb
                    pos, pos_rng, global_step = (epoch, step + 1), None, global_step + 1
                    guard.in_step = False
                    if progress is not None and rank == 0:
                        progress(
                            {"epoch": epoch, "step": step + 1, "steps": steps_per_epoch, "loss": loss_value}
                        )
                    if guard.pending:
                        raise KeyboardInterrupt
                    if (
                        s.checkpoint_every
                        and global_step % s.checkpoint_every == 0
                        and step + 1 < steps_per_epoch
                    ):
                        save(epoch, step + 1)
                pos_rng = _rng_state()  # validation draws from the RNG: an interrupt there saves this state
                train_loss = sums[0] / max(sums[1], 1)
                if world > 1:
                    t = torch.tensor(sums, dtype=torch.float64, device=device)
                    torch.distributed.all_reduce(t)
                    train_loss = float(t[0] / t[1])
                metrics = {"epoch": epoch, "train_loss": train_loss, "lr": sched.get_last_lr()[0]}
                metrics.update(reduce_validation(_validate(model, task, val_loader, device), device))
                metrics["time_s"] = time.perf_counter() - t0
                history.append(metrics)
                improved = metrics["val_loss"] < best["loss"]
                if improved:
                    best = {"loss": metrics["val_loss"], "epoch": epoch}
                    bad_epochs = 0
                else:
                    bad_epochs += 1
                sums = [0.0, 0]
                pos, pos_rng = (epoch + 1, 0), None
                if rank == 0 and improved:
                    torch.save(model.state_dict(), out / "model.pt")
                save(epoch + 1, 0)
                if rank == 0:
                    _write_csv(out / "log.csv", history)
                    if writer is not None:
                        for k, v in metrics.items():
                            if k != "epoch":
                                writer.add_scalar(k, v, epoch)
                    log.info("epoch %d: %s", epoch + 1, {k: round(v, 5) for k, v in metrics.items()})
                if progress is not None and rank == 0:
                    progress(dict(metrics))
    except KeyboardInterrupt:
        if guard.in_step:
            log.warning("stopped during a training step: %s is from the last save", ckpt_path)
        else:
            save(*pos, rng=pos_rng, gather=False)
            if rank == 0:
                where = (
                    f"epoch {pos[0] + 1}, step {pos[1]} of {steps_per_epoch}"
                    if pos[1]
                    else f"after epoch {pos[0]} of {s.epochs}"
                )
                log.warning("interrupted: saved %s (%s); continue with --resume", ckpt_path, where)
        raise
    finally:
        if writer is not None:
            writer.close()
    if world > 1:
        torch.distributed.barrier()
    if started_dist:
        torch.distributed.destroy_process_group()
    return TrainResult(out, history, int(best["epoch"]), float(best["loss"]))


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
