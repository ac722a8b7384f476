"""One registry of tagger architectures by name, built from a data config.

Every model takes ``(points, features, vectors, mask)`` tensors (N, C, P) and returns logits (N, K); its
``input_roles`` say which of them it uses, and :func:`export_description` gives ONNX input names, example
shapes and
dynamic axes derived from the data config (so export needs no guessing).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from higgsflow.errors import ConfigError, ModelError

__all__ = ["MODELS", "ROLES", "build_model", "export_description", "register_model"]

ROLES = ("points", "features", "vectors", "mask")
MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str, factory: Callable[..., nn.Module]) -> None:
    """Add an architecture under ``name`` (factory(input_dim, num_classes, **kwargs))."""
    MODELS[name] = factory


def _builtin() -> None:
    from higgsflow.models.baselines import DNN, PFN
    from higgsflow.models.part import ParticleTransformer
    from higgsflow.models.particlenet import ParticleNet

    MODELS.setdefault("part", ParticleTransformer)
    MODELS.setdefault("particlenet", ParticleNet)
    MODELS.setdefault("pfn", PFN)
    MODELS.setdefault("dnn", DNN)


def build_model(name: str, data_config: Any, **kwargs: Any) -> nn.Module:
    """Build architecture ``name`` (part, particlenet, pfn, dnn) for ``data_config``'s inputs and classes."""
    _builtin()
    key = name.lower().replace("-", "").replace("_", "")
    aliases = {"parT": "part", "particletransformer": "part", "pn": "particlenet"}
    key = aliases.get(key, key)
    if key not in MODELS:
        raise ModelError("unknown network", field=name, expected="one of " + ", ".join(sorted(MODELS)))
    feats = data_config.input_role("features")
    if feats is None:
        raise ConfigError("the data config has no *_features input", file=data_config.source, field="inputs")
    cls = MODELS[key]
    n_in, n_out = len(feats.variables), data_config.num_classes
    if key == "particlenet":
        model = cls(n_in, n_out, **kwargs)
    elif key == "dnn":
        model = cls(n_in, n_out, **{"length": feats.length, **kwargs})
    else:
        model = cls(n_in, n_out, **kwargs)
    for role in getattr(model, "required_roles", getattr(model, "input_roles", ())):
        if data_config.input_role(role) is None:
            raise ConfigError(
                f"network {name!r} needs an input named *_{role}", file=data_config.source, field="inputs"
            )
    model.arch = key  # type: ignore[attr-defined]
    return model


def export_description(model: nn.Module, data_config: Any) -> dict[str, Any]:
    """ONNX input names (the data config's), example shapes (batch 1) and dynamic axes (batch, particles)."""
    names, shapes, axes = [], {}, {}
    for role in ROLES:
        g = data_config.input_role(role)
        if g is None or role not in getattr(model, "input_roles", ROLES):
            continue
        names.append(g.name)
        shapes[g.name] = (1, len(g.variables), g.length)
        axes[g.name] = {0: "N", 2: "n_" + g.name.split("_")[0]} if g.length > 1 else {0: "N"}
    axes["softmax"] = {0: "N"}
    return {"input_names": names, "input_shapes": shapes, "output_names": ["softmax"], "dynamic_axes": axes}
