"""CENNT (cross-entropy) and SANNT (systematic-aware, σ(μ) loss) training of a multi-class score network.

Two ways of binning the network's output (``SanntConfig.binning``):

- ``"score"``: the network maps the features to C = M + 1 softmax scores (one class per POI, one for all
  backgrounds). Events are histogrammed in the category of their highest score, in that score (``n_bins`` equal
  bins on [1/C, 1] per category). This is the classifier's own output, so a CENNT network can be fine-tuned.
- ``"nodes"`` (INFERNO's, de Castro & Dorigo 2018): the network has C · ``n_bins`` outputs, one per bin, and an
  event goes to the bin of its highest output; training uses the soft assignment softmax(z/T)
  (:func:`~higgsflow.sannt.histogram.node_histogram`). The bins are then arbitrary regions of feature space,
  not intervals of one score, which lets the network keep bins that constrain the nuisance parameters apart
  from the signal-rich ones. Trained from scratch, in mini-batches, with Adam.

By default (``binning=None``) SANNT fine-tuning a CENNT network uses ``"score"`` and SANNT from scratch
``"nodes"``. SANNT minimises the profiled expected uncertainty Σ_m ω_m σ(μ_m) of the binned likelihood built
from these histograms (:mod:`higgsflow.sannt.likelihood`), with the exact histograms in the forward pass
and the Gaussian-kernel surrogate gradient in the backward pass (:mod:`higgsflow.sannt.histogram`). Because
the loss is a property of the whole dataset, SANNT uses large batches (by default the full training set)
and stops early on the validation objective; CENNT stops early on the validation cross-entropy.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from higgsflow.errors import ConfigError, DataError
from higgsflow.sannt.data import SystematicDataset
from higgsflow.sannt.histogram import category_histogram, node_histogram
from higgsflow.sannt.likelihood import Templates, fisher_information, profiled_sigma

__all__ = [
    "SanntConfig",
    "ScoreNetwork",
    "TrainResult",
    "bin_edges",
    "network_templates",
    "sigma_objective",
    "train_cennt",
    "train_sannt",
]

log = logging.getLogger(__name__)

EpochCallback = Callable[[str, int, float], None]


@dataclass
class SanntConfig:
    """Settings of both trainings (the benchmark uses the defaults).

    Attributes
    ----------
    hidden: widths of the hidden layers of the MLP.
    n_bins: bins per category of the score histograms.
    bandwidth: Gaussian kernel width σ of the surrogate gradient, in score units (``None``: half a bin width).
    min_yield: bins with at most this many expected events carry no information.
    ce_epochs, ce_lr, ce_batch_size, ce_patience: CENNT training (Adam, mini-batches, early stopping on the
        validation cross-entropy).
    binning: ``"score"``, ``"nodes"`` or ``None`` (``"score"`` when fine-tuning, ``"nodes"`` from scratch).
    temperature: T of the softmax soft assignment of ``"nodes"`` binning.
    sannt_epochs, sannt_lr, sannt_batches, sannt_patience, sannt_optimizer: SANNT training; early stopping
        on the validation σ(μ). Each epoch splits every process into ``sannt_batches`` batches, weights scaled
        up accordingly. ``None`` picks per binning: ``"score"``: SGD with momentum 0.9 (Adam's per-parameter
        steps followed the surrogate gradient less well), learning rate 0.02, the full training set as one
        batch; ``"nodes"``: Adam, learning rate 10⁻³, batches of about ``sannt_batch_events`` events of the
        largest process.
    """

    hidden: tuple[int, ...] = (64, 64)
    n_bins: int = 8
    bandwidth: float | None = None
    min_yield: float = 1e-3
    ce_epochs: int = 60
    ce_lr: float = 3e-3
    ce_batch_size: int = 2048
    ce_patience: int = 8
    sannt_epochs: int = 150
    sannt_lr: float | None = None
    sannt_batches: int | None = None
    sannt_patience: int = 50
    sannt_optimizer: str | None = None
    binning: str | None = None
    temperature: float = 1.0
    sannt_batch_events: int = 2000

    def __post_init__(self) -> None:
        for name in (
            "n_bins",
            "ce_epochs",
            "ce_batch_size",
            "sannt_epochs",
            "sannt_batches",
            "sannt_batch_events",
        ):
            if getattr(self, name) is not None and int(getattr(self, name)) < 1:
                raise ConfigError(
                    f"{name} = {getattr(self, name)}", field=name, expected="a positive integer"
                )
        if self.sannt_optimizer not in (None, "adam", "sgd"):
            raise ConfigError(
                f"optimizer {self.sannt_optimizer!r}", field="sannt_optimizer", expected="adam or sgd"
            )
        if self.binning not in (None, "score", "nodes"):
            raise ConfigError(f"binning {self.binning!r}", field="binning", expected="score or nodes")
        if not self.temperature > 0:
            raise ConfigError(
                f"temperature = {self.temperature}", field="temperature", expected="a positive number"
            )
        if self.sannt_lr is not None and not self.sannt_lr > 0:
            raise ConfigError(f"sannt_lr = {self.sannt_lr}", field="sannt_lr", expected="a positive number")
        if self.bandwidth is not None and not self.bandwidth > 0:
            raise ConfigError(
                f"bandwidth = {self.bandwidth}", field="bandwidth", expected="a positive number"
            )


class ScoreNetwork(nn.Module):
    """MLP from standardised features to class logits; ``scores(x)`` gives the softmax (float64).

    ``binning`` says how its output is binned: ``"score"`` (``n_classes`` = POIs + 1 class scores) or
    ``"nodes"`` (``n_classes`` = the number of bins, one output each).
    """

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        hidden: Sequence[int],
        mean: np.ndarray,
        std: np.ndarray,
        binning: str = "score",
    ):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
        layers: list[nn.Module] = []
        width = n_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.SiLU()]
            width = h
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers).float()
        self.n_classes = n_classes
        self.binning = binning

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self(x).double(), dim=1)


@dataclass
class TrainResult:
    """A trained network and its history (per epoch: training loss, validation σ(μ) per POI, objective)."""

    network: ScoreNetwork
    method: str
    train_loss: list[float] = field(default_factory=list)
    val_sigma: list[list[float]] = field(default_factory=list)
    val_objective: list[float] = field(default_factory=list)
    best_epoch: int = 0


def bin_edges(n_classes: int, n_bins: int) -> torch.Tensor:
    """Equal bins on [1/C, 1], the range of the highest of C softmax scores."""
    return torch.linspace(1.0 / n_classes, 1.0, n_bins + 1, dtype=torch.float64)


class _Prepared:
    """Tensors of a dataset: per process the nominal and varied inputs, weights and normalisation factors."""

    def __init__(self, data: SystematicDataset):
        self.data = data
        self.nuisances = data.nuisances
        self.x, self.w, self.shape, self.kappa = [], [], [], []
        for s in data.samples:
            self.x.append(torch.as_tensor(s.features, dtype=torch.float32))
            self.w.append(torch.as_tensor(s.weights, dtype=torch.float64))
            shapes, kappas = [], []
            for nuis in self.nuisances:
                var = s.shape_systematics.get(nuis)
                if var is None:
                    shapes.append(None)
                else:
                    shapes.append(
                        [
                            (
                                None
                                if v.features is None
                                else torch.as_tensor(v.features, dtype=torch.float32),
                                None
                                if v.weights is None
                                else torch.as_tensor(v.weights, dtype=torch.float64),
                            )
                            for v in var
                        ]
                    )
                kappas.append(s.norm_systematics.get(nuis, (1.0, 1.0)))
            self.shape.append(shapes)
            self.kappa.append(kappas)
        kap = torch.tensor(self.kappa, dtype=torch.float64).reshape(len(data.samples), len(self.nuisances), 2)
        self.kappa_up, self.kappa_down = kap[..., 0].T.contiguous(), kap[..., 1].T.contiguous()
        self.poi_matrix = torch.as_tensor(data.poi_matrix(), dtype=torch.float64)


def _subset(t: torch.Tensor | None, idx: torch.Tensor | None) -> torch.Tensor | None:
    return t if t is None or idx is None else t[idx]


def _templates(
    net: ScoreNetwork,
    prep: _Prepared,
    edges: torch.Tensor,
    bandwidth: float,
    batch: list[dict] | None = None,
    temperature: float = 1.0,
) -> Templates:
    """Templates of the category histograms of the network; ``batch`` picks events per process."""
    inputs: list[torch.Tensor] = []
    plan = []  # per process: (nominal slot, weights, per nuisance: ((slot | None, w | None) for up, down))
    for p in range(len(prep.x)):
        sel = batch[p] if batch is not None else {"nom": None, "scale": 1.0, "var": {}}
        inputs.append(_subset(prep.x[p], sel["nom"]))
        nom_slot = len(inputs) - 1
        w_nom = _subset(prep.w[p], sel["nom"]) * sel["scale"]
        sides_all = []
        for k, shp in enumerate(prep.shape[p]):
            if shp is None:
                sides_all.append(None)
                continue
            sides = []
            for j, (xv, wv) in enumerate(shp):
                idx, scale = sel["var"].get((k, j), (sel["nom"], sel["scale"]))
                slot = None
                if xv is not None:
                    inputs.append(_subset(xv, idx))
                    slot = len(inputs) - 1
                sides.append((slot, None if wv is None else _subset(wv, idx) * scale))
            sides_all.append(sides)
        plan.append((nom_slot, w_nom, sides_all))
    sizes = [len(x) for x in inputs]
    if net.binning == "nodes":
        scores = net(torch.cat(inputs)).double().split(sizes)

        def hist(s: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
            return node_histogram(s, w, temperature)

    else:
        scores = net.scores(torch.cat(inputs)).split(sizes)

        def hist(s: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
            return category_histogram(s, w, edges, bandwidth)

    nominal, up, down = [], [], []
    for nom_slot, w_nom, sides_all in plan:
        h_nom = hist(scores[nom_slot], w_nom)
        nominal.append(h_nom)
        hu, hd = [], []
        for sides in sides_all:
            if sides is None:
                hu.append(h_nom)
                hd.append(h_nom)
                continue
            out = []
            for slot, wv in sides:
                s = scores[nom_slot] if slot is None else scores[slot]
                out.append(hist(s, w_nom if wv is None else wv))
            hu.append(out[0])
            hd.append(out[1])
        up.append(torch.stack(hu) if hu else h_nom.new_zeros(0, h_nom.numel()))
        down.append(torch.stack(hd) if hd else h_nom.new_zeros(0, h_nom.numel()))
    return Templates(
        torch.stack(nominal),
        torch.stack(up, 1),
        torch.stack(down, 1),
        prep.kappa_up,
        prep.kappa_down,
        prep.poi_matrix,
        prep.data.processes,
        list(prep.nuisances),
        prep.data.pois,
    )


def _bandwidth(config: SanntConfig, n_classes: int) -> float:
    return config.bandwidth if config.bandwidth is not None else 0.5 * (1 - 1 / n_classes) / config.n_bins


def network_templates(net: ScoreNetwork, data: SystematicDataset, config: SanntConfig) -> Templates:
    """Exact (no-gradient) templates of a trained network on a dataset, for measurement and plots."""
    edges = bin_edges(net.n_classes, config.n_bins)
    with torch.no_grad():
        return _templates(
            net, _Prepared(data), edges, _bandwidth(config, net.n_classes), None, config.temperature
        )


def sigma_objective(
    templates: Templates, poi_weights: torch.Tensor, min_yield: float = 1e-3
) -> tuple[torch.Tensor, torch.Tensor]:
    """(Σ_m ω_m σ(μ_m), σ(μ)) from the Asimov Fisher information of the templates."""
    sigma = profiled_sigma(fisher_information(templates, min_yield=min_yield), templates.n_pois)
    return (poi_weights * sigma).sum(), sigma


def _new_network(
    data: SystematicDataset, config: SanntConfig, seed: int, binning: str = "score"
) -> ScoreNetwork:
    torch.manual_seed(seed)
    x = np.concatenate([s.features for s in data.samples])
    std = x.std(0)
    n_cls = len(data.pois) + 1
    n_out = n_cls * config.n_bins if binning == "nodes" else n_cls
    return ScoreNetwork(
        data.n_features, n_out, config.hidden, x.mean(0), np.where(std > 0, std, 1), binning=binning
    )


def _val_sigma(
    net: ScoreNetwork, prep: _Prepared, config: SanntConfig, weights: torch.Tensor
) -> tuple[float, list]:
    edges = bin_edges(net.n_classes, config.n_bins)
    with torch.no_grad():
        t = _templates(net, prep, edges, _bandwidth(config, net.n_classes), None, config.temperature)
        obj, sigma = sigma_objective(t, weights, config.min_yield)
    return float(obj), sigma.tolist()


def train_cennt(
    train: SystematicDataset,
    val: SystematicDataset,
    config: SanntConfig | None = None,
    *,
    seed: int,
    callback: EpochCallback | None = None,
) -> TrainResult:
    """Cross-entropy baseline: classes = POIs + background, each class normalised to the same total weight.

    Stops early on the validation cross-entropy; records the validation σ(μ) (equal POI weights) every epoch.
    """
    config = config or SanntConfig()
    net = _new_network(train, config, seed)
    gen = torch.Generator().manual_seed(seed)

    def stacked(data: SystematicDataset) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cls = data.class_index()
        x = torch.as_tensor(np.concatenate([s.features for s in data.samples]), dtype=torch.float32)
        y = torch.as_tensor(
            np.concatenate([np.full(len(s.weights), c) for s, c in zip(data.samples, cls, strict=True)])
        )
        w = np.concatenate([s.weights for s in data.samples])
        totals = np.bincount(y.numpy(), weights=w, minlength=len(data.pois) + 1)
        w = w / np.where(totals[y.numpy()] > 0, totals[y.numpy()], 1.0)
        return x, y, torch.as_tensor(w / w.mean(), dtype=torch.float32)

    x, y, w = stacked(train)
    xv, yv, wv = stacked(val)
    prep_val = _Prepared(val)
    ones = torch.ones(len(train.pois), dtype=torch.float64)
    opt = torch.optim.Adam(net.parameters(), lr=config.ce_lr)
    result = TrainResult(net, "CENNT")
    best, best_state, bad = np.inf, copy.deepcopy(net.state_dict()), 0
    for epoch in range(config.ce_epochs):
        net.train()
        perm = torch.randperm(len(x), generator=gen)
        total = 0.0
        for start in range(0, len(x), config.ce_batch_size):
            idx = perm[start : start + config.ce_batch_size]
            loss = (nn.functional.cross_entropy(net(x[idx]), y[idx], reduction="none") * w[idx]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        net.eval()
        with torch.no_grad():
            val_loss = float((nn.functional.cross_entropy(net(xv), yv, reduction="none") * wv).mean())
        _, sig = _val_sigma(net, prep_val, config, ones)
        result.train_loss.append(total / len(x))
        result.val_sigma.append(sig)
        result.val_objective.append(val_loss)
        if callback is not None:
            callback("CENNT", epoch, val_loss)
        if val_loss < best - 1e-6:
            best, best_state, bad, result.best_epoch = val_loss, copy.deepcopy(net.state_dict()), 0, epoch
        else:
            bad += 1
            if bad >= config.ce_patience:
                break
    net.load_state_dict(best_state)
    log.info("CENNT: best epoch %d of %d, val CE %.4f", result.best_epoch, len(result.train_loss), best)
    return result


def _batches(prep: _Prepared, n_batches: int, gen: torch.Generator) -> list[list[dict]]:
    """Split every process (and its independent variations) into n_batches random parts, weights scaled up."""
    if n_batches == 1:
        return [[{"nom": None, "scale": 1.0, "var": {}} for _ in prep.x]]
    out: list[list[dict]] = [[] for _ in range(n_batches)]
    for p, x in enumerate(prep.x):
        n = len(x)
        parts = torch.randperm(n, generator=gen).chunk(n_batches)
        extra: dict = {}
        for k, shp in enumerate(prep.shape[p]):
            for j, (xv, wv) in enumerate(shp or []):
                m = len(xv) if xv is not None else len(wv) if wv is not None else n
                if m != n:
                    extra[(k, j)] = (m, torch.randperm(m, generator=gen).chunk(n_batches))
        for b in range(n_batches):
            idx = parts[b % len(parts)]
            var = {key: (ch[b % len(ch)], m / len(ch[b % len(ch)])) for key, (m, ch) in extra.items()}
            out[b].append({"nom": idx, "scale": n / len(idx), "var": var})
    return out


def train_sannt(
    train: SystematicDataset,
    val: SystematicDataset,
    config: SanntConfig | None = None,
    *,
    seed: int,
    init: ScoreNetwork | None = None,
    poi_weights: Sequence[float] | None = None,
    callback: EpochCallback | None = None,
) -> TrainResult:
    """Systematic-aware training: minimise Σ_m ω_m σ(μ_m) of the binned profile likelihood of the outputs.

    Parameters
    ----------
    train, val: training and validation datasets (the validation σ(μ) drives early stopping).
    config: settings; ``seed``: initialisation and batch shuffling.
    init: a (CENNT) network to fine-tune (copied, not modified); ``None`` trains from scratch.
    poi_weights: ω_m per POI (default 1 each).
    callback: called as ``callback(method, epoch, validation objective)`` after each epoch (progress bars).
    """
    config = config or SanntConfig()
    binning = config.binning or ("score" if init is not None else "nodes")
    if init is not None and getattr(init, "binning", "score") != binning:
        raise ConfigError(
            f"binning {binning!r} for a network binned as {init.binning!r}",
            field="binning",
            expected=f"{init.binning!r} (or None) when fine-tuning it",
        )
    net = copy.deepcopy(init) if init is not None else _new_network(train, config, seed, binning)
    n_cls = len(train.pois) + 1
    expected = n_cls * config.n_bins if binning == "nodes" else n_cls
    if net.n_classes != expected:
        raise ConfigError(
            f"network has {net.n_classes} outputs",
            field="init",
            expected=f"{expected} ({'bins' if binning == 'nodes' else 'POIs + 1'})",
        )
    weights = torch.ones(len(train.pois), dtype=torch.float64)
    if poi_weights is not None:
        weights = torch.as_tensor(poi_weights, dtype=torch.float64)
        if weights.shape != (len(train.pois),) or not bool((weights >= 0).all()):
            raise ConfigError(
                "bad POI weights", field="poi_weights", expected=f"{len(train.pois)} values ≥ 0"
            )
    gen = torch.Generator().manual_seed(seed + 1)
    torch.manual_seed(seed + 1)
    prep, prep_val = _Prepared(train), _Prepared(val)
    edges = bin_edges(net.n_classes, config.n_bins)
    bw = _bandwidth(config, net.n_classes)
    nodes = binning == "nodes"
    optimizer = config.sannt_optimizer or ("adam" if nodes else "sgd")
    lr = config.sannt_lr or (1e-3 if nodes else 0.02)
    n_batches = config.sannt_batches
    if n_batches is None:
        largest = max(len(x) for x in prep.x)
        n_batches = max(1, round(largest / config.sannt_batch_events)) if nodes else 1
    if optimizer == "adam":
        opt = torch.optim.Adam(net.parameters(), lr=lr)
    else:  # the loss is smooth only through the surrogate: plain gradient steps follow it more faithfully
        opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    result = TrainResult(net, "SANNT" if init is None else "SANNT (fine-tuned)")
    best, _ = _val_sigma(net, prep_val, config, weights) if init is not None else (np.inf, None)
    best_state, bad = copy.deepcopy(net.state_dict()), 0
    for epoch in range(config.sannt_epochs):
        net.train()
        total = 0.0
        batches = _batches(prep, n_batches, gen)
        try:
            for batch in batches:
                t = _templates(net, prep, edges, bw, batch, config.temperature)
                loss, _ = sigma_objective(t, weights, config.min_yield)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) / len(batches)
            net.eval()
            obj, sig = _val_sigma(net, prep_val, config, weights)
        except DataError as err:  # a step collapsed the outputs so that a POI is no longer measurable
            log.warning("%s: stopping at epoch %d (%s); keeping the best epoch", result.method, epoch, err)
            break
        result.train_loss.append(total)
        result.val_sigma.append(sig)
        result.val_objective.append(obj)
        if callback is not None:
            callback(result.method, epoch, obj)
        if obj < best - 1e-7:
            best, best_state, bad, result.best_epoch = obj, copy.deepcopy(net.state_dict()), 0, epoch
        else:
            bad += 1
            if bad >= config.sannt_patience:
                break
    net.load_state_dict(best_state)
    log.info("%s: best epoch %d of %d, val objective %.4f", result.method, result.best_epoch, epoch + 1, best)
    return result
