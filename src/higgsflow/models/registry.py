"""One registry of architectures by name, built from a data config.

Every model follows the contract of :mod:`higgsflow.models.contract`: ``forward(inputs)`` takes the data
config's input groups by name and returns named heads. A model class declares the ``input_groups`` it needs and
the ``heads`` it returns; :func:`build_model` resolves the groups against the data config and checks that the
task's loss only names heads the model returns, with one error line naming the config file and the field.
:func:`export_description` gives ONNX input names, example shapes and dynamic axes derived from the config.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from torch import nn

from higgsflow.errors import ConfigError, ModelError
from higgsflow.models.contract import ROLES, ContractModel, contract_model, split_name

__all__ = ["MODELS", "ROLES", "build_model", "export_description", "register_model", "resolve_inputs"]

log = logging.getLogger(__name__)

MODELS: dict[str, Callable[..., nn.Module]] = {}
_WARNED: set[tuple[str, tuple[str, ...]]] = set()
_ALIASES = {
    "particletransformer": "part",
    "pn": "particlenet",
    "partsv": "part_sv",
    "particlenetsv": "particlenet_sv",
    "upartak4": "upart",
    "deepjetlike": "deepjet",
    "eventpart": "event_part",
}


def _key(name: str) -> str:
    key = name.lower().replace("-", "_")
    return _ALIASES.get(key.replace("_", ""), key)


def register_model(name: str, factory: Callable[..., nn.Module]) -> None:
    """Add an architecture under ``name``.

    ``factory`` is a :class:`~higgsflow.models.contract.ContractModel` subclass with a classmethod
    ``from_config(data_config, input_map, **kwargs)``, or a positional tagger class
    (``factory(input_dim, num_classes, **kwargs)`` with ``forward(points, features, vectors, mask)``), which is
    adapted to the contract.
    """
    if isinstance(factory, type) and not issubclass(factory, ContractModel):
        factory = contract_model(factory)
    MODELS[_key(name)] = factory


def _builtin() -> None:
    if "part" in MODELS:
        return
    from higgsflow.models.baselines import DNN, PFN
    from higgsflow.models.deepjet import DeepJet
    from higgsflow.models.event_part import EventParT
    from higgsflow.models.part import ParticleTransformer
    from higgsflow.models.part_sv import ParticleTransformerSV
    from higgsflow.models.particlenet import ParticleNet
    from higgsflow.models.particlenet_sv import ParticleNetSV
    from higgsflow.models.upart import UParT

    for name, cls in (
        ("part", ParticleTransformer),
        ("particlenet", ParticleNet),
        ("pfn", PFN),
        ("dnn", DNN),
    ):
        MODELS.setdefault(name, contract_model(cls))
    MODELS.setdefault("part_sv", ParticleTransformerSV)
    MODELS.setdefault("particlenet_sv", ParticleNetSV)
    MODELS.setdefault("upart", UParT)
    MODELS.setdefault("deepjet", DeepJet)
    MODELS.setdefault("event_part", EventParT)


def main_collection(data_config: Any) -> str | None:
    """The collection of the config's first ``*_features`` input (what one-collection taggers read)."""
    for name in data_config.inputs:
        coll, role = split_name(name)
        if role == "features":
            return coll
    return None


def resolve_inputs(cls: Any, data_config: Any, network: str) -> dict[tuple[str, str], str]:
    """``{(collection, role): input name}`` for the ``input_groups`` of ``cls``; a required group the config
    lacks raises :class:`ConfigError` naming the config file and the missing input."""
    have = {split_name(n): n for n in data_config.inputs}
    out: dict[tuple[str, str], str] = {}
    main = main_collection(data_config)
    for coll, roles in cls.input_groups.items():
        actual = main if coll == "*" else coll
        for r in roles:
            optional = r.endswith("?")
            role = r.rstrip("?")
            name = have.get((actual, role)) if actual is not None else None
            if name is None:
                if optional:
                    continue
                want = f"*_{role}" if coll == "*" else f"{coll}_{role}"
                raise ConfigError(
                    f"network {network!r} needs an input named {want}",
                    file=data_config.source,
                    field="inputs",
                )
            out[(coll, role)] = name
    return out


def build_model(name: str, data_config: Any, **kwargs: Any) -> nn.Module:
    """Build architecture ``name`` (part, particlenet, pfn, dnn, part_sv, particlenet_sv, upart, deepjet,
    event_part or a registered one) for ``data_config``: its input groups, its classes and the heads its task needs."""
    _builtin()
    key = _key(name)
    if key not in MODELS:
        raise ModelError("unknown network", field=name, expected="one of " + ", ".join(sorted(MODELS)))
    cls: Any = MODELS[key]
    _check_options(cls, name, kwargs)
    input_map = resolve_inputs(cls, data_config, name) if isinstance(cls, type) else {}
    if hasattr(cls, "from_config"):
        model = cls.from_config(data_config, input_map, **kwargs)
    else:
        feats = data_config.inputs[input_map[("*", "features")]]
        extra = {"length": feats.length} if key == "dnn" else {}
        model = cls(len(feats.variables), data_config.num_classes, **{**extra, **kwargs})
    model.input_map = input_map  # type: ignore[attr-defined]
    model.arch = key  # type: ignore[attr-defined]
    used = {split_name(n)[0] for n in input_map.values()}
    unused = [c for c in dict.fromkeys(split_name(n)[0] for n in data_config.inputs) if c not in used]
    if unused and input_map and (key, tuple(unused)) not in _WARNED:
        _WARNED.add((key, tuple(unused)))
        log.warning(
            "network %s does not use the data config's input(s) of the collection(s) %s (%s)",
            name,
            ", ".join(unused),
            ", ".join(n for n in data_config.inputs if split_name(n)[0] in unused),
        )
    heads = tuple(getattr(model, "heads", ("logits",)))
    for field, head in getattr(data_config, "required_heads", lambda: [])():
        if head not in heads:
            raise ConfigError(
                f"network {name!r} has no head {head!r} (it returns {', '.join(heads)})",
                file=data_config.source,
                field=field,
            )
    return model


def _check_options(cls: Any, name: str, options: dict[str, Any]) -> None:
    """Refuse a network option the architecture does not take (one line naming it and the valid ones), instead
    of the constructor's TypeError."""
    import inspect

    if not isinstance(cls, type):
        try:
            params = inspect.signature(cls).parameters
        except (TypeError, ValueError):  # no introspectable signature: let the constructor decide
            return
        chain = [params]
    else:
        # a constructor that passes **kwargs on to its base (e.g. UParT to TokenParT) takes the base's options too
        chain = []
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None:
                continue
            if klass in (nn.Module, object):
                # no closed signature below the model: let the constructor decide
                return
            try:
                params = inspect.signature(init).parameters
            except (TypeError, ValueError):
                return
            chain.append(params)
            if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
                break
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in chain[-1].values()):
        return
    known = list(
        dict.fromkeys(
            p
            for params in chain
            for p, v in params.items()
            if p != "self"
            and v.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        )
    )
    bad = [k for k in options if k not in known]
    if bad:
        raise ConfigError(
            f"network {name!r} has no option {', '.join(repr(b) for b in bad)}",
            field="--network-options",
            expected="one of "
            + ", ".join(k for k in known if k not in {"input_dim", "input_dims", "num_classes"}),
        )


def export_description(model: nn.Module, data_config: Any) -> dict[str, Any]:
    """ONNX input names (the data config's), example shapes (batch 1), output names (one per head, the class
    head as ``softmax``) and dynamic axes (batch, and the length of each collection)."""
    names, shapes, axes = [], {}, {}
    for name in getattr(model, "input_map", {}).values():
        g = data_config.inputs[name]
        names.append(name)
        shapes[name] = (1, len(g.variables), g.length)
        coll = split_name(name)[0] or name
        axes[name] = {0: "N", 2: "n_" + coll} if g.length > 1 else {0: "N"}
    outputs = ["softmax" if h == "logits" else h for h in getattr(model, "heads", ("logits",))]
    for o in outputs:
        axes[o] = {0: "N"}
    return {"input_names": names, "input_shapes": shapes, "output_names": outputs, "dynamic_axes": axes}
