"""Training checkpoints: the random states, the resume checkpoint (read without unpickling code) and the
Ctrl-C guard that lets a step finish before saving."""

from __future__ import annotations

import logging
import os
import pickle
import random
import signal
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch

from higgsflow.errors import CheckpointError, ConfigError

__all__ = [
    "CHECKPOINT_FORMAT",
    "InterruptGuard",
    "check_same_settings",
    "read_training_checkpoint",
    "rng_state",
    "set_rng_state",
    "write_checkpoint",
]

log = logging.getLogger(__name__)


def rng_state() -> dict[str, Any]:
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


def set_rng_state(s: dict[str, Any]) -> None:
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
CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "scaler", "epoch", "step", "history", "best", "rng")
#: settings that must match the run being resumed (the others, e.g. workers or device, may change)
RESUME_SAME = (
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
    "load",
    "fetch_jets",
    "adversarial_eps",
    "adversarial_every",
    "adversarial_method",
)


def plain(x: Any) -> Any:
    """``x`` with containers as lists/dicts and anything unusual as a string (weights_only-safe)."""
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
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
    missing = [k for k in CHECKPOINT_KEYS if not isinstance(ck, dict) or k not in ck]
    if missing:
        raise CheckpointError(
            "not a resumable training checkpoint",
            file=path,
            field=", ".join(missing[:3]),
            expected="a checkpoint.pt written by this version of higgsflow train",
        )
    return ck


def check_same_settings(now: dict[str, Any], saved: dict[str, Any], path: Path) -> None:
    """Refuse to resume with settings that change the training (:data:`RESUME_SAME`)."""
    now = plain(now)
    for k in RESUME_SAME:
        if k in saved and now.get(k) != saved[k]:
            raise ConfigError(
                f"{now.get(k)!r} differs from the run being resumed ({saved[k]!r})",
                file=path,
                field=k,
                expected="the settings of the interrupted run",
            )


class InterruptGuard:
    """Ctrl-C (SIGINT) during a training step is held until the step is done, so that the checkpoint saved on
    interrupt is at a step boundary; a second Ctrl-C, or one outside a step, interrupts at once. Only in the
    main thread, and not where SIGINT is ignored (background jobs)."""

    def __init__(self) -> None:
        self.pending = False
        self.in_step = False
        self._old: Any = None

    def __enter__(self) -> InterruptGuard:
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


def write_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` to ``path`` atomically (a temporary file replaced in one step)."""
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(state, tmp)
    tmp.replace(path)
