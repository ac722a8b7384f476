"""Importers for weaver-core / particle_transformer checkpoints.

Those checkpoints are ``state_dict``s of a wrapper whose network is the attribute ``mod`` (keys
``mod.blocks.0...``),
written with ``torch.save``; older ones store attention projections as ``in_proj_weight``. higgsflow's ParT
and
ParticleNet use weaver-core's parameter names, so importing is a prefix strip plus a strict load.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from higgsflow.errors import CheckpointError

__all__ = ["load_weaver_state_dict", "read_checkpoint"]


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint file (tensors only, no pickled code) or raise :class:`CheckpointError`."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError("checkpoint not found", file=path) from None
    except Exception as exc:
        raise CheckpointError(f"cannot read checkpoint: {exc}", file=path) from None
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if isinstance(obj, Mapping) and "model" in obj and isinstance(obj["model"], Mapping):
        obj = obj["model"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError("not a state dict of tensors", file=path)
    return dict(obj)


def load_weaver_state_dict(
    model: nn.Module,
    state: Mapping[str, torch.Tensor] | str | os.PathLike[str],
    *,
    prefix: str = "mod.",
) -> nn.Module:
    """Load a weaver-core state dict (``mod.``-prefixed or bare) into a higgsflow model, strictly.

    Raises :class:`CheckpointError` naming the missing/unexpected keys or shape mismatches.
    """
    file = None
    if not isinstance(state, Mapping):
        file = state
        state = read_checkpoint(state)
    sd = {}
    for k, v in state.items():
        if k.startswith("module."):  # saved from a DDP-wrapped model
            k = k[len("module.") :]
        if prefix and k.startswith(prefix):
            k = k[len(prefix) :]
        if k.endswith("_counter") or "trimmer" in k:  # weaver's trimming counters are not weights
            continue
        sd[k] = v
    try:
        result = model.load_state_dict(sd, strict=False)
    except RuntimeError as exc:
        raise CheckpointError(f"weights do not fit this architecture: {exc}", file=file) from None
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(
            "checkpoint does not match the architecture",
            file=file,
            field=", ".join([*result.missing_keys[:3], *result.unexpected_keys[:3]]),
            expected=f"the keys of {type(model).__name__} (missing {len(result.missing_keys)}, "
            f"unexpected {len(result.unexpected_keys)})",
        )
    return model
