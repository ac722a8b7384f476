"""Particle Transformer (ParT; Qu, Li, Qian, arXiv:2202.03772).

Particles are embedded by an MLP (128, 512, 128); the pairwise features (ln k_T, ln z, ln Δ, ln m²) of
every pair
of real particles are embedded by pointwise convolutions (64, 64, 64, n_heads) into one bias per attention
head,
added to the attention logits of 8 particle-attention blocks (8 heads); two class-attention blocks with a
class
token pool the jet, and a linear layer gives the class logits.

The parameter names are those of weaver-core's ``ParticleTransformer`` so that weaver-core /
particle_transformer
checkpoints load directly (:func:`higgsflow.models.weaver.load_weaver_state_dict`). Differences that do not
change
the function: in eval mode the batch is trimmed to its longest jet (so a jet scores the same whatever it
was padded
to); in training, as weaver-core, particles are shuffled and the batch cut to a random 90-100 % quantile of
its
multiplicities (``train_trim``);
pair features are computed and embedded for real pairs only (i ≥ j, mirrored), attention uses
``F.scaled_dot_product_attention`` with the pair bias as additive mask.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from higgsflow.physics.pairs import pair_features

__all__ = ["ParticleTransformer"]

# logit offset of padded keys: exp(-1e4) is exactly 0 in float32 and float16, and unlike -inf it survives
# ONNX Runtime's attention decomposition without NaN
_MASKED = -1.0e4


def trim_to_longest(mask: torch.Tensor, *tensors: torch.Tensor | None):
    """Cut the particle axis (last) to the longest jet of the batch (at least 1)."""
    n = int(mask.sum(dim=-1).max().clamp(min=1)) if mask.numel() else 1
    if n >= mask.size(-1):
        return (mask, *tensors)
    return (mask[..., :n], *(t[..., :n] if t is not None else None for t in tensors))


def random_trim(mask: torch.Tensor, *tensors: torch.Tensor | None, target=(0.9, 1.02)):
    """Training-time trimming of weaver-core: shuffle the real particles of each jet and cut the batch to a
    random
    quantile q ~ U(target) (capped at 1) of its multiplicities, so long jets lose a few random particles."""
    lengths = mask.float().sum(dim=-1).flatten()
    q = torch.empty(1).uniform_(*target).clamp_(max=1.0)
    maxlen = int(torch.quantile(lengths, q.to(lengths.device)).long().clamp(min=1))
    rand = torch.rand(mask.shape, device=mask.device).masked_fill_(~mask, -1.0)
    perm = rand.argsort(dim=-1, descending=True)[..., :maxlen]  # (N, 1, L')
    out = [torch.gather(mask, -1, perm)]
    for t in tensors:
        out.append(None if t is None else torch.gather(t, -1, perm.expand(-1, t.size(1), -1)))
    return tuple(out)


def eval_chunk_size(model: nn.Module, t: torch.Tensor) -> int:
    """Jets per length-sorted eval chunk: small on the CPU, where padding costs the most; large on a GPU,
    where many small launches cost more than the padding (measured on an H100: benchmarks/gpu_check.py)."""
    return model.eval_chunk if t.device.type == "cpu" else model.eval_chunk_gpu


def bucketed(fn, mask: torch.Tensor, tensors: list[torch.Tensor | None], chunk: int) -> torch.Tensor:
    """Eval-mode helper: run ``fn(mask, *tensors)`` on length-sorted chunks of ``chunk`` jets, each then
    trimmed to
    its own longest jet, and put the outputs back in the original order (jets are independent in eval
    mode)."""
    n = mask.size(0)
    order = mask.reshape(n, -1).sum(dim=-1).argsort()
    outs, idxs = [], []
    for start in range(0, n, chunk):
        idx = order[start : start + chunk]
        outs.append(fn(mask[idx], *[None if t is None else t[idx] for t in tensors]))
        idxs.append(idx)
    out = torch.empty((n, *outs[0].shape[1:]), dtype=outs[0].dtype, device=outs[0].device)
    out[torch.cat(idxs)] = torch.cat(outs)
    return out


class Embed(nn.Module):
    def __init__(self, input_dim: int, dims: tuple[int, ...], activation: str = "gelu") -> None:
        super().__init__()
        self.input_bn = nn.BatchNorm1d(input_dim)
        layers: list[nn.Module] = []
        for dim in dims:
            layers += [nn.LayerNorm(input_dim), nn.Linear(input_dim, dim), _act(activation)]
            input_dim = dim
        self.embed = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, P) -> (N, P, E)
        return self.embed(self.input_bn(x).transpose(1, 2))


def _act(name: str) -> nn.Module:
    return nn.GELU() if name == "gelu" else nn.ReLU()


class PairEmbed(nn.Module):
    """Embeds the pair features of real particle pairs into one attention bias per head."""

    export_mode = False

    def __init__(
        self,
        pair_input_dim: int,
        dims: tuple[int, ...],
        *,
        use_pre_activation_pair: bool = True,
        activation: str = "gelu",
        eps: float = 1e-8,
    ) -> None:
        super().__init__()
        self.pair_input_dim = pair_input_dim
        self.out_dim = dims[-1]
        self.eps = eps
        layers: list[nn.Module] = [nn.BatchNorm1d(pair_input_dim)]
        d = pair_input_dim
        for dim in dims:
            layers += [nn.Conv1d(d, dim, 1), nn.BatchNorm1d(dim), _act(activation)]
            d = dim
        if use_pre_activation_pair:
            layers = layers[:-1]
        self.embed = nn.Sequential(*layers)

    def _mlp(self, u: torch.Tensor) -> torch.Tensor:
        """Apply the pointwise embedding to pair rows ``(M, C)`` (a kernel-1 Conv1d is a Linear)."""
        for layer in self.embed:
            if isinstance(layer, nn.Conv1d):
                u = F.linear(u, layer.weight.squeeze(-1), layer.bias)
            else:
                u = layer(u)
        return u

    def forward(self, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``v`` (N, 4, P) four-vectors, ``mask`` (N, 1, P) bool -> bias (N, H, P, P), zero for padded
        pairs."""
        if self.export_mode or v.device.type != "cpu":
            # dense on GPUs: selecting the real pairs (nonzero) synchronises the device and costs more than it saves
            return self._forward_dense(v, mask)
        n, _, p = v.shape
        b_idx, ii, jj, e = self.pair_rows(v, mask)
        y = e.new_zeros(n, p, p, self.out_dim)
        y[b_idx, ii, jj] = e
        y[b_idx, jj, ii] = e
        return y.permute(0, 3, 1, 2)

    def pair_rows(self, v: torch.Tensor, mask: torch.Tensor):
        """The embedded lower-triangle pairs (i ≥ j) of real particles: jet, i, j indices and the bias rows
        ``(M, H)`` (the batch norms see every real pair of the batch)."""
        p = v.size(-1)
        i, j = torch.tril_indices(p, p, device=v.device)
        m = mask[:, 0]
        valid = m[:, i] & m[:, j]  # (N, T) lower-triangle pairs of real particles
        b_idx, t_idx = valid.nonzero(as_tuple=True)
        vt = v.transpose(1, 2)  # (N, P, 4)
        ii, jj = i[t_idx], j[t_idx]
        u = pair_features(vt[b_idx, ii], vt[b_idx, jj], num_features=self.pair_input_dim, eps=self.eps)
        return b_idx, ii, jj, self._mlp(u)

    def _forward_dense(self, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # every pair, shape-agnostic (for ONNX export); padded pairs are zeroed like in the sparse path
        vt = v.transpose(1, 2)
        u = pair_features(vt.unsqueeze(2), vt.unsqueeze(1), num_features=self.pair_input_dim, eps=self.eps)
        shape = u.shape
        e = self._mlp(u.reshape(-1, shape[-1])).reshape(shape[0], shape[1], shape[2], self.out_dim)
        m = mask[:, 0]
        pair_mask = (m.unsqueeze(2) & m.unsqueeze(1)).unsqueeze(-1)
        # `where`, not a product: ONNX's atan2 decomposition gives NaN for the all-zero padded vectors
        return torch.where(pair_mask, e, torch.zeros_like(e)).permute(0, 3, 1, 2)


class Attention(nn.Module):
    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        self.in_proj = nn.Linear(embed_dim, 3 * embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # nn.MultiheadAttention-era checkpoints store in_proj_weight / in_proj_bias
        for old, new in (("in_proj_weight", "in_proj.weight"), ("in_proj_bias", "in_proj.bias")):
            if prefix + old in state_dict:
                state_dict[prefix + new] = state_dict.pop(prefix + old)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, query: torch.Tensor, kv: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        b, tq, e = query.shape
        tk = kv.shape[1]
        w, bias = self.in_proj.weight, self.in_proj.bias
        if query is kv:
            q, k, v = F.linear(query, w, bias).chunk(3, dim=-1)
        else:
            q = F.linear(query, w[:e], bias[:e])
            k, v = F.linear(kv, w[e:], bias[e:]).chunk(2, dim=-1)
        h, d = self.num_heads, self.head_dim
        q = q.view(b, tq, h, d).transpose(1, 2)
        k = k.view(b, tk, h, d).transpose(1, 2)
        v = v.view(b, tk, h, d).transpose(1, 2)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out_proj(out.transpose(1, 2).reshape(b, tq, e))


class Block(nn.Module):
    """Normformer-style block of ParT: P-MHA (or class attention) + feed-forward, with the paper's extra
    norms."""

    def __init__(
        self,
        embed_dim: int = 128,
        num_heads: int = 8,
        ffn_ratio: int = 4,
        dropout: float = 0.1,
        attn_dropout: float = 0.1,
        activation_dropout: float = 0.1,
        activation: str = "gelu",
    ) -> None:
        super().__init__()
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        ffn_dim = embed_dim * ffn_ratio
        self.pre_attn_norm = nn.LayerNorm(embed_dim)
        self.attn = Attention(embed_dim, num_heads, dropout=attn_dropout)
        self.post_attn_norm = nn.LayerNorm(embed_dim)
        self.dropout = nn.Dropout(dropout)
        self.pre_fc_norm = nn.LayerNorm(embed_dim)
        self.fc1 = nn.Linear(embed_dim, ffn_dim)
        self.act = _act(activation)
        self.act_dropout = nn.Dropout(activation_dropout)
        self.post_fc_norm = nn.LayerNorm(ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, embed_dim)
        self.c_attn = nn.Parameter(torch.ones(num_heads))
        self.w_resid = nn.Parameter(torch.ones(embed_dim))

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor, x_cls: torch.Tensor | None = None):
        if x_cls is not None:
            residual = x_cls
            u = self.pre_attn_norm(torch.cat((x_cls, x), dim=1))
            x = self.attn(x_cls, u, attn_mask)
        else:
            residual = x
            x = self.pre_attn_norm(x)
            x = self.attn(x, x, attn_mask)
        b, t, _ = x.shape
        x = (x.view(b, t, self.num_heads, self.head_dim) * self.c_attn.view(1, 1, -1, 1)).reshape(b, t, -1)
        x = self.dropout(self.post_attn_norm(x)) + residual
        residual = x
        x = self.act_dropout(self.act(self.fc1(self.pre_fc_norm(x))))
        x = self.dropout(self.fc2(self.post_fc_norm(x)))
        return x + self.w_resid * residual


class ParticleTransformer(nn.Module):
    """ParT with the paper's defaults; ``forward(points, features, vectors, mask)`` returns class logits
    (N, K).

    ``features`` (N, C, P) standardised particle features, ``vectors`` (N, 4, P) four-momenta (px, py, pz,
    E) in
    GeV, ``mask`` (N, 1, P) 1 for real particles; ``points`` is unused (accepted for a uniform signature).
    """

    input_roles = ("features", "vectors", "mask")
    export_mode = False  # set by higgsflow.train.export: no trimming, dense pair features (ONNX-traceable)
    eval_chunk = 64  # eval batches larger than this run as length-sorted chunks (less padding, same scores)
    eval_chunk_gpu = 4096
    train_chunk = 64  # CPU training: jets per length-sorted chunk after the batch norms (same function)

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        *,
        pair_input_dim: int = 4,
        use_pre_activation_pair: bool = False,
        embed_dims: tuple[int, ...] = (128, 512, 128),
        pair_embed_dims: tuple[int, ...] = (64, 64, 64),
        num_heads: int = 8,
        num_layers: int = 8,
        num_cls_layers: int = 2,
        block_params: dict[str, Any] | None = None,
        cls_block_params: dict[str, Any] | None = None,
        fc_params: tuple = (),
        activation: str = "gelu",
        train_trim: bool = True,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if seed is not None:
            torch.manual_seed(seed)
        self.train_trim = train_trim
        self.config = {
            "input_dim": input_dim,
            "num_classes": num_classes,
            "pair_input_dim": pair_input_dim,
            "use_pre_activation_pair": use_pre_activation_pair,
            "embed_dims": list(embed_dims),
            "pair_embed_dims": list(pair_embed_dims),
            "num_heads": num_heads,
            "num_layers": num_layers,
            "num_cls_layers": num_cls_layers,
            "block_params": block_params,
            "cls_block_params": cls_block_params,
            "fc_params": [list(p) for p in fc_params],
            "activation": activation,
            "train_trim": train_trim,
        }
        embed_dim = embed_dims[-1]
        cfg = {"embed_dim": embed_dim, "num_heads": num_heads, "activation": activation}
        cfg_block = {**cfg, **(block_params or {})}
        cfg_cls = {
            **cfg,
            "dropout": 0.0,
            "attn_dropout": 0.0,
            "activation_dropout": 0.0,
            **(cls_block_params or {}),
        }
        self.embed = Embed(input_dim, tuple(embed_dims), activation)
        self.pair_embed = (
            PairEmbed(
                pair_input_dim,
                (*pair_embed_dims, num_heads),
                use_pre_activation_pair=use_pre_activation_pair,
                activation=activation,
            )
            if pair_input_dim > 0
            else None
        )
        self.blocks = nn.ModuleList([Block(**cfg_block) for _ in range(num_layers)])
        self.cls_blocks = nn.ModuleList([Block(**copy.deepcopy(cfg_cls)) for _ in range(num_cls_layers)])
        self.norm = nn.LayerNorm(embed_dim)
        fcs: list[nn.Module] = []
        d = embed_dim
        for out_dim, drop in fc_params:
            fcs.append(nn.Sequential(nn.Linear(d, out_dim), nn.ReLU(), nn.Dropout(drop)))
            d = out_dim
        fcs.append(nn.Linear(d, num_classes))
        self.fc = nn.Sequential(*fcs)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self._init_weights()

    def _init_weights(self) -> None:
        # moco-v3 style initialisation as in weaver-core, and the depth rescaling of the output projections
        for name, m in self.named_modules():
            if isinstance(m, nn.Linear):
                if name.endswith("in_proj"):
                    val = math.sqrt(6.0 / float(m.weight.shape[0] // 3 + m.weight.shape[1]))
                    nn.init.uniform_(m.weight, -val, val)
                else:
                    nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        with torch.no_grad():
            for i, blk in enumerate(self.blocks):
                blk.attn.out_proj.weight.div_(math.sqrt(2.0 * (i + 1)))
                blk.fc2.weight.div_(math.sqrt(2.0 * (i + 1)))

    def no_weight_decay(self) -> set[str]:
        return {"cls_token"}

    def forward(
        self,
        points: torch.Tensor | None,
        features: torch.Tensor,
        vectors: torch.Tensor | None,
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        if mask is None:
            mask = torch.ones_like(features[:, :1])
        mask = mask.bool()
        chunk = eval_chunk_size(self, mask)
        if not self.training and not self.export_mode and mask.size(0) > chunk:
            return bucketed(lambda m, f, v: self._forward(m, f, v), mask, [features, vectors], chunk)
        return self._forward(mask, features, vectors)

    def _forward(
        self, mask: torch.Tensor, features: torch.Tensor, vectors: torch.Tensor | None
    ) -> torch.Tensor:
        if self.training and self.train_trim:
            mask, features, vectors = random_trim(mask, features, vectors)
        elif not self.export_mode:
            mask, features, vectors = trim_to_longest(mask, features, vectors)
        # an empty jet attends to one zero particle instead of nothing (avoids a softmax over no keys)
        mask = torch.cat((mask[..., :1] | ~mask.any(dim=-1, keepdim=True), mask[..., 1:]), dim=-1)
        if (
            self.training
            and not self.export_mode
            and features.device.type == "cpu"
            and mask.size(0) > self.train_chunk
        ):
            return self._forward_chunked(mask, features, vectors, self.train_chunk)
        n, _, p = features.shape
        x = self.embed(features).masked_fill(~mask.transpose(1, 2), 0.0)  # (N, P, E)
        key_pad = torch.zeros(n, 1, 1, p, dtype=x.dtype, device=x.device).masked_fill(
            ~mask.view(n, 1, 1, p), _MASKED
        )
        if self.pair_embed is not None and vectors is not None:
            attn_mask = self.pair_embed(vectors, mask) + key_pad  # (N, H, P, P)
        else:
            attn_mask = key_pad
        for blk in self.blocks:
            x = blk(x, attn_mask)
        cls_mask = F.pad(key_pad, (1, 0), value=0.0)  # the class token itself is always visible
        cls = self.cls_token.expand(n, -1, -1)
        for blk in self.cls_blocks:
            cls = blk(x, cls_mask, x_cls=cls)
        return self.fc(self.norm(cls.squeeze(1)))

    def _forward_chunked(
        self, mask: torch.Tensor, features: torch.Tensor, vectors: torch.Tensor | None, chunk: int
    ) -> torch.Tensor:
        """Training on the CPU: the same function as the unchunked path, with less padding.

        The batch norms (particle inputs, pair features) see the whole batch as before; the rest of the
        network acts on each jet alone (padded keys get zero attention), so it runs on chunks of ``chunk``
        jets sorted by length, each cut to its own longest jet. Forward and backward then skip most of the
        padding: attention costs ∝ P² per jet, and one long jet no longer pads the whole batch."""
        n, _, p = features.shape
        m = mask[:, 0]
        # one past the last real particle of each jet (real particles need not come first)
        ends = (m * torch.arange(1, p + 1, device=m.device)).amax(dim=-1)
        order = ends.argsort(stable=True)
        rank = torch.empty_like(order)
        rank[order] = torch.arange(n, device=order.device)
        h = self.embed.input_bn(features)  # batch statistics over the whole (trimmed) batch
        has_pairs = self.pair_embed is not None and vectors is not None
        if has_pairs:
            b_idx, ii, jj, e = self.pair_embed.pair_rows(vectors, mask)
            b_rank = rank[b_idx]
        heads = self.blocks[0].num_heads if len(self.blocks) else 0
        ends_sorted = ends[order].tolist()
        outs = []
        for start in range(0, n, chunk):
            idx = order[start : start + chunk]
            nc = idx.numel()
            pc = max(int(ends_sorted[start + nc - 1]), 1)
            mc = m[idx, :pc]
            x = self.embed.embed(h[idx, :, :pc].transpose(1, 2)).masked_fill(~mc.unsqueeze(-1), 0.0)
            key_pad = torch.zeros(nc, 1, 1, pc, dtype=x.dtype, device=x.device).masked_fill(
                ~mc.view(nc, 1, 1, pc), _MASKED
            )
            if has_pairs:
                # the bias of each real pair, the padding offset elsewhere: y + key_pad of the unchunked path
                sel = ((b_rank >= start) & (b_rank < start + nc)).nonzero().squeeze(1)
                bb, i_c, j_c, e_c = b_rank[sel] - start, ii[sel], jj[sel], e[sel]
                attn_mask = key_pad.expand(nc, heads, pc, pc).clone()
                attn_mask[bb, :, i_c, j_c] = e_c
                attn_mask[bb, :, j_c, i_c] = e_c
            else:
                attn_mask = key_pad
            for blk in self.blocks:
                x = blk(x, attn_mask)
            cls_mask = F.pad(key_pad, (1, 0), value=0.0)
            cls = self.cls_token.expand(nc, -1, -1)
            for blk in self.cls_blocks:
                cls = blk(x, cls_mask, x_cls=cls)
            outs.append(self.fc(self.norm(cls.squeeze(1))))
        return torch.cat(outs)[rank]
