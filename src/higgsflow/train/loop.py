"""The training loop: seeded, resumable, optionally distributed (``torchrun``), with CSV/TensorBoard logs.

A run folder holds ``data_config.yaml`` (the resolved config), ``train.json`` (settings, seed, versions),
``checkpoint.pt`` (model, optimizer, scheduler, RNG states and history after the last finished epoch:
resuming from
it gives bit-identical weights to an uninterrupted run), ``model.pt`` (the weights of the best validation
epoch),
``log.csv`` and, if asked, ``tensorboard/``.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import platform
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from higgsflow._version import __version__
from higgsflow.data.config import DataConfig
from higgsflow.data.loader import JetArrays, auto_standardize, load_arrays, make_dataloader
from higgsflow.errors import CheckpointError, ConfigError, DataError
from higgsflow.models.registry import ROLES, build_model
from higgsflow.train.optim import make_optimizer, make_scheduler

__all__ = ["TrainResult", "TrainSettings", "forward_batch", "load_run_model", "role_names", "train"]

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


def role_names(config: DataConfig) -> list[str | None]:
    """The data-config input name for each model role (points, features, vectors, mask), or None."""
    return [g.name if (g := config.input_role(r)) is not None else None for r in ROLES]


def forward_batch(model: torch.nn.Module, config: DataConfig, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
    """Call ``model`` with tensors given in the order of :func:`role_names` without the Nones."""
    it = iter(inputs)
    args = [next(it) if n is not None else None for n in role_names(config)]
    return model(*args)


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
    return {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),  # noqa: NPY002
        "python": random.getstate(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def _set_rng_state(s: dict[str, Any]) -> None:
    torch.set_rng_state(s["torch"])
    np.random.set_state(s["numpy"])  # noqa: NPY002
    random.setstate(s["python"])
    if s.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


def _loss(logits: torch.Tensor, y: torch.Tensor, w: torch.Tensor, config: DataConfig) -> torch.Tensor:
    if config.label_type == "simple":
        per = F.cross_entropy(logits.float(), y, reduction="none")
    else:
        per = F.mse_loss(logits.float(), y.float(), reduction="none").mean(dim=1)
    return (per * w).mean()


@torch.no_grad()
def _validate(model, config, loader, device) -> dict[str, float]:
    model.eval()
    tot_loss = tot_w = correct = n = 0.0
    for inputs, y, w in loader:
        inputs = [t.to(device) for t in inputs]
        y, w = y.to(device), w.to(device)
        logits = forward_batch(model, config, inputs)
        tot_loss += float(_loss(logits, y, w, config)) * len(y)
        n += len(y)
        tot_w += float(w.sum())
        if config.label_type == "simple":
            correct += float((logits.argmax(1) == y).sum())
    return {"val_loss": tot_loss / max(n, 1), "val_acc": correct / max(n, 1) if n else float("nan")}


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
    cfg = data_config if isinstance(data_config, DataConfig) else DataConfig.load(data_config)
    device = _device(s.device)
    started_dist = _maybe_init_distributed(device)
    rank, world = _dist_info()
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    ckpt_path = out / "checkpoint.pt"
    if rank == 0:
        if out.exists() and any(out.iterdir()) and not (resume or overwrite):
            raise DataError("run folder exists", file=out, expected="a new folder, --resume or --overwrite")
        if resume and not ckpt_path.is_file():
            raise CheckpointError("nothing to resume: no checkpoint.pt", file=out)
        out.mkdir(parents=True, exist_ok=True)
    if world > 1:
        torch.distributed.barrier()
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
            "versions": _versions(),
        }
        (out / "train.json").write_text(json.dumps(meta, indent=2, default=str))

    _seed_everything(s.seed)
    model = build_model(s.network, cfg, **s.network_kwargs).to(device)
    if world > 1 and device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    opt = make_optimizer(s.optimizer, model, lr=s.lr, weight_decay=s.weight_decay)
    names = [n for n in role_names(cfg) if n is not None]
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
    val_loader = make_dataloader(val_arrays, names, batch_size=max(s.batch_size, 256), shuffle=False, seed=0)
    steps_per_epoch = len(train_loader)
    sched = make_scheduler(
        opt, s.scheduler, total_steps=s.epochs * steps_per_epoch, warmup_steps=s.warmup_steps
    )
    use_amp = s.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    start_epoch, history = 0, []
    best = {"loss": float("inf"), "epoch": -1}
    bad_epochs = 0
    if resume:
        try:
            ck = torch.load(ckpt_path, map_location=device, weights_only=False)
        except Exception as exc:
            raise CheckpointError(f"cannot read checkpoint: {exc}", file=ckpt_path) from None
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        scaler.load_state_dict(ck["scaler"])
        start_epoch, history, best, bad_epochs = ck["epoch"] + 1, ck["history"], ck["best"], ck["bad_epochs"]
        _set_rng_state(ck["rng"][rank] if isinstance(ck["rng"], list) else ck["rng"])
        log.info("resuming %s at epoch %d", out, start_epoch)

    writer = None
    if s.tensorboard and rank == 0:
        try:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(log_dir=os.fspath(out / "tensorboard"))
        except ImportError:
            log.warning("tensorboard is not installed; no TensorBoard log")

    for epoch in range(start_epoch, s.epochs):
        if s.early_stopping_patience is not None and bad_epochs >= s.early_stopping_patience:
            log.info("early stopping after epoch %d", epoch - 1)
            break
        if sampler is not None:
            sampler.set_epoch(epoch)
        train_loader.seed_generator.manual_seed(s.seed + epoch)
        net.train()
        t0 = time.perf_counter()
        tot, n = 0.0, 0
        for step, (inputs, y, w) in enumerate(train_loader):
            inputs = [t.to(device, non_blocking=True) for t in inputs]
            y, w = y.to(device), w.to(device)
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device.type, enabled=use_amp):
                logits = forward_batch(net, cfg, inputs)
            loss = _loss(logits, y, w, cfg)
            scaler.scale(loss).backward()
            if s.grad_clip:
                scaler.unscale_(opt.base if hasattr(opt, "base") else opt)
                torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
            scaler.step(opt)
            scaler.update()
            sched.step()
            tot += float(loss.detach()) * len(y)
            n += len(y)
            if progress is not None and rank == 0:
                progress(
                    {"epoch": epoch, "step": step + 1, "steps": steps_per_epoch, "loss": float(loss.detach())}
                )
        train_loss = tot / max(n, 1)
        if world > 1:
            t = torch.tensor([tot, n], dtype=torch.float64)
            torch.distributed.all_reduce(t)
            train_loss = float(t[0] / t[1])
        metrics = {"epoch": epoch, "train_loss": train_loss, "lr": sched.get_last_lr()[0]}
        metrics.update(_validate(model, cfg, val_loader, device))
        metrics["time_s"] = time.perf_counter() - t0
        history.append(metrics)
        improved = metrics["val_loss"] < best["loss"]
        if improved:
            best = {"loss": metrics["val_loss"], "epoch": epoch}
            bad_epochs = 0
        else:
            bad_epochs += 1
        rng = _rng_state()
        if world > 1:
            gathered: list[Any] = [None] * world
            torch.distributed.all_gather_object(gathered, rng)
            rng = gathered
        if rank == 0:
            if improved:
                torch.save(model.state_dict(), out / "model.pt")
            ck = {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "scaler": scaler.state_dict(),
                "epoch": epoch,
                "history": history,
                "best": best,
                "bad_epochs": bad_epochs,
                "rng": rng,
                "settings": asdict(s),
            }
            tmp = out / ".checkpoint.pt.tmp"
            torch.save(ck, tmp)
            tmp.replace(ckpt_path)
            _write_csv(out / "log.csv", history)
            if writer is not None:
                for k, v in metrics.items():
                    if k != "epoch":
                        writer.add_scalar(k, v, epoch)
            log.info("epoch %d: %s", epoch, {k: round(v, 5) for k, v in metrics.items()})
        if progress is not None and rank == 0:
            progress(dict(metrics))
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
