"""UParT-AK4 (Unified Particle Transformer, CMS-DP-2024-066): ParT over charged PF, neutral PF and secondary-vertex
tokens with a flavour head and flavour-aware p_T regression heads.

As CMSSW's ParT-AK4/UParT producers, the three collections have their own embeddings (each its own feature
list: the producer uses up to 29 charged × 25, 25 neutral × 8 and 5 SV × 14 features); their tokens are
concatenated (charged, neutral, SV) into one sequence whose pair features (ln k_T, ln z, ln Δ, ln m²) are
computed from the four-vectors of every pair of real tokens. The blocks are those of :mod:`higgsflow.models.part`
through :class:`higgsflow.models.part_sv.TokenParT`. Heads: ``logits`` (the flavour classes of the config's
labels, e.g. b, bb, c, cc, s, ud, g, τh) and one linear output per regression head the config's ``loss`` names
(``pt_corr`` trained with log-cosh, ``pt_q16``/``pt_q84`` with the pinball loss, as the talk's
L = CE + γ_regr·logcosh(y − y_truth) + γ_q·[p₀.₁₆(z − z_truth) + p₀.₈₄(z − z_truth)]).

Input groups: ``cpf_features, cpf_vectors, cpf_mask`` (charged), ``npf_*`` (neutral), ``sv_*``. The data config
makes the charged and neutral collections from the PF candidates by selecting on the charge
(``examples/tagging/upart_ak4.yaml``). Adversarial training is not part of this model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from higgsflow.models.part import Embed
from higgsflow.models.part_sv import TokenParT, regression_heads_from_config

__all__ = ["COLLECTIONS", "UParT"]

#: the token collections, in sequence order
COLLECTIONS = ("cpf", "npf", "sv")


class UParT(TokenParT):
    """UParT-AK4 on the model contract; ``forward(inputs)`` returns ``{"logits": (N, K), <head>: (N,)}``."""

    input_groups: ClassVar[dict[str, tuple[str, ...]]] = {
        c: ("features", "vectors", "mask") for c in COLLECTIONS
    }
    heads: tuple[str, ...] = ("logits",)

    def __init__(
        self,
        cpf_input_dim: int,
        npf_input_dim: int,
        sv_input_dim: int,
        num_classes: int,
        *,
        regression_heads: tuple[str, ...] = (),
        pair_input_dim: int = 4,
        use_pre_activation_pair: bool = False,
        embed_dims: tuple[int, ...] = (128, 512, 128),
        pair_embed_dims: tuple[int, ...] = (64, 64, 64),
        num_heads: int = 8,
        num_layers: int = 8,
        num_cls_layers: int = 2,
        block_params: dict[str, Any] | None = None,
        cls_block_params: dict[str, Any] | None = None,
        activation: str = "gelu",
        train_trim: bool = True,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if seed is not None:
            torch.manual_seed(seed)
        self.cpf_embed = Embed(cpf_input_dim, tuple(embed_dims), activation)
        self.npf_embed = Embed(npf_input_dim, tuple(embed_dims), activation)
        self.sv_embed = Embed(sv_input_dim, tuple(embed_dims), activation)
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
            train_trim=train_trim,
        )

    @classmethod
    def from_config(cls, config: Any, input_map: Mapping[tuple[str, str], str], **kwargs: Any) -> UParT:
        """Input sizes from the config's ``cpf_features``, ``npf_features``, ``sv_features``, classes from its
        labels, one regression head per head its loss names besides ``logits`` (unless ``regression_heads``
        is given)."""
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
                    c != "sv",  # PF candidates are trimmed at random in training, as ParT's particles
                )
                for c in COLLECTIONS
            ]
        )
