"""One training step (forward and backward in micro-batches, the task's loss) and one validation pass (the
task's loss and per-head metrics, added over processes under ``torchrun``)."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch

from higgsflow.train.task import Task

__all__ = ["accumulate", "forward_batch", "reduce_validation", "to_device", "validate", "validation_metrics"]


def forward_batch(model: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The model's heads for a batch of named inputs."""
    return model(inputs)


def to_device(batch: dict[str, Any], device: torch.device, non_blocking: bool = False) -> dict[str, Any]:
    """The batch (tensors and dicts of tensors) on ``device``."""
    return {
        k: {n: t.to(device, non_blocking=non_blocking) for n, t in v.items()}
        if isinstance(v, dict)
        else v.to(device, non_blocking=non_blocking)
        for k, v in batch.items()
    }


def _slice(batch: dict[str, Any], sl: slice) -> dict[str, Any]:
    return {k: {n: t[sl] for n, t in v.items()} if isinstance(v, dict) else v[sl] for k, v in batch.items()}


def accumulate(
    net, task: Task, batch, micro, scaler, device, use_amp, *, ddp=False, adversary=None, model=None
) -> torch.Tensor:
    """Forward and backward of one batch in micro-batches of ``micro`` jets; the gradient is that of the batch
    loss (mean over its jets), which is returned (detached). With an ``adversary``
    (:class:`higgsflow.train.adversarial.Adversary`) the loss is the adversarial one, computed on micro-batches
    of half the size (a pass holds the distorted and the nominal jets); ``model`` is ``net`` unwrapped."""
    nb = len(batch["weight"])
    if adversary is not None:
        micro = max(1, micro // 2)
    starts = range(0, nb, micro)
    total = torch.zeros((), device=device)
    for k, a in enumerate(starts):
        sl = slice(a, a + micro)
        part_batch = _slice(batch, sl) if len(starts) > 1 else batch
        sync = not ddp or k == len(starts) - 1
        with nullcontext() if sync else net.no_sync():
            with torch.autocast(device.type, enabled=use_amp):
                if adversary is not None:
                    part = adversary.loss(model if model is not None else net, net, task, part_batch)
                else:
                    part = task.loss(forward_batch(net, part_batch["inputs"]), part_batch)
            if len(starts) > 1:
                part = part * (len(part_batch["weight"]) / nb)
            scaler.scale(part).backward()
        total += part.detach()
    return total


@torch.no_grad()
def validate(model, task: Task, batches: Iterable[dict[str, Any]], device) -> dict[str, Any]:
    """Sums over the jets of ``batches`` (loss × jets, correct predictions, jets; see
    :func:`reduce_validation`) and, under ``"outputs"``, this process's heads, labels, targets and weights
    for the per-head metrics (:func:`validation_metrics`)."""
    model.eval()
    tot_loss = correct = n = 0.0
    keep: dict[str, list[np.ndarray]] = {}

    def add(name: str, t: torch.Tensor) -> None:
        keep.setdefault(name, []).append(t.detach().float().cpu().numpy())

    for batch in batches:
        nb = len(batch["weight"])
        if nb == 0:  # a process's share of a last, short batch can be empty
            continue
        batch = to_device(batch, device)
        heads = forward_batch(model, batch["inputs"])
        tot_loss += float(task.loss(heads, batch)) * nb
        n += nb
        if task.has_classes and "logits" in heads:
            correct += float((heads["logits"].argmax(1) == batch["label"]).sum())
        for h, t in heads.items():
            add(f"head/{h}", t)
        for k, t in batch["targets"].items():
            add(f"target/{k}", t)
        if task.has_classes:
            keep.setdefault("label", []).append(batch["label"].cpu().numpy())
        add("weight", batch["weight"])
    outputs = {k: np.concatenate(v) for k, v in keep.items()}
    return {
        "loss_sum": tot_loss,
        "correct": correct,
        "n": n,
        "has_acc": float(task.has_classes),
        "outputs": outputs,
    }


def reduce_validation(sums: dict[str, Any], device: torch.device | str = "cpu") -> dict[str, float]:
    """Validation loss and accuracy from the sums of :func:`validate`, added over all processes first under
    ``torchrun``: every process then sees the same validation loss and picks the same best epoch."""
    keys = ("loss_sum", "correct", "n")
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        t = torch.tensor([sums[k] for k in keys], dtype=torch.float64, device=device)
        torch.distributed.all_reduce(t)
        sums = {**sums, **dict(zip(keys, t.tolist(), strict=True))}
    n = sums["n"]
    acc = sums["correct"] / n if n and sums.get("has_acc", 1.0) else float("nan")
    return {"val_loss": sums["loss_sum"] / max(n, 1), "val_acc": acc}


def validation_metrics(task: Task, sums: dict[str, Any]) -> dict[str, float]:
    """The task's per-head metrics (``val_auc_<class>``, ``val_<head>_resolution``, ``val_<head>_coverage``
    ...) on all validation jets (gathered from every process under ``torchrun``; every process returns the
    same numbers)."""
    outputs = sums.get("outputs") or {}
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        parts: list[Any] = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(parts, outputs)
        keys = [k for k in parts[0] if all(k in p for p in parts)]
        outputs = {k: np.concatenate([p[k] for p in parts]) for k in keys}
    if not outputs or not len(outputs.get("weight", ())):
        return {}
    heads = {k[5:]: torch.from_numpy(v) for k, v in outputs.items() if k.startswith("head/")}
    targets = {k[7:]: v for k, v in outputs.items() if k.startswith("target/")}
    heads = task.config.physical_heads(heads) if hasattr(task.config, "physical_heads") else heads
    metrics = task.metrics(heads, outputs.get("label"), targets, outputs["weight"])
    return {f"val_{k}": v for k, v in metrics.items() if k != "accuracy"}
