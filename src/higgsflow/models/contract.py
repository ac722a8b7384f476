"""The model contract: named input collections in, named heads out.

A model is an ``nn.Module`` whose ``forward(inputs)`` takes a mapping ``{input-group name: tensor}`` keyed by
the data config's input names (``pf_features``, ``pf_vectors``, ``pf_mask``, ``sv_features``, ...) and returns
a dict of named heads (``{"logits": (N, K)}``, plus e.g. ``{"pt_corr": (N,)}`` for a regression).

An input-group name is ``<collection>_<role>``: the collection is what comes before the last ``_`` (``pf``,
``sv``, ``jet``), the role what follows (``points``, ``features``, ``vectors``, ``mask``). A model class
declares

- ``input_groups``: ``{collection: (role, ...)}`` the roles it needs from each collection (a role written
  ``"mask?"`` is optional); the collection ``"*"`` means "the data config's main collection" (the one of its
  first ``*_features`` input), which is what the one-collection taggers (ParT, ParticleNet, PFN, DNN) use;
- ``heads``: the names of the heads ``forward`` returns (an instance may add some, e.g. regression heads
  chosen by keyword).

:func:`contract_model` turns one of the positional taggers (``forward(points, features, vectors, mask)`` →
logits) into a contract model without changing its parameter names, so weaver-core checkpoints still load.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["ROLES", "ContractModel", "contract_model", "split_name"]

ROLES = ("points", "features", "vectors", "mask")


def split_name(name: str) -> tuple[str, str]:
    """``pf_features`` → ``("pf", "features")``; a name without ``_`` is a role of the collection ``""``."""
    coll, sep, role = name.rpartition("_")
    return (coll, role) if sep else ("", name)


class ContractModel(nn.Module):
    """Base of models that follow the contract (``forward(inputs) -> {head: tensor}``).

    ``input_map`` (set by :func:`higgsflow.models.build_model`) maps ``(collection, role)`` of the model's
    declaration to the data config's input names; :meth:`group` reads one of them from ``inputs``.
    """

    input_groups: Mapping[str, tuple[str, ...]] = {}
    heads: tuple[str, ...] = ("logits",)
    input_map: dict[tuple[str, str], str]

    def group(self, inputs: Mapping[str, torch.Tensor], collection: str, role: str) -> torch.Tensor | None:
        name = self.input_map.get((collection, role)) if hasattr(self, "input_map") else None
        if name is None:
            name = f"{collection}_{role}" if collection else role
        return inputs.get(name)

    def input_names(self) -> list[str]:
        """The data-config input names this model reads, in a fixed order (collection, then role order)."""
        return list(getattr(self, "input_map", {}).values())


_ADAPTED: dict[type, type] = {}


def contract_model(cls: type[nn.Module], heads: tuple[str, ...] = ("logits",)) -> type[nn.Module]:
    """A subclass of the positional tagger ``cls`` that follows the contract (same parameters and names).

    Its ``input_groups`` are ``{"*": roles}`` from ``cls.input_roles`` (those not in ``cls.required_roles``,
    where given, are optional); ``forward(inputs)`` returns ``{"logits": cls.forward(points, features,
    vectors, mask)}``.
    """
    if cls in _ADAPTED:
        return _ADAPTED[cls]
    roles = tuple(getattr(cls, "input_roles", ROLES))
    required = tuple(getattr(cls, "required_roles", roles))
    declared = tuple(r if r in required else r + "?" for r in roles)

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        args = [
            self.group(inputs, "*", r) if r in roles else None  # type: ignore[attr-defined]
            for r in ROLES
        ]
        return {heads[0]: cls.forward(self, *args)}

    def positional(self, points=None, features=None, vectors=None, mask=None) -> torch.Tensor:
        """The wrapped tagger's own call (positional tensors → logits)."""
        return cls.forward(self, points, features, vectors, mask)

    adapted = type(
        cls.__name__,
        (cls, ContractModel),
        {
            "input_groups": {"*": declared},
            "heads": heads,
            "forward": forward,
            "positional": positional,
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
            "__doc__": cls.__doc__,
        },
    )
    _ADAPTED[cls] = adapted
    return adapted


def is_contract(model: Any) -> bool:
    return isinstance(model, ContractModel)
