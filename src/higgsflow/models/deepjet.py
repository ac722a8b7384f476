"""A DeepJet-like baseline (CMS DeepJet, arXiv:2008.10519; JINST 15 (2020) P12012) on the model contract.

Per collection, 1×1 convolutions (charged 64-32-32-8, neutral 32-16-4, SV 64-32-32-8; ReLU, dropout 0.1) compress
each candidate; an LSTM per collection (150, 50, 50 units) reads the candidates of a jet from its last real one
to its first (Keras's ``go_backwards`` of DeepJet, so the leading candidate is read last) and its final state
summarises the collection; the three summaries and, when the config gives them, the global jet features go
through a dense layer of 200 and seven of 100 (each linear → batch norm → ReLU → dropout 0.1) to the ``logits``
head and one linear output per regression head the config's ``loss`` names.

The LSTM reads only real candidates (its state is taken at each jet's own last step), so a jet scores the same
whatever it is padded to; a jet with no candidate of a collection gets a zero summary. The inputs are
standardised by the data config, so there is no input batch norm. Input groups: ``cpf_features, cpf_mask``,
``npf_features, npf_mask``, ``sv_features, sv_mask`` and optionally ``jet_features`` (length 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from higgsflow.models.contract import ContractModel
from higgsflow.models.part_sv import regression_heads_from_config

__all__ = ["DeepJet"]


def _convs(input_dim: int, dims: tuple[int, ...], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for d in dims:
        layers += [nn.Conv1d(input_dim, d, 1), nn.ReLU(), nn.Dropout(dropout)]
        input_dim = d
    return nn.Sequential(*layers)


class _Sequence(nn.Module):
    """1×1 convolutions then an LSTM over the real candidates of each jet, read last to first."""

    def __init__(self, input_dim: int, conv_dims: tuple[int, ...], lstm_dim: int, dropout: float) -> None:
        super().__init__()
        self.conv = _convs(input_dim, conv_dims, dropout)
        self.lstm = nn.LSTM(conv_dims[-1] if conv_dims else input_dim, lstm_dim, batch_first=True)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # (N, C, P), (N, 1, P) -> (N, H)
        m = mask.bool()[:, 0]  # real candidates come first
        length = m.sum(dim=1)
        p = x.size(-1)
        # step s reads candidate length-1-s (the real ones in reverse); steps past the length repeat the first
        steps = torch.arange(p, device=x.device).unsqueeze(0)
        idx = (length.unsqueeze(1) - 1 - steps).clamp(min=0)
        h = self.conv(x * m.unsqueeze(1).to(x.dtype)).transpose(1, 2)  # (N, P, D)
        h = torch.gather(h, 1, idx.unsqueeze(-1).expand(-1, -1, h.size(-1)))
        out, _ = self.lstm(h)  # (N, P, H)
        last = (length - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, out.size(-1))
        state = torch.gather(out, 1, last).squeeze(1)
        return state * (length > 0).unsqueeze(1).to(state.dtype)


class DeepJet(ContractModel):
    """The DeepJet-like tagger; ``forward(inputs)`` returns ``{"logits": (N, K), <head>: (N,)}``."""

    input_groups: ClassVar[dict[str, tuple[str, ...]]] = {
        "cpf": ("features", "mask"),
        "npf": ("features", "mask"),
        "sv": ("features", "mask"),
        "jet": ("features?",),
    }
    heads: tuple[str, ...] = ("logits",)

    def __init__(
        self,
        cpf_input_dim: int,
        npf_input_dim: int,
        sv_input_dim: int,
        num_classes: int,
        *,
        jet_input_dim: int = 0,
        regression_heads: tuple[str, ...] = (),
        cpf_conv: tuple[int, ...] = (64, 32, 32, 8),
        npf_conv: tuple[int, ...] = (32, 16, 4),
        sv_conv: tuple[int, ...] = (64, 32, 32, 8),
        lstm_dims: tuple[int, int, int] = (150, 50, 50),
        dense_dims: tuple[int, ...] = (200, 100, 100, 100, 100, 100, 100, 100),
        dropout: float = 0.1,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if seed is not None:
            torch.manual_seed(seed)
        self.heads = ("logits", *regression_heads)
        self.cpf = _Sequence(cpf_input_dim, tuple(cpf_conv), lstm_dims[0], dropout)
        self.npf = _Sequence(npf_input_dim, tuple(npf_conv), lstm_dims[1], dropout)
        self.sv = _Sequence(sv_input_dim, tuple(sv_conv), lstm_dims[2], dropout)
        d = sum(lstm_dims) + jet_input_dim
        layers: list[nn.Module] = []
        for width in dense_dims:
            layers += [nn.Linear(d, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Dropout(dropout)]
            d = width
        self.dense = nn.Sequential(*layers)
        self.fc = nn.Linear(d, num_classes)
        self.regression = nn.ModuleDict({h: nn.Linear(d, 1) for h in regression_heads})

    @classmethod
    def from_config(cls, config: Any, input_map: Mapping[tuple[str, str], str], **kwargs: Any) -> DeepJet:
        """Input sizes from the config's ``cpf/npf/sv_features`` (and ``jet_features`` if it has them), classes
        from its labels, regression heads from its loss."""
        kwargs.setdefault("regression_heads", regression_heads_from_config(config))
        dims = [len(config.inputs[input_map[(c, "features")]].variables) for c in ("cpf", "npf", "sv")]
        if ("jet", "features") in input_map:
            kwargs.setdefault("jet_input_dim", len(config.inputs[input_map[("jet", "features")]].variables))
        return cls(*dims, config.num_classes, **kwargs)

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        g = self.group
        parts = [
            self.cpf(g(inputs, "cpf", "features"), g(inputs, "cpf", "mask")),
            self.npf(g(inputs, "npf", "features"), g(inputs, "npf", "mask")),
            self.sv(g(inputs, "sv", "features"), g(inputs, "sv", "mask")),
        ]
        jet = g(inputs, "jet", "features")
        if jet is not None:
            parts.append(jet.flatten(1))
        z = self.dense(torch.cat(parts, dim=1))
        out = {"logits": self.fc(z)}
        for h, lin in self.regression.items():
            out[h] = lin(z).squeeze(-1)
        return out
