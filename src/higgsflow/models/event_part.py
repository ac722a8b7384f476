"""The event-level Particle Transformer of the ttH(cc) search (CMS-PAS-HIG-24-018): the event's objects as tokens
with pair features for every object pair, a multi-class head over ttH(cc), ttH(bb), ttZ(cc), ttZ(bb) and the
tt+jets classes (tt+light, tt+b, tt+≥2b, tt+c, tt+≥2c; QCD optional).

Three token collections, each with its own embedding (its own feature list), concatenated (jets, leptons, MET)
into one sequence as :class:`higgsflow.models.upart.UParT` does through :class:`TokenParT`:

- ``jet``: the selected AK4 jets, kinematics and the four flavour discriminants of the AK4 tagger (BvsAll, CvsL,
  CvsB, QvsG; ``jet_btagB/CvL/CvB/QvG`` of the event file);
- ``lep``: the isolated electrons and muons (kinematics, charge, flavour);
- ``met``: the missing transverse momentum, one token, a massless object with η = 0.

Pair features (ln k_T, ln z, ln Δ, ln m²) of every pair of real tokens come from their four-vectors
(``*_vectors`` = px, py, pz, E; :mod:`higgsflow.physics.pairs`, :mod:`higgsflow.events.pairs`). No token is
trimmed at random in training (an event has few objects, each matters). The data config is
``examples/tthcc/event_part.yaml``.

Input groups: ``jet_features, jet_vectors, jet_mask``, ``lep_*``, ``met_*``. Head: ``logits``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from higgsflow.models.part import Embed
from higgsflow.models.part_sv import TokenParT, regression_heads_from_config

__all__ = ["COLLECTIONS", "EventParT"]

#: the token collections, in sequence order
COLLECTIONS = ("jet", "lep", "met")


class EventParT(TokenParT):
    """Event ParT on the model contract; ``forward(inputs)`` returns ``{"logits": (N, K)}``."""

    input_groups: ClassVar[dict[str, tuple[str, ...]]] = {
        c: ("features", "vectors", "mask") for c in COLLECTIONS
    }
    heads: tuple[str, ...] = ("logits",)

    def __init__(
        self,
        jet_input_dim: int,
        lep_input_dim: int,
        met_input_dim: int,
        num_classes: int,
        *,
        regression_heads: tuple[str, ...] = (),
        pair_input_dim: int = 4,
        use_pre_activation_pair: bool = False,
        embed_dims: tuple[int, ...] = (64, 128, 64),
        pair_embed_dims: tuple[int, ...] = (32, 32, 32),
        num_heads: int = 8,
        num_layers: int = 4,
        num_cls_layers: int = 2,
        block_params: dict[str, Any] | None = None,
        cls_block_params: dict[str, Any] | None = None,
        activation: str = "gelu",
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if seed is not None:
            torch.manual_seed(seed)
        self.jet_embed = Embed(jet_input_dim, tuple(embed_dims), activation)
        self.lep_embed = Embed(lep_input_dim, tuple(embed_dims), activation)
        self.met_embed = Embed(met_input_dim, tuple(embed_dims), activation)
        self._init_core(
            num_classes,
            regression_heads=tuple(regression_heads),
            pair_input_dim=pair_input_dim,
            use_pre_activation_pair=use_pre_activation_pair,
            embed_dims=tuple(embed_dims),
            pair_embed_dims=tuple(pair_embed_dims),
            num_heads=num_heads,
            num_layers=num_layers,
            num_cls_layers=num_cls_layers,
            block_params=block_params,
            cls_block_params=cls_block_params,
            activation=activation,
            train_trim=False,
        )

    @classmethod
    def from_config(cls, config: Any, input_map: Mapping[tuple[str, str], str], **kwargs: Any) -> EventParT:
        """Input sizes from the config's ``jet_features``, ``lep_features``, ``met_features``; classes from its
        labels."""
        kwargs.setdefault("regression_heads", regression_heads_from_config(config))
        dims = [len(config.inputs[input_map[(c, "features")]].variables) for c in COLLECTIONS]
        return cls(*dims, config.num_classes, **kwargs)

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        g = self.group
        return self._encode(
            [
                (
                    getattr(self, f"{c}_embed"),
                    g(inputs, c, "features"),
                    g(inputs, c, "vectors"),
                    g(inputs, c, "mask"),
                    False,
                )
                for c in COLLECTIONS
            ]
        )
