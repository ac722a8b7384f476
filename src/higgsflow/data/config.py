"""The data config: a weaver-core-compatible YAML that is the contract between files and a model.

Keys (as in weaver-core): ``selection``, ``test_time_selection``, ``new_variables``, ``preprocess``,
``inputs``,
``labels``, ``observers``, ``monitor_variables``, ``weights``, ``treename``, ``bucketing``; any other key
raises
:class:`ConfigError`. Expressions are checked by :mod:`higgsflow.data.expr` when the config is loaded, so a
config
that tries to call or import anything is refused before a file is opened.

An input variable is ``name`` or ``[name, subtract_by, multiply_by, clip_min, clip_max, pad_value]`` with the
weaver defaults ``(None, 1, -5, 5, 0)``: with ``subtract_by`` None the variable is passed through unchanged
(no
clipping); otherwise ``x' = clip((x - subtract_by) * multiply_by, clip_min, clip_max)``. With
``preprocess.method: auto`` a missing ``subtract_by`` is the median and ``multiply_by`` is ``1/max(p84 - p50,
p50 - p16)`` of the training data; :func:`auto_standardize` computes them and stores them next to the config
(``<config>.auto.yaml``), which :meth:`DataConfig.load` then reuses.
"""

from __future__ import annotations

import copy
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from higgsflow.data.expr import compile_expression
from higgsflow.errors import ConfigError

__all__ = ["DataConfig", "InputGroup", "InputVariable"]

log = logging.getLogger(__name__)

KNOWN_KEYS = (
    "treename",
    "branch_magic",
    "file_magic",
    "selection",
    "test_time_selection",
    "preprocess",
    "new_variables",
    "inputs",
    "labels",
    "observers",
    "monitor_variables",
    "weights",
    "bucketing",
    "targets",
    "loss",
)
_LOSS_KEYS = ("term", "head", "target", "tau", "weight")
_WEIGHT_KEYS = (
    "use_precomputed_weights",
    "weight_branches",
    "reweight_method",
    "reweight_basewgt",
    "reweight_vars",
    "reweight_classes",
    "class_weights",
    "reweight_threshold",
    "reweight_discard_under_overflow",
    "reweight_hists",
)


@dataclass
class InputVariable:
    """One input variable and its standardisation (``center`` None: unchanged; ``"auto"``: to be computed)."""

    name: str
    center: float | str | None = None
    scale: float = 1.0
    clip_min: float = -5.0
    clip_max: float = 5.0
    pad_value: float = 0.0


@dataclass
class InputGroup:
    """An input tensor ``(N, len(vars), length)``: one row per variable, padded to ``length``."""

    name: str
    length: int
    pad_mode: str
    variables: list[InputVariable]

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variables]


def _duplicate_key(node: Any, path: str = "") -> tuple[str, int] | None:
    """The first key given twice in one mapping of a composed YAML tree, as ``(dotted path, line)``
    (plain YAML silently keeps the last one)."""
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for k, v in node.value:
            key = str(k.value)
            here = f"{path}.{key}" if path else key
            if key in seen:
                return here, k.start_mark.line + 1
            seen.add(key)
            found = _duplicate_key(v, here)
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            found = _duplicate_key(v, f"{path}[{i}]")
            if found:
                return found
    return None


class DataConfig:
    """A parsed, validated data config.

    Build with :meth:`load` (a YAML file) or :meth:`from_dict`. ``options`` holds the resolved YAML content
    (what :meth:`dump` writes); the attributes below are the parsed view.
    """

    def __init__(self, options: dict[str, Any], *, source: str | os.PathLike[str] | None = None) -> None:
        self.source = os.fspath(source) if source is not None else None
        if not isinstance(options, dict):
            raise ConfigError("a data config must be a mapping", file=self.source, expected="YAML keys")
        unknown = [k for k in options if k not in KNOWN_KEYS]
        if unknown:
            raise ConfigError(
                "unknown key" + ("s" if len(unknown) > 1 else ""),
                file=self.source,
                field=", ".join(unknown),
                expected="one of " + ", ".join(KNOWN_KEYS),
            )
        self.options = copy.deepcopy(options)
        o = self.options
        self.treename: str = o.get("treename") or "tree"
        self.selection: str | None = o.get("selection") or None
        self.test_time_selection: str | None = o.get("test_time_selection") or self.selection
        self.new_variables: dict[str, str] = {
            str(k): str(v) for k, v in (o.get("new_variables") or {}).items() if str(k) != str(v)
        }
        pre = o.get("preprocess") or {}
        self.preprocess_method: str = str(pre.get("method", "manual")).lower()
        if self.preprocess_method not in ("manual", "auto"):
            raise ConfigError(
                "unknown preprocess method",
                file=self.source,
                field="preprocess.method",
                expected="manual or auto",
            )
        self.data_fraction: float = float(pre.get("data_fraction", 0.1))
        params = pre.get("params") or {}
        self.inputs: dict[str, InputGroup] = self._parse_inputs(o.get("inputs"), params)
        self._parse_labels(o.get("labels"))
        self.targets: dict[str, str] = self._parse_targets(o.get("targets"))
        self.loss_terms: list[dict[str, Any]] | None = self._parse_loss(o.get("loss"))
        self.observers: list[str] = list(o.get("observers") or [])
        self.monitor_variables: list[str] = list(o.get("monitor_variables") or [])
        self.weights: dict[str, Any] | None = self._parse_weights(o.get("weights"))
        self._check_expressions()

    # ------------------------------------------------------------------ parsing
    def _err(self, message: str, field: str, expected: str | None = None) -> ConfigError:
        return ConfigError(message, file=self.source, field=field, expected=expected)

    def _parse_inputs(self, inputs: Any, params: dict[str, Any]) -> dict[str, InputGroup]:
        if not inputs or not isinstance(inputs, dict):
            raise self._err("no inputs defined", "inputs", "a mapping of input names to {length, vars}")
        auto = self.preprocess_method == "auto"
        groups = {}
        for gname, g in inputs.items():
            if not isinstance(g, dict) or "vars" not in g:
                raise self._err("input has no vars", f"inputs.{gname}", "keys length, pad_mode, vars")
            extra = set(g) - {"length", "pad_mode", "vars"}
            if extra:
                raise self._err("unknown key", f"inputs.{gname}.{sorted(extra)[0]}", "length, pad_mode, vars")
            length = g.get("length")
            if not isinstance(length, int) or length <= 0:
                raise self._err("length must be a positive integer", f"inputs.{gname}.length")
            pad_mode = str(g.get("pad_mode", "constant")).lower()
            if pad_mode not in ("constant", "wrap"):
                raise self._err("unknown pad_mode", f"inputs.{gname}.pad_mode", "constant or wrap")
            if gname.endswith("_mask") and pad_mode != "constant":
                raise self._err("a mask input must use pad_mode constant", f"inputs.{gname}.pad_mode")
            variables = []
            for i, v in enumerate(g["vars"] or []):
                v = list(v) if isinstance(v, (list, tuple)) else [v]
                if not v or not isinstance(v[0], str) or len(v) > 6:
                    raise self._err(
                        "bad variable entry",
                        f"inputs.{gname}.vars[{i}]",
                        "name or [name, subtract_by, multiply_by, clip_min, clip_max, pad_value]",
                    )
                name = v[0]
                default_center = "auto" if auto else None
                vals = [*v[1:], *([None] * (5 - len(v[1:])))]
                center = default_center if len(v) < 2 else vals[0]
                var = InputVariable(
                    name=name,
                    center=center,
                    scale=1.0 if vals[1] is None else float(vals[1]),
                    clip_min=-5.0 if vals[2] is None else float(vals[2]),
                    clip_max=5.0 if vals[3] is None else float(vals[3]),
                    pad_value=0.0 if vals[4] is None else float(vals[4]),
                )
                if name in params:  # stored auto-standardisation results
                    p = params[name]
                    if var.center == "auto":
                        var.center, var.scale = p["center"], float(p["scale"])
                if var.center is not None and var.center != "auto":
                    try:
                        var.center = float(var.center)
                    except (TypeError, ValueError):
                        raise self._err(
                            "subtract_by must be a number, null or auto", f"inputs.{gname}.vars[{i}]"
                        ) from None
                variables.append(var)
            if not variables:
                raise self._err("input has no vars", f"inputs.{gname}.vars")
            groups[gname] = InputGroup(gname, length, pad_mode, variables)
        seen: dict[tuple[str, str], str] = {}
        for gname in groups:
            coll, _, role = gname.rpartition("_")
            key = (coll.lower(), role.lower())
            if key in seen:
                raise self._err(
                    f"the collection {coll or role!r} has its role {role!r} twice ({seen[key]} and {gname})",
                    f"inputs.{gname}",
                    "one input per collection and role (<collection>_<role>, e.g. pf_features)",
                )
            seen[key] = gname
        return groups

    def _parse_targets(self, targets: Any) -> dict[str, str]:
        """``name: expression`` or ``name: {expr: expression, space: linear | log}``; the space of each target
        goes to :attr:`target_space` (``log``: the heads that regress it are trained on ln(target) and
        :meth:`physical_heads` exponentiates them back)."""
        self.target_space: dict[str, str] = {}
        if targets is None:
            return {}
        if not isinstance(targets, dict):
            raise self._err("targets must map names to expressions", "targets", "name: expression")
        out: dict[str, str] = {}
        for k, v in targets.items():
            where = f"targets.{k}"
            space = "linear"
            if isinstance(v, dict):
                extra = [x for x in v if x not in ("expr", "space")]
                if extra:
                    raise self._err("unknown key", f"{where}.{extra[0]}", "expr, space")
                if "expr" not in v or not isinstance(v["expr"], (str, int, float)):
                    raise self._err("a target needs an expression", f"{where}.expr", "expr: <expression>")
                space = str(v.get("space", "linear"))
                if space not in ("linear", "log"):
                    raise self._err(f"unknown space {space!r}", f"{where}.space", "linear or log")
                v = v["expr"]
            elif isinstance(v, bool) or not isinstance(v, (str, int, float)):
                raise self._err(
                    "targets must map names to expressions",
                    where,
                    "name: expression or {expr: ..., space: log}",
                )
            out[str(k)] = str(v)
            self.target_space[str(k)] = space
        clash = [k for k in out if k in ("label", "weight") or k in self.label_names]
        if clash:
            raise self._err("a target may not be named like a label", f"targets.{clash[0]}")
        return out

    def log_heads(self) -> set[str]:
        """The heads whose loss terms regress a target declared ``space: log`` (trained on its logarithm)."""
        space = getattr(self, "target_space", {})
        return {t["head"] for t in self.loss_terms or () if space.get(t["target"]) == "log"}

    def physical_heads(self, heads: dict) -> dict:
        """``heads`` with every log-space regression head exponentiated (numpy arrays or torch tensors); the
        class head and linear heads are returned as they are."""
        logs = self.log_heads()
        if not logs:
            return heads
        out = dict(heads)
        for name in logs & set(heads):
            value = heads[name]
            out[name] = value.exp() if hasattr(value, "exp") else np.exp(value)  # a torch tensor, or numpy
        return out

    def _parse_loss(self, loss: Any) -> list[dict[str, Any]] | None:
        if loss is None:
            return None
        if not isinstance(loss, list) or not loss:
            raise self._err("loss must be a list of terms", "loss", "- {term: ..., head: ..., target: ...}")
        terms = []
        for i, t in enumerate(loss):
            where = f"loss[{i}]"
            if not isinstance(t, dict) or "term" not in t:
                raise self._err("a loss term needs a term name", where, "term: cross_entropy, mse, ...")
            extra = [k for k in t if k not in _LOSS_KEYS]
            if extra:
                raise self._err("unknown key", f"{where}.{extra[0]}", "one of " + ", ".join(_LOSS_KEYS))
            term = {
                "term": str(t["term"]),
                "head": str(t.get("head", "logits")),
                "target": str(t.get("target", "label" if t.get("head", "logits") == "logits" else t["head"])),
                "weight": t.get("weight", 1.0),
            }
            if "tau" in t:
                term["tau"] = t["tau"]
            for k in ("weight", "tau"):
                if k in term and (isinstance(term[k], bool) or not isinstance(term[k], (int, float))):
                    raise self._err(f"{k} must be a number", f"{where}.{k}")
            if term["target"] != "label" and term["target"] not in self.targets:
                raise self._err(
                    f"unknown target {term['target']!r}",
                    f"{where}.target",
                    "label or a name of the targets section"
                    + (": " + ", ".join(self.targets) if self.targets else ""),
                )
            terms.append(term)
        return terms

    def required_heads(self) -> list[tuple[str, str]]:
        """``(config field, head)`` for every head the task's loss reads (``logits`` by default)."""
        if self.loss_terms is None:
            return [("labels", "logits")]
        return [(f"loss[{i}].head", t["head"]) for i, t in enumerate(self.loss_terms)]

    @property
    def collections(self) -> dict[str, dict[str, str]]:
        """``{collection: {role: input name}}`` (``pf_features`` is the role ``features`` of ``pf``)."""
        out: dict[str, dict[str, str]] = {}
        for gname in self.inputs:
            coll, _, role = gname.rpartition("_")
            out.setdefault(coll, {})[role] = gname
        return out

    def _parse_labels(self, labels: Any) -> None:
        if not labels or not isinstance(labels, dict) or "type" not in labels:
            raise self._err(
                "labels missing", "labels", "type: simple with value: [label_...] or type: custom"
            )
        self.label_type = str(labels["type"])
        value = labels.get("value")
        if self.label_type == "simple":
            if not isinstance(value, list) or not value or not all(isinstance(x, str) for x in value):
                raise self._err("simple labels need a list of label branches", "labels.value")
            self.label_names: list[str] = list(value)
            self.label_exprs: dict[str, str] = {}
        elif self.label_type == "custom":
            if not isinstance(value, dict) or not value:
                raise self._err("custom labels need a mapping name: expression", "labels.value")
            self.label_names = list(value)
            self.label_exprs = {str(k): str(v) for k, v in value.items()}
        else:
            raise self._err("unknown label type", "labels.type", "simple or custom")

    def _parse_weights(self, w: Any) -> dict[str, Any] | None:
        if w is None:
            return None
        if not isinstance(w, dict):
            raise self._err("weights must be a mapping", "weights")
        unknown = [k for k in w if k not in _WEIGHT_KEYS]
        if unknown:
            raise self._err("unknown key", "weights." + unknown[0], "one of " + ", ".join(_WEIGHT_KEYS))
        w = dict(w)
        if w.get("use_precomputed_weights"):
            if not w.get("weight_branches"):
                raise self._err("precomputed weights need weight_branches", "weights.weight_branches")
            return w
        rv = w.get("reweight_vars")
        if not isinstance(rv, dict) or len(rv) != 2:
            raise self._err("flat reweighting needs two variables with bin edges", "weights.reweight_vars")
        classes = w.get("reweight_classes")
        if not classes:
            raise self._err("reweighting needs reweight_classes", "weights.reweight_classes")
        cw = w.get("class_weights") or [1.0] * len(classes)
        if len(cw) != len(classes):
            raise self._err("one class weight per reweight class", "weights.class_weights")
        w["class_weights"] = [float(x) for x in cw]
        w.setdefault("reweight_method", "flat")
        if w["reweight_method"] not in ("flat", "ref"):
            raise self._err("unknown reweight_method", "weights.reweight_method", "flat or ref")
        w.setdefault("reweight_threshold", 10)
        w.setdefault("reweight_discard_under_overflow", True)
        return w

    def _check_expressions(self) -> None:
        if self.selection:
            compile_expression(self.selection, field="selection")
        if self.test_time_selection:
            compile_expression(self.test_time_selection, field="test_time_selection")
        for k, v in self.new_variables.items():
            compile_expression(v, field=f"new_variables.{k}")
        for k, v in self.label_exprs.items():
            compile_expression(v, field=f"labels.value.{k}")
        for k, v in self.targets.items():
            compile_expression(v, field=f"targets.{k}")

    # ------------------------------------------------------------------ views
    @classmethod
    def load(cls, path: str | os.PathLike[str], *, use_auto: bool = True) -> DataConfig:
        """Read a YAML data config; with ``use_auto`` a stored ``<config>.auto.yaml`` next to it is used."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError("data config not found", file=path)
        auto = path.with_name(path.name + ".auto.yaml") if path.suffix != ".auto.yaml" else path
        src = auto if use_auto and auto.is_file() else path
        try:
            text = src.read_text()
            dup = _duplicate_key(yaml.compose(text, Loader=yaml.SafeLoader))
            if dup is not None:
                raise ConfigError(f"given twice (again on line {dup[1]})", file=src, field=dup[0])
            options = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"not valid YAML: {exc}", file=src) from None
        return cls(options or {}, source=src)

    @classmethod
    def from_dict(cls, options: dict[str, Any]) -> DataConfig:
        return cls(options)

    def dump(self, path: str | os.PathLike[str]) -> Path:
        """Write the resolved config (including stored standardisation parameters) as YAML."""
        path = Path(path)
        path.write_text(yaml.safe_dump(self.options, sort_keys=False))
        return path

    @property
    def input_names(self) -> list[str]:
        return list(self.inputs)

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    @property
    def needs_auto_standardization(self) -> bool:
        return any(v.center == "auto" for g in self.inputs.values() for v in g.variables)

    def derived_variables(self, *, train: bool = True) -> list[str]:
        """Names of all variables the loader produces (inputs, labels, observers, weights, selection)."""
        names = [v.name for g in self.inputs.values() for v in g.variables]
        if self.label_type == "simple":
            names += self.label_names
        names += self.observers + self.monitor_variables
        if train and self.weights is not None:
            if self.weights.get("use_precomputed_weights"):
                names += list(self.weights["weight_branches"])
            else:
                names += list(self.weights["reweight_vars"]) + list(self.weights["reweight_classes"])
        return list(dict.fromkeys(names))

    def file_branches(self, *, train: bool = True, labelled: bool = True) -> set[str]:
        """The branches to read from a file: every variable needed, with new variables resolved to their
        inputs (without ``labelled``: not those of the labels and regression targets)."""
        needed = set(self.derived_variables(train=train))
        if not labelled:
            needed -= set(self.label_names)
        sel = self.selection if train else self.test_time_selection
        if sel:
            needed |= set(compile_expression(sel))
        for e in (*self.label_exprs.values(), *self.targets.values()) if labelled else ():
            needed |= set(compile_expression(e))
        return self.resolve_branches(needed)

    def resolve_branches(self, names: set[str] | list[str] | tuple[str, ...]) -> set[str]:
        """The file branches behind ``names`` (new variables resolved to the branches they are computed from)."""
        needed = set(names)
        out: set[str] = set()
        seen: set[str] = set()
        stack = list(needed)
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            if name in self.new_variables:
                stack.extend(compile_expression(self.new_variables[name]))
            else:
                out.add(name)
        return out

    def preprocess_json(self, input_names: list[str] | None = None, *, min_length: int = 1) -> dict[str, Any]:
        """The preprocessing of the inputs as CMSSW's ONNX jet-tagger producers read it (weaver's
        ``preprocess.json``): ``input_names`` in the model's order, per input its ``var_names``, ``var_infos``
        (``median``, ``norm_factor``, clipping ``lower_bound``/``upper_bound``, ``pad``, ``replace_inf_value``)
        and ``min_length``/``max_length`` of the particle axis, and the class ``output_names``.

        A variable passed through unchanged has median 0, norm_factor 1 and bounds ±1e32, as weaver writes it.
        """
        names = list(self.inputs) if input_names is None else list(input_names)
        out: dict[str, Any] = {"output_names": list(self.label_names), "input_names": names}
        for name in names:
            g = self.inputs[name]
            infos = {}
            for v in g.variables:
                if v.center == "auto":
                    raise ConfigError(
                        "auto standardisation parameters are missing", file=self.source, field=v.name
                    )
                plain = v.center is None
                infos[v.name] = {
                    "median": 0.0 if plain else float(v.center),
                    "norm_factor": 1.0 if plain else float(v.scale),
                    "replace_inf_value": 0.0,
                    "lower_bound": -1e32 if plain else float(v.clip_min),
                    "upper_bound": 1e32 if plain else float(v.clip_max),
                    "pad": float(v.pad_value),
                }
            out[name] = {
                "var_names": g.names,
                "var_infos": infos,
                "min_length": g.length if g.length == 1 else min(max(min_length, 1), g.length),
                "max_length": g.length,
                "pad_mode": g.pad_mode,
            }
        return out

    def with_params(self, params: dict[str, dict[str, float]]) -> DataConfig:
        """A copy with auto-standardisation results ``{var: {center, scale}}`` stored under
        preprocess.params."""
        opts = copy.deepcopy(self.options)
        pre = dict(opts.get("preprocess") or {})
        pre["params"] = {**(pre.get("params") or {}), **params}
        opts["preprocess"] = pre
        return DataConfig(opts, source=self.source)
