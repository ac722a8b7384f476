"""A restricted evaluator for the expressions of a data config (``selection``, ``new_variables``, custom
labels).

weaver-core evaluates these strings with Python's ``eval``, so a shared config can run any code. Here an
expression
is parsed with :mod:`ast` and only a small grammar is accepted: numbers, variable names, arithmetic,
comparisons,
``& | ~``, subscripts with constant indices or slices, and calls of an allow-list of ``np.*``, ``ak.*`` and
``math.*``
functions. Any other call, attribute, import, lambda, comprehension or dunder name raises :class:`ConfigError`
before anything is evaluated.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

import awkward as ak
import numpy as np

from higgsflow.errors import ConfigError

__all__ = ["ALLOWED_FUNCTIONS", "compile_expression", "evaluate", "variable_names"]

_NP_FUNCS = [
    "abs",
    "absolute",
    "arccos",
    "arccosh",
    "arcsin",
    "arcsinh",
    "arctan",
    "arctan2",
    "arctanh",
    "argmax",
    "argmin",
    "clip",
    "cos",
    "cosh",
    "exp",
    "expm1",
    "floor",
    "ceil",
    "round",
    "hypot",
    "isfinite",
    "isnan",
    "log",
    "log10",
    "log1p",
    "log2",
    "maximum",
    "minimum",
    "ones_like",
    "zeros_like",
    "full_like",
    "sign",
    "sin",
    "sinh",
    "sqrt",
    "square",
    "stack",
    "concatenate",
    "sum",
    "prod",
    "mean",
    "tan",
    "tanh",
    "where",
    "power",
    "fabs",
    "logical_and",
    "logical_or",
    "logical_not",
    "nan_to_num",
    "heaviside",
    "mod",
    "fmod",
]
_AK_FUNCS = [
    "ones_like",
    "zeros_like",
    "full_like",
    "num",
    "sum",
    "prod",
    "max",
    "min",
    "mean",
    "argmax",
    "argmin",
    "to_numpy",
    "firsts",
    "fill_none",
    "pad_none",
    "flatten",
    "unflatten",
    "where",
    "any",
    "all",
    "count",
    "count_nonzero",
    "values_astype",
    "local_index",
    "sort",
    "argsort",
]
_MATH_FUNCS = ["sqrt", "log", "log10", "exp", "cos", "sin", "tan", "tanh", "atan2", "hypot", "fabs"]
_CONSTANTS = {("np", "pi"): np.pi, ("np", "e"): np.e, ("math", "pi"): math.pi, ("math", "e"): math.e}

ALLOWED_FUNCTIONS: dict[tuple[str, str], Callable[..., Any]] = {
    **{("np", f): getattr(np, f) for f in _NP_FUNCS},
    **{("numpy", f): getattr(np, f) for f in _NP_FUNCS},
    **{("ak", f): getattr(ak, f) for f in _AK_FUNCS},
    **{("awkward", f): getattr(ak, f) for f in _AK_FUNCS},
    **{("math", f): getattr(math, f) for f in _MATH_FUNCS},
}

_BINOPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.BitAnd: operator.and_,
    ast.BitOr: operator.or_,
    ast.BitXor: operator.xor,
}
_UNARY = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Invert: operator.invert,
    ast.Not: np.logical_not,
}
_CMP = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


def _refuse(expr: str, what: str, field: str | None) -> ConfigError:
    return ConfigError(
        f"expression {expr!r} is refused: {what}",
        field=field,
        expected="arithmetic on branches and calls of np/ak/math functions from the allow-list",
    )


def _module_attr(node: ast.AST) -> tuple[str, str] | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.value.id, node.attr
    return None


class _Checker(ast.NodeVisitor):
    def __init__(self, expr: str, field: str | None) -> None:
        self.expr, self.field = expr, field
        self.names: list[str] = []

    def generic_visit(self, node: ast.AST) -> None:
        allowed = (
            ast.Expression,
            ast.BinOp,
            ast.UnaryOp,
            ast.BoolOp,
            ast.Compare,
            ast.Constant,
            ast.Subscript,
            ast.Slice,
            ast.Tuple,
            ast.List,
            ast.Load,
            ast.keyword,
            ast.IfExp,
            *(_BINOPS.keys()),
            *(_UNARY.keys()),
            *(_CMP.keys()),
            ast.And,
            ast.Or,
        )
        if not isinstance(node, allowed):
            raise _refuse(self.expr, f"{type(node).__name__} is not allowed", self.field)
        super().generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if not isinstance(node.value, (int, float, bool, str)):
            raise _refuse(self.expr, f"constant {node.value!r} is not a number or a string", self.field)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id.startswith("__"):
            raise _refuse(self.expr, f"name {node.id!r} is not allowed", self.field)
        if node.id in ("np", "numpy", "ak", "awkward", "math"):
            raise _refuse(self.expr, f"module {node.id!r} used outside an allowed call", self.field)
        self.names.append(node.id)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        key = _module_attr(node)
        if key in _CONSTANTS:
            return
        raise _refuse(self.expr, f"attribute access {ast.unparse(node)!r} is not allowed", self.field)

    def visit_Call(self, node: ast.Call) -> None:
        key = _module_attr(node.func)
        if key not in ALLOWED_FUNCTIONS:
            raise _refuse(self.expr, f"call of {ast.unparse(node.func)!r} is not allowed", self.field)
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise _refuse(self.expr, "starred arguments are not allowed", self.field)
            self.visit(arg)
        for kw in node.keywords:
            if kw.arg is None:
                raise _refuse(self.expr, "**kwargs are not allowed", self.field)
            self.visit(kw.value)


@functools.lru_cache(maxsize=512)
def _parse(expr: str, field: str | None) -> tuple[ast.Expression, tuple[str, ...]]:
    try:
        tree = ast.parse(str(expr).strip(), mode="eval")
    except SyntaxError as exc:
        raise ConfigError(f"expression {expr!r} is not valid: {exc.msg}", field=field) from None
    checker = _Checker(expr, field)
    checker.visit(tree)
    return tree, tuple(dict.fromkeys(checker.names))


def compile_expression(expr: str, *, field: str | None = None) -> tuple[str, ...]:
    """Check ``expr`` against the allowed grammar; return the variable names it reads (in order of
    appearance)."""
    return _parse(str(expr), field)[1]


def variable_names(expr: str) -> tuple[str, ...]:
    """The data variables an expression reads."""
    return compile_expression(expr)


def evaluate(expr: str, table: Mapping[str, Any], *, field: str | None = None) -> Any:
    """Evaluate a checked expression with variables looked up in ``table`` (arrays by name)."""
    tree, _ = _parse(str(expr), field)
    return _Eval(table, expr, field).visit(tree.body)


class _Eval:
    def __init__(self, table: Mapping[str, Any], expr: str, field: str | None) -> None:
        self.table, self.expr, self.field = table, expr, field

    def visit(self, node: ast.AST) -> Any:
        return getattr(self, "visit_" + type(node).__name__)(node)

    def visit_Constant(self, node):
        return node.value

    def visit_Name(self, node):
        try:
            return self.table[node.id]
        except KeyError:
            raise ConfigError(
                f"expression {self.expr!r} reads {node.id!r}, which is neither a branch nor a new variable",
                field=self.field,
            ) from None

    def visit_Attribute(self, node):
        return _CONSTANTS[_module_attr(node)]

    def visit_BinOp(self, node):
        return _BINOPS[type(node.op)](self.visit(node.left), self.visit(node.right))

    def visit_UnaryOp(self, node):
        return _UNARY[type(node.op)](self.visit(node.operand))

    def visit_BoolOp(self, node):
        values = [self.visit(v) for v in node.values]
        op = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        return functools.reduce(op, values)

    def visit_Compare(self, node):
        left = self.visit(node.left)
        result = None
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = self.visit(comp)
            r = _CMP[type(op)](left, right)
            result = r if result is None else result & r
            left = right
        return result

    def visit_IfExp(self, node):
        return np.where(self.visit(node.test), self.visit(node.body), self.visit(node.orelse))

    def visit_Subscript(self, node):
        return self.visit(node.value)[self.visit(node.slice)]

    def visit_Slice(self, node):
        part = [None if x is None else self.visit(x) for x in (node.lower, node.upper, node.step)]
        return slice(*part)

    def visit_Tuple(self, node):
        return tuple(self.visit(e) for e in node.elts)

    def visit_List(self, node):
        return [self.visit(e) for e in node.elts]

    def visit_Call(self, node):
        func = ALLOWED_FUNCTIONS[_module_attr(node.func)]
        args = [self.visit(a) for a in node.args]
        kwargs = {kw.arg: self.visit(kw.value) for kw in node.keywords}
        return func(*args, **kwargs)
