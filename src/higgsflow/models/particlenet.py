"""ParticleNet (Qu, Gouskos, arXiv:1902.08570): EdgeConv blocks on the particle cloud.

The first EdgeConv finds the k nearest neighbours of every particle in (Δη, Δφ), later ones in the learned
feature
space; the edge features ``(x_i, x_j − x_i)`` pass a shared MLP and are averaged over the neighbours, with
a shortcut;
optional fusion of all blocks, masked mean pooling over real particles and a fully connected head.

Parameter names follow weaver-core's ``ParticleNet`` (checkpoints load directly). Neighbours are searched
among
real particles only. For a jet with more than ``k`` particles this is exactly weaver-core's result; a jet with
``n ≤ k`` particles uses its ``n − 1`` real neighbours and averages over them (weaver-core would also pick
padded
slots), so its score does not depend on how long it was padded.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from higgsflow.models.part import bucketed, eval_chunk_size, random_trim, trim_to_longest
from higgsflow.physics.pairs import delta_phi

__all__ = ["ParticleNet"]


def _distances(x: torch.Tensor, etaphi: bool) -> torch.Tensor:
    """Squared distances (N, P, P) between the points ``x`` (N, C, P); in (η, φ) with φ wrapped."""
    if etaphi:
        eta, phi = x[:, 0], x[:, 1]
        return (eta.unsqueeze(-1) - eta.unsqueeze(-2)) ** 2 + delta_phi(
            phi.unsqueeze(-1), phi.unsqueeze(-2)
        ) ** 2
    inner = -2 * torch.matmul(x.transpose(2, 1), x)
    xx = torch.sum(x**2, dim=1, keepdim=True)
    return (xx.transpose(2, 1) + inner + xx).clamp(min=0)


@torch.no_grad()
def _nearest(dist: torch.Tensor, n: int, big: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``n`` smallest distances of each row and their indices. On an exact tie between the n-th and the next
    one (two real particles at the same distance, e.g. one at the same (η, φ) as another) the lower index wins,
    as in ONNX's TopK, so an exported model picks the same neighbours (``topk`` leaves the order of ties open)."""
    if n >= dist.size(-1):
        return dist.topk(k=n, dim=-1, largest=False)
    vals, idx = dist.topk(k=n + 1, dim=-1, largest=False)
    tie = (vals[..., n - 1] == vals[..., n]) & (vals[..., n] < big)
    vals, idx = vals[..., :n], idx[..., :n]
    if tie.any():
        s_vals, s_idx = dist[tie].sort(dim=-1, stable=True)
        vals, idx = vals.clone(), idx.clone()
        vals[tie], idx[tie] = s_vals[:, :n], s_idx[:, :n]
    return vals, idx


class EdgeConvBlock(nn.Module):
    def __init__(self, k: int, in_feat: int, out_feats: tuple[int, ...]) -> None:
        super().__init__()
        self.k = k
        self.in_feat = in_feat
        self.convs = nn.ModuleList()
        self.bns = nn.ModuleList()
        self.acts = nn.ModuleList()
        for i, out in enumerate(out_feats):
            self.convs.append(nn.Conv2d(2 * in_feat if i == 0 else out_feats[i - 1], out, 1, bias=False))
            self.bns.append(nn.BatchNorm2d(out))
            self.acts.append(nn.ReLU())
        if in_feat == out_feats[-1]:
            self.sc = None
        else:
            self.sc = nn.Conv1d(in_feat, out_feats[-1], kernel_size=1, bias=False)
            self.sc_bn = nn.BatchNorm1d(out_feats[-1])
        self.sc_act = nn.ReLU()

    def forward(
        self, points: torch.Tensor, features: torch.Tensor, mask: torch.Tensor | None, etaphi: bool
    ) -> torch.Tensor:
        """``points`` (N, C_p, P) for the kNN, ``features`` (N, C, P), ``mask`` (N, 1, P) bool or ``None``
        when every slot is a real particle; returns (N, C_out, P)."""
        n, _, p = features.shape
        idx, nb_valid = self._neighbours(points, mask, etaphi, p)
        if not self.training:
            return self._forward_eval(features, idx, nb_valid)
        if nb_valid is None:
            nb_valid = features.new_ones(n, p, self.k)
        nb_valid = nb_valid.to(features.dtype)
        fts_t = features.transpose(1, 2)  # (N, P, C)
        batch = torch.arange(n, device=idx.device).view(-1, 1, 1)
        nbr = fts_t[batch, idx]  # (N, P, k, C)
        center = fts_t.unsqueeze(2).expand_as(nbr)
        x = torch.cat((center, nbr - center), dim=-1).permute(0, 3, 1, 2)  # (N, 2C, P, k)
        for conv, bn, act in zip(self.convs, self.bns, self.acts, strict=True):
            x = act(bn(conv(x)))
        count = nb_valid.sum(-1).clamp(min=1).unsqueeze(1)  # (N, 1, P)
        fts = (x * nb_valid.unsqueeze(1)).sum(-1) / count
        sc = features if self.sc is None else self.sc_bn(self.sc(features))
        return self.sc_act(sc + fts)

    @torch.no_grad()
    def _neighbours(
        self, points: torch.Tensor, mask: torch.Tensor | None, etaphi: bool, p: int
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The k nearest real neighbours (N, P, k) of every slot and which of them exist (N, P, k) bool, or
        ``None`` when all do (every slot real and more than k of them). The selection is not differentiable:
        no graph is recorded for it."""
        tracing = torch.jit.is_tracing()
        # exported graphs need a constant k: they are fed at least k + 1 slots (padding is harmless)
        k = self.k if tracing else min(self.k, max(p - 1, 1))
        dist = _distances(points, etaphi)
        big = torch.finfo(dist.dtype).max
        if mask is not None:
            dist = dist.masked_fill(~mask[:, 0].unsqueeze(1), big)  # never pick a padded neighbour
        elif not tracing and p > self.k:
            dist.diagonal(dim1=1, dim2=2).fill_(-1.0)  # self first, then dropped (as weaver-core)
            return _nearest(dist, k + 1, big)[1][:, :, 1:], None
        ar = torch.arange(p, device=dist.device)
        dist = dist.masked_fill(ar.unsqueeze(0) == ar.unsqueeze(1), -1.0)  # self first, then dropped
        if tracing:
            vals, idx = dist.topk(k=k + 1, dim=-1, largest=False)
        else:
            vals, idx = _nearest(dist, min(k + 1, p), big)
        idx, vals = idx[:, :, 1:], vals[:, :, 1:]
        if not tracing and idx.size(-1) < self.k:
            n, pad = idx.size(0), self.k - idx.size(-1)
            idx = torch.cat((idx, idx.new_zeros(n, p, pad)), dim=-1)
            vals = torch.cat((vals, vals.new_full((n, p, pad), big)), dim=-1)
        return idx, vals < big

    def _forward_eval(
        self, features: torch.Tensor, idx: torch.Tensor, nb_valid: torch.Tensor | None
    ) -> torch.Tensor:
        """Eval mode, the same function with less work: every BatchNorm folded into the layer before it, and
        the first layer split, ``W·(x_i, x_j − x_i) = (W_1 − W_2)·x_i + W_2·x_j``, so it runs once per
        particle instead of once per edge; the edge MLP runs channels-last as matrix products."""
        n, _, p = features.shape
        k = self.k  # idx is (N, P, k) always (padded to k for short jets): a constant in an exported graph
        fts_t = features.transpose(1, 2)  # (N, P, C)
        w, b = _fold(self.convs[0].weight, self.bns[0])
        w_i, w_j = w[:, : self.in_feat], w[:, self.in_feat :]  # a constant split (not from the input's shape)
        c1 = w.size(0)
        # the per-particle products in one: centre term, neighbour term and (when there is one) the shortcut
        ws, bs = [w_i - w_j, w_j], [b, torch.zeros_like(b)]
        if self.sc is not None:
            w_sc, b_sc = _fold(self.sc.weight, self.sc_bn)
            ws.append(w_sc)
            bs.append(b_sc)
        per_particle = F.linear(fts_t, torch.cat(ws), torch.cat(bs))  # (N, P, 2 C' [+ C_out])
        center, nbr = per_particle[..., :c1], per_particle[..., c1 : 2 * c1]
        flat = idx + torch.arange(n, device=idx.device).view(-1, 1, 1) * p
        # reshapes with constant channel counts (no shape arithmetic in an exported graph)
        x = nbr.reshape(-1, c1).index_select(0, flat.reshape(-1)).view(-1, k, c1)
        x = x.add_(center.reshape(-1, 1, c1)).relu_().view(-1, c1)  # (N·P·k, C')
        for conv, bn in zip(self.convs[1:], self.bns[1:], strict=True):
            w, b = _fold(conv.weight, bn)
            x = torch.addmm(b, x, w.t()).relu_()  # (N·P·k, C')
        c_out = self.convs[-1].out_channels
        x = x.view(-1, k, c_out)
        if nb_valid is None:
            fts = x.mean(dim=1)
        else:
            valid = nb_valid.to(x.dtype).reshape(-1, 1, k)  # (N·P, 1, k)
            # a batched product, not einsum: 3-4× faster in PyTorch and in ONNX Runtime on one core
            fts = torch.matmul(valid, x).view(-1, c_out) / valid.sum(-1).clamp(min=1)
        sc = fts_t if self.sc is None else per_particle[..., 2 * c1 :]
        return (sc + fts.view_as(sc)).relu_().transpose(1, 2)


def _real_first(mask: torch.Tensor, *tensors: torch.Tensor, min_length: int) -> tuple[torch.Tensor, ...]:
    """Exported graphs: the real particles of every jet moved to the front, in their order, and the particle axis
    cut to the longest jet (at least ``min_length`` slots, as the kNN needs; never more than it had). The
    result does not change (real particles keep their order, so kNN ties go the same way), but a jet fed padded
    to a fixed length (as CMSSW's producers do) costs only its real particles."""
    p = mask.size(-1)
    ar = torch.arange(p, device=mask.device)
    key = ar + (~mask[:, 0]).long() * p  # (N, P), unique per jet: real particles first, each in its order
    longest = mask[:, 0].long().sum(-1).max().clamp(min=min_length, max=p)
    order = key.argsort(dim=-1).index_select(1, torch.arange(longest, device=mask.device)).unsqueeze(1)
    return tuple(torch.gather(t, 2, order.expand(-1, t.size(1), -1)) for t in (mask, *tensors))


def _fold(weight: torch.Tensor, bn: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """The 1×1 convolution ``weight`` (C', C, 1[, 1]) followed by the eval-mode BatchNorm ``bn`` as one affine map
    ``(W (C', C), b (C'))``."""
    scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
    return weight.flatten(1) * scale.unsqueeze(1), bn.bias - bn.running_mean * scale


class ParticleNet(nn.Module):
    """ParticleNet; ``forward(points, features, vectors, mask)`` returns class logits (N, K).

    ``points`` (N, 2, P) = (Δη, Δφ) for the first kNN, ``features`` (N, C, P), ``mask`` (N, 1, P);
    ``vectors`` is
    unused. Defaults are the JetClass ParticleNet of particle_transformer (k = 16; 64/128/256 channels).
    """

    input_roles = ("points", "features", "mask")
    export_mode = False
    eval_chunk = 64
    eval_chunk_gpu = 4096

    def __init__(
        self,
        input_dims: int,
        num_classes: int,
        *,
        conv_params: tuple = ((16, (64, 64, 64)), (16, (128, 128, 128)), (16, (256, 256, 256))),
        fc_params: tuple = ((256, 0.1),),
        use_fusion: bool = False,
        use_fts_bn: bool = True,
        train_trim: bool = True,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if seed is not None:
            torch.manual_seed(seed)
        self.train_trim = train_trim
        self.config = {
            "input_dims": input_dims,
            "num_classes": num_classes,
            "conv_params": [[k, list(ch)] for k, ch in conv_params],
            "fc_params": [list(p) for p in fc_params],
            "use_fusion": use_fusion,
            "use_fts_bn": use_fts_bn,
            "train_trim": train_trim,
        }
        self.use_fts_bn = use_fts_bn
        if use_fts_bn:
            self.bn_fts = nn.BatchNorm1d(input_dims)
        self.edge_convs = nn.ModuleList()
        for i, (k, channels) in enumerate(conv_params):
            in_feat = input_dims if i == 0 else conv_params[i - 1][1][-1]
            self.edge_convs.append(EdgeConvBlock(k, in_feat, tuple(channels)))
        self.use_fusion = use_fusion
        if use_fusion:
            in_chn = sum(ch[-1] for _, ch in conv_params)
            out_chn = int(min(max((in_chn // 128) * 128, 128), 1024))
            self.fusion_block = nn.Sequential(
                nn.Conv1d(in_chn, out_chn, kernel_size=1, bias=False), nn.BatchNorm1d(out_chn), nn.ReLU()
            )
        fcs: list[nn.Module] = []
        d = out_chn if use_fusion else conv_params[-1][1][-1]
        for channels, drop in fc_params:
            fcs.append(nn.Sequential(nn.Linear(d, channels), nn.ReLU(), nn.Dropout(drop)))
            d = channels
        fcs.append(nn.Linear(d, num_classes))
        self.fc = nn.Sequential(*fcs)

    def forward(
        self,
        points: torch.Tensor,
        features: torch.Tensor,
        vectors: torch.Tensor | None,
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        if mask is None:
            mask = torch.ones_like(features[:, :1])
        mask = mask.bool()
        chunk = eval_chunk_size(self, mask)
        if not self.training and not self.export_mode and mask.size(0) > chunk:
            return bucketed(lambda m, p, f: self._forward(m, p, f), mask, [points, features], chunk)
        return self._forward(mask, points, features)

    def _forward(self, mask: torch.Tensor, points: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        if self.training and self.train_trim:
            mask, points, features = random_trim(mask, points, features)
        elif not self.export_mode:
            mask, points, features = trim_to_longest(mask, points, features)
        return self.fc(self.pool(mask, points, features))

    def pool(self, mask: torch.Tensor, points: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """The EdgeConv blocks (and the fusion) on the real particles of ``mask`` (N, 1, P) bool, mean-pooled
        over them: (N, C), the input of the head ``fc``. Padded slots may sit anywhere along the axis."""
        if not self.training and not self.export_mode and bool(mask.all()):
            return self._pool_full(points, features)  # e.g. one jet, cut to its length
        if self.export_mode:
            k_min = max(conv.k for conv in self.edge_convs) + 1
            mask, points, features = _real_first(mask, points, features, min_length=k_min)
        pad = ~mask
        counts = mask.to(features.dtype).sum(dim=-1).clamp(min=1)
        fts = self.bn_fts(features).masked_fill(pad, 0) if self.use_fts_bn else features
        outputs = []
        for i, conv in enumerate(self.edge_convs):
            pts = points if i == 0 else fts
            fts = conv(pts, fts, mask, etaphi=False).masked_fill(pad, 0)
            outputs.append(fts)
        if self.use_fusion:
            fts = self.fusion_block(torch.cat(outputs, dim=1)).masked_fill(pad, 0)
        return fts.sum(dim=-1) / counts

    def _pool_full(self, points: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Eval mode when every slot holds a real particle: no masks to build or apply."""
        fts = self.bn_fts(features) if self.use_fts_bn else features
        outputs = []
        for i, conv in enumerate(self.edge_convs):
            fts = conv(points if i == 0 else fts, fts, None, etaphi=False)
            outputs.append(fts)
        if self.use_fusion:
            fts = self.fusion_block(torch.cat(outputs, dim=1))
        return fts.mean(dim=-1)
