"""The process a run trains in: seeds, the device, torchrun's process group, versions."""

from __future__ import annotations

import os
import platform
import random

import numpy as np
import torch

from higgsflow._version import __version__

__all__ = ["device_for", "dist_info", "init_distributed", "seed_everything", "versions"]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (global state is saved for exact resume)
    torch.manual_seed(seed)


def device_for(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def dist_info() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def init_distributed(device: torch.device) -> bool:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return True
    return False


def versions() -> dict[str, str]:
    return {"higgsflow": __version__, "torch": torch.__version__, "python": platform.python_version()}
