"""ParT over two collections: particle-flow candidates and secondary vertices (as weaver-core's
``ParticleTransformerTagger``), with a class head and optional regression heads.

PF and SV tokens have separate embeddings (each collection its own feature list) and are concatenated into one
sequence of PF then SV tokens; the pairwise features (ln k_T, ln z, ln Δ, ln m²) are computed for every pair of
real tokens of the concatenated sequence (PF-PF, PF-SV and SV-SV, as weaver-core does) from the four-vectors of
both collections. Particle-attention blocks, class-attention blocks and a class token follow as in ParT; the
class token feeds the ``logits`` head and one linear output per regression head (e.g. ``pt_corr``), which
:meth:`ParticleTransformerSV.from_config` takes from the config's ``loss`` section.

Input groups: ``pf_features``, ``pf_vectors``, ``pf_mask``, ``sv_features``, ``sv_vectors``, ``sv_mask``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from higgsflow.models.contract import ContractModel
from higgsflow.models.part import Block, Embed, PairEmbed, random_trim, trim_to_longest

__all__ = ["ParticleTransformerSV"]

_MASKED = -1.0e4  # logit offset of padded keys (as in ParT)


class ParticleTransformerSV(ContractModel):
    """ParT on PF + SV tokens; ``forward(inputs)`` returns ``{"logits": (N, K), <regression head>: (N,)}``."""

    input_groups: ClassVar[dict[str, tuple[str, ...]]] = {
        "pf": ("features", "vectors", "mask"),
        "sv": ("features", "vectors", "mask"),
    }
    heads: tuple[str, ...] = ("logits",)
    export_mode = False

    def __init__(
        self,
        pf_input_dim: int,
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
        self.train_trim = train_trim
        self.heads = ("logits", *regression_heads)
        embed_dim = embed_dims[-1]
        cfg = {"embed_dim": embed_dim, "num_heads": num_heads, "activation": activation}
        cfg_cls = {
            **cfg,
            "dropout": 0.0,
            "attn_dropout": 0.0,
            "activation_dropout": 0.0,
            **(cls_block_params or {}),
        }
        self.pf_embed = Embed(pf_input_dim, tuple(embed_dims), activation)
        self.sv_embed = Embed(sv_input_dim, tuple(embed_dims), activation)
        self.pair_embed = PairEmbed(
            pair_input_dim,
            (*pair_embed_dims, num_heads),
            use_pre_activation_pair=use_pre_activation_pair,
            activation=activation,
        )
        self.blocks = nn.ModuleList([Block(**{**cfg, **(block_params or {})}) for _ in range(num_layers)])
        self.cls_blocks = nn.ModuleList([Block(**copy.deepcopy(cfg_cls)) for _ in range(num_cls_layers)])
        self.norm = nn.LayerNorm(embed_dim)
        self.fc = nn.Linear(embed_dim, num_classes)
        self.regression = nn.ModuleDict({h: nn.Linear(embed_dim, 1) for h in regression_heads})
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    @classmethod
    def from_config(
        cls, config: Any, input_map: Mapping[tuple[str, str], str], **kwargs: Any
    ) -> ParticleTransformerSV:
        """Input sizes from the config's ``pf_features``/``sv_features``, classes from its labels and one
        regression head per head its loss names besides ``logits`` (unless ``regression_heads`` is given)."""
        heads = [h for _, h in config.required_heads() if h != "logits"]
        kwargs.setdefault("regression_heads", tuple(dict.fromkeys(heads)))
        return cls(
            len(config.inputs[input_map[("pf", "features")]].variables),
            len(config.inputs[input_map[("sv", "features")]].variables),
            config.num_classes,
            **kwargs,
        )

    def no_weight_decay(self) -> set[str]:
        return {"cls_token"}

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        pf_x, pf_v = self.group(inputs, "pf", "features"), self.group(inputs, "pf", "vectors")
        sv_x, sv_v = self.group(inputs, "sv", "features"), self.group(inputs, "sv", "vectors")
        pf_m, sv_m = self.group(inputs, "pf", "mask").bool(), self.group(inputs, "sv", "mask").bool()
        if self.training and self.train_trim:
            pf_m, pf_x, pf_v = random_trim(pf_m, pf_x, pf_v)
        elif not self.export_mode:
            pf_m, pf_x, pf_v = trim_to_longest(pf_m, pf_x, pf_v)
        if not self.export_mode:
            sv_m, sv_x, sv_v = trim_to_longest(sv_m, sv_x, sv_v)
        x = torch.cat((self.pf_embed(pf_x), self.sv_embed(sv_x)), dim=1)  # (N, P + S, E)
        v = torch.cat((pf_v, sv_v), dim=2)
        mask = torch.cat((pf_m, sv_m), dim=2)
        # a jet without any token attends to one zero token instead of nothing
        mask = torch.cat((mask[..., :1] | ~mask.any(dim=-1, keepdim=True), mask[..., 1:]), dim=-1)
        n, t = x.shape[0], x.shape[1]
        x = x.masked_fill(~mask.transpose(1, 2), 0.0)
        key_pad = torch.zeros(n, 1, 1, t, dtype=x.dtype, device=x.device).masked_fill(
            ~mask.view(n, 1, 1, t), _MASKED
        )
        attn_mask = self.pair_embed(v, mask).to(x.dtype) + key_pad
        for blk in self.blocks:
            x = blk(x, attn_mask)
        cls_mask = F.pad(key_pad, (1, 0), value=0.0)
        c = self.cls_token.expand(n, -1, -1)
        for blk in self.cls_blocks:
            c = blk(x, cls_mask, x_cls=c)
        z = self.norm(c.squeeze(1))
        out = {"logits": self.fc(z)}
        for h, lin in self.regression.items():
            out[h] = lin(z).squeeze(-1)
        return out
