"""How much memory a training step takes, and how many jets to put through the network at once.

Training a particle transformer keeps, for the backward pass, tensors of size B·P²·C: the embedded pair features
(64 channels for each pair of particles), the attention weights of every head and block. For the full ParT at
P = 128 particles that is about 3 kB per jet per particle pair, i.e. 50 MB per jet, 26 GB for a batch of 512 jets.

:func:`measure_step_bytes` measures it for any model: it runs one forward pass on a copy of the model with a few of
the longest jets of the data and adds up the tensors autograd keeps for the backward pass (the number that sets the
peak: measured resident memory is 1.1-1.2 times it). :func:`plan_micro_batch` then splits each batch into
micro-batches that fit the memory budget (gradient accumulation: the gradient is the batch gradient, except that
batch norms see the micro-batch) or, when a setting the user gave cannot fit, raises :class:`ConfigError` naming it
before anything is trained.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from higgsflow.errors import ConfigError

__all__ = ["MemoryPlan", "available_memory", "measure_step_bytes", "plan_micro_batch"]

log = logging.getLogger(__name__)

GiB = 2**30
#: measured peak resident memory of a step / bytes autograd keeps (1.14 for the full ParT on the CPU) plus margin
PEAK_FACTOR = 1.3
#: default budget of the activations of one training step on the CPU (bytes); the process itself (torch, the
#: data) adds a few hundred MB
DEFAULT_CPU_BUDGET = 2 * GiB
#: on a GPU the budget is this fraction of its free memory
GPU_FRACTION = 0.8


def _cgroup_free() -> int | None:
    """Memory left under a cgroup-v2 limit (containers, batch jobs), or None without one."""
    base = Path("/sys/fs/cgroup")
    try:
        limit = (base / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int((base / "memory.current").read_text().strip())
    except (OSError, ValueError):
        return None


def available_memory(device: torch.device | str = "cpu") -> int | None:
    """Bytes free for a new allocation on ``device`` (GPU: free device memory; CPU: MemAvailable of
    /proc/meminfo or psutil, lowered to a cgroup limit), or None when it cannot be known."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type != "cpu":
        return None
    avail = None
    try:
        with Path("/proc/meminfo").open() as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if avail is None:
        try:
            import psutil

            avail = int(psutil.virtual_memory().available)
        except ImportError:
            return None
    cg = _cgroup_free()
    return min(avail, cg) if cg is not None else avail


def measure_step_bytes(
    model: torch.nn.Module,
    forward: Callable[[torch.nn.Module, Sequence[torch.Tensor]], torch.Tensor],
    inputs: Sequence[torch.Tensor],
    *,
    amp: bool = False,
) -> int:
    """Bytes autograd keeps for the backward pass of ``forward(model, inputs)`` in training mode (parameters
    excluded), measured on a copy of the model under a forked RNG: the model and the random streams are untouched.
    """
    probe = copy.deepcopy(model).train()
    skip = {p.untyped_storage().data_ptr() for p in probe.parameters()}
    seen: dict[tuple[int, str], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        try:
            st = t.untyped_storage()
        except (RuntimeError, NotImplementedError):  # e.g. sparse or functional tensors
            return t
        key = (st.data_ptr(), str(t.device))
        if st.data_ptr() not in skip:
            seen[key] = max(seen.get(key, 0), st.nbytes())
        return t

    device = inputs[0].device
    devices = [device] if device.type == "cuda" else []
    with (
        torch.random.fork_rng(devices=devices),
        torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t),
        torch.autocast(device.type, enabled=amp),
    ):
        out = forward(probe, inputs)
        del out
    return sum(seen.values())


@dataclass
class MemoryPlan:
    """Jets per micro-batch and the estimate behind it (bytes)."""

    micro_batch: int
    bytes_per_jet: float
    budget: int | None
    available: int | None
    length: int

    def estimate(self, n: int) -> float:
        """Estimated peak bytes of a training step with ``n`` jets."""
        return PEAK_FACTOR * self.bytes_per_jet * n


def _gb(x: float | None) -> str:
    return "unknown" if x is None else f"{x / GiB:.1f} GB"


def plan_micro_batch(
    bytes_per_jet: float,
    batch: int,
    *,
    length: int,
    device: torch.device | str = "cpu",
    micro_batch: int | None = None,
    max_memory_gb: float | None = None,
    network: str = "the network",
    available: int | None = None,
) -> MemoryPlan:
    """Choose the micro-batch (at most ``batch``) whose step fits the memory budget, or refuse a setting that
    cannot fit.

    ``bytes_per_jet``: from :func:`measure_step_bytes` divided by the probe's jets; ``length``: particles per jet
    it was measured at. The budget is ``max_memory_gb`` if given, else 2 GB on the CPU (at most half of the free
    memory) or 80 % of a GPU's free memory. An explicit ``micro_batch`` (or ``max_memory_gb``) larger than the
    free memory raises :class:`ConfigError` naming the setting.
    """
    device = torch.device(device)
    if available is None:
        available = available_memory(device)
    per = PEAK_FACTOR * bytes_per_jet
    what = f"training {network} on jets of {length} particles"
    if max_memory_gb is not None:
        if max_memory_gb <= 0:
            raise ConfigError("must be positive", field="max_memory_gb (--max-memory-gb)", expected="GB > 0")
        budget = int(max_memory_gb * GiB)
        if available is not None and budget > available:
            raise ConfigError(
                f"{max_memory_gb:g} GB asked for, but only {_gb(available)} of memory is free on {device.type}",
                field="max_memory_gb (--max-memory-gb)",
                expected=f"at most {available / GiB:.1f}",
            )
    elif device.type == "cuda" and available is not None:
        budget = int(GPU_FRACTION * available)
    elif device.type == "cpu":
        budget = DEFAULT_CPU_BUDGET if available is None else min(DEFAULT_CPU_BUDGET, available // 2)
    else:
        budget = None
    if micro_batch is not None:
        if micro_batch <= 0:
            raise ConfigError(
                "must be positive", field="micro_batch_size (--micro-batch-size)", expected="> 0"
            )
        need = per * micro_batch
        limit = available if max_memory_gb is None else budget
        if limit is not None and need > limit:
            fit = max(int(limit // per), 0)
            raise ConfigError(
                f"{what} in micro-batches of {micro_batch} needs about {_gb(need)}, "
                f"{_gb(limit)} {'is free' if max_memory_gb is None else 'is the budget'}",
                field="micro_batch_size (--micro-batch-size)",
                expected=f"at most {fit}" if fit else "a shorter input length in the data config",
            )
        return MemoryPlan(min(micro_batch, batch), bytes_per_jet, budget, available, length)
    if budget is None:
        return MemoryPlan(batch, bytes_per_jet, None, available, length)
    fit = int(budget // per) if per > 0 else batch
    if fit < 1:
        raise ConfigError(
            f"{what} needs about {_gb(per)} for a single jet, more than the memory budget of {_gb(budget)}",
            field="max_memory_gb (--max-memory-gb)",
            expected="a larger budget (up to the free memory) or a shorter input length in the data config",
        )
    micro = min(batch, fit)
    if micro < batch:
        # equal micro-batches: ceil(batch / micro) of them, as large as the budget allows
        micro = math.ceil(batch / math.ceil(batch / micro))
    return MemoryPlan(micro, bytes_per_jet, budget, available, length)
