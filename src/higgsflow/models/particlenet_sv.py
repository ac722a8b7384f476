"""ParticleNet over two collections: particle-flow candidates and secondary vertices (as weaver-core's
``ParticleNetTagger``), with a class head and optional regression heads.

Each collection has its own feature embedding (weaver-core's ``FeatureConv``: batch norm, kernel-1 convolution to a
common width, batch norm, ReLU), applied per token; the points and embedded features of PF and SV tokens are
concatenated along the token axis (PF then SV, each with its padding) and one ParticleNet
(:class:`higgsflow.models.particlenet.ParticleNet`: EdgeConv blocks, the first kNN in the ``points``, i.e. (Δη, Δφ)
to the jet axis, later ones in feature space; optional fusion; mean over real tokens) runs on the union. Its fully
connected head gives the ``logits``; each regression head (e.g. ``pt_corr``, taken by
:meth:`ParticleNetSV.from_config` from the config's ``loss`` section) is one linear output on the head's last
hidden layer.

Neighbours are searched among real tokens only (a padded PF slot between the PF and SV tokens is never a neighbour),
so a jet with fewer real tokens than ``k`` averages over the ones it has and no score depends on the padding.
Parameter names are weaver-core's (``pf_conv``, ``sv_conv``, ``pn.*``): a ``ParticleNetTagger`` checkpoint loads.

Input groups: ``pf_points``, ``pf_features``, ``pf_mask``, ``sv_points``, ``sv_features``, ``sv_mask``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from higgsflow.models.contract import ContractModel
from higgsflow.models.part import random_trim, trim_to_longest
from higgsflow.models.particlenet import ParticleNet

__all__ = ["FeatureConv", "ParticleNetSV"]


class FeatureConv(nn.Module):
    """weaver-core's per-token embedding ``(N, C_in, P) -> (N, C_out, P)``: BN, kernel-1 Conv1d, BN, ReLU."""

    def __init__(self, in_chn: int, out_chn: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.BatchNorm1d(in_chn),
            nn.Conv1d(in_chn, out_chn, kernel_size=1, bias=False),
            nn.BatchNorm1d(out_chn),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class ParticleNetSV(ContractModel):
    """ParticleNet on PF + SV tokens; ``forward(inputs)`` returns ``{"logits": (N, K), <regression head>: (N,)}``.

    Defaults are weaver-core's ``ParticleNetTagger``: 32-channel embeddings, EdgeConv blocks k = 7 with
    (32, 32, 32) and (64, 64, 64) channels, fusion, one hidden layer of 128 (dropout 0.1).
    """

    input_groups: ClassVar[dict[str, tuple[str, ...]]] = {
        "pf": ("points", "features", "mask"),
        "sv": ("points", "features", "mask"),
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
        embed_dim: int = 32,
        conv_params: tuple = ((7, (32, 32, 32)), (7, (64, 64, 64))),
        fc_params: tuple = ((128, 0.1),),
        use_fusion: bool = True,
        use_fts_bn: bool = True,
        train_trim: bool = True,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if seed is not None:
            torch.manual_seed(seed)
        self.train_trim = train_trim
        self.heads = ("logits", *regression_heads)
        self.pf_conv = FeatureConv(pf_input_dim, embed_dim)
        self.sv_conv = FeatureConv(sv_input_dim, embed_dim)
        conv_params = tuple((k, tuple(ch)) for k, ch in conv_params)
        fc_params = tuple(tuple(p) for p in fc_params)
        self.pn = ParticleNet(
            embed_dim,
            num_classes,
            conv_params=conv_params,
            fc_params=fc_params,
            use_fusion=use_fusion,
            use_fts_bn=use_fts_bn,
            train_trim=False,
        )
        hidden = self.pn.fc[-1].in_features
        self.regression = nn.ModuleDict({h: nn.Linear(hidden, 1) for h in regression_heads})

    @classmethod
    def from_config(
        cls, config: Any, input_map: Mapping[tuple[str, str], str], **kwargs: Any
    ) -> ParticleNetSV:
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

    @property
    def edge_convs(self) -> nn.ModuleList:
        """The EdgeConv blocks (ONNX export reads their ``k`` to feed at least k + 1 slots)."""
        return self.pn.edge_convs

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        pf_p, pf_x = self.group(inputs, "pf", "points"), self.group(inputs, "pf", "features")
        sv_p, sv_x = self.group(inputs, "sv", "points"), self.group(inputs, "sv", "features")
        pf_m, sv_m = self.group(inputs, "pf", "mask").bool(), self.group(inputs, "sv", "mask").bool()
        # each collection is trimmed on its own: after the concatenation real tokens are no longer left-aligned
        if self.training and self.train_trim:
            pf_m, pf_p, pf_x = random_trim(pf_m, pf_p, pf_x)
        elif not self.export_mode:
            pf_m, pf_p, pf_x = trim_to_longest(pf_m, pf_p, pf_x)
        if not self.export_mode:
            sv_m, sv_p, sv_x = trim_to_longest(sv_m, sv_p, sv_x)
        pf_w, sv_w = pf_m.to(pf_x.dtype), sv_m.to(sv_x.dtype)
        features = torch.cat((self.pf_conv(pf_x * pf_w) * pf_w, self.sv_conv(sv_x * sv_w) * sv_w), dim=2)
        points = torch.cat((pf_p, sv_p), dim=2)
        mask = torch.cat((pf_m, sv_m), dim=2)
        z = self.pn.fc[:-1](self.pn.pool(mask, points, features))
        out = {"logits": self.pn.fc[-1](z)}
        for h, lin in self.regression.items():
            out[h] = lin(z).squeeze(-1)
        return out
