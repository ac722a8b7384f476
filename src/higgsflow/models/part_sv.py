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

__all__ = ["ParticleTransformerSV", "TokenParT", "regression_heads_from_config"]

_MASKED = -1.0e4  # logit offset of padded keys (as in ParT)


class TokenParT(ContractModel):
    """The ParT over several token collections shared by :class:`ParticleTransformerSV`,
    :class:`higgsflow.models.upart.UParT` and :class:`higgsflow.models.event_part.EventParT`.

    A subclass names its ``collections`` (in sequence order) and which of them are ``particle_collections``
    (trimmed at random in training, as ParT's particles); each collection gets its own :class:`Embed`
    (``<collection>_embed``, its own feature list); the tokens of all collections are concatenated into one
    sequence with pair features from their four-vectors, then particle- and class-attention blocks, the
    ``logits`` head and one linear output per regression head. Each collection is one input group
    ``<collection>_features, <collection>_vectors, <collection>_mask``. A subclass's ``defaults`` override the
    keyword defaults below (e.g. a smaller event-level model)."""

    #: the token collections, in sequence order
    collections: ClassVar[tuple[str, ...]] = ()
    #: the collections of particles, trimmed at random in training (weaver-core's ``trim``)
    particle_collections: ClassVar[frozenset[str]] = frozenset()
    #: keyword defaults of this model that differ from :class:`TokenParT`'s
    defaults: ClassVar[dict[str, Any]] = {}
    export_mode = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.input_groups = {c: ("features", "vectors", "mask") for c in cls.collections}

    def __init__(
        self,
        input_dims: tuple[int, ...],
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
        if len(input_dims) != len(self.collections):
            raise ValueError(
                f"{type(self).__name__} takes one input size per collection {self.collections}, got {input_dims}"
            )
        if seed is not None:
            torch.manual_seed(seed)
        for c, dim in zip(self.collections, input_dims, strict=True):
            setattr(self, f"{c}_embed", Embed(dim, tuple(embed_dims), activation))
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
    def from_config(cls, config: Any, input_map: Mapping[tuple[str, str], str], **kwargs: Any) -> TokenParT:
        """Input sizes from the config's ``<collection>_features`` groups, classes from its labels and one
        regression head per head its loss names besides ``logits`` (unless ``regression_heads`` is given)."""
        kwargs.setdefault("regression_heads", regression_heads_from_config(config))
        dims = [len(config.inputs[input_map[(c, "features")]].variables) for c in cls.collections]
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
                    c in self.particle_collections,
                )
                for c in self.collections
            ]
        )

    def no_weight_decay(self) -> set[str]:
        return {"cls_token"}

    def _encode(
        self, collections: list[tuple[Embed, torch.Tensor, torch.Tensor, torch.Tensor, bool]]
    ) -> dict[str, torch.Tensor]:
        """Heads from ``(embedding, features, vectors, mask, particles)`` per collection, in token order;
        ``particles`` collections are randomly trimmed in training (weaver-core's ``trim``), every collection is
        cut to its longest jet otherwise (not in export mode)."""
        xs, vs, ms = [], [], []
        for embed, x, v, m, particles in collections:
            m = m.bool()
            if self.training and self.train_trim and particles:
                m, x, v = random_trim(m, x, v)
            elif not self.export_mode:
                m, x, v = trim_to_longest(m, x, v)
            xs.append(embed(x))
            vs.append(v)
            ms.append(m)
        x = torch.cat(xs, dim=1)  # (N, T, E)
        v = torch.cat(vs, dim=2)
        mask = torch.cat(ms, dim=2)
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


def regression_heads_from_config(config: Any) -> tuple[str, ...]:
    """The heads the config's ``loss`` section names besides ``logits``, in order of first use."""
    return tuple(dict.fromkeys(h for _, h in config.required_heads() if h != "logits"))


class ParticleTransformerSV(TokenParT):
    """ParT on PF + SV tokens; ``forward(inputs)`` returns ``{"logits": (N, K), <regression head>: (N,)}``.

    ``ParticleTransformerSV(pf_input_dim, sv_input_dim, num_classes, **kwargs)``, the keyword arguments of
    :class:`TokenParT` (full ParT size by default); PF candidates are trimmed at random in training."""

    collections = ("pf", "sv")
    particle_collections = frozenset({"pf"})

    def __init__(self, pf_input_dim: int, sv_input_dim: int, num_classes: int, **kwargs: Any) -> None:
        super().__init__((pf_input_dim, sv_input_dim), num_classes, **{**self.defaults, **kwargs})
