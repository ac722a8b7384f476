"""Training, inference and export of taggers: the training loop, optimisers, ONNX export, evaluate,
predict.

The names below load on first use (PEP 562), so that importing ``higgsflow.train.cli`` — and with it
``higgsflow --help`` — does not pull in torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "EvaluationResult": "higgsflow.train.inference",
    "OnnxScorer": "higgsflow.train.inference",
    "evaluate_run": "higgsflow.train.inference",
    "export_onnx": "higgsflow.train.inference",
    "predict_files": "higgsflow.train.inference",
    "score_arrays": "higgsflow.train.inference",
    "TrainResult": "higgsflow.train.loop",
    "TrainSettings": "higgsflow.train.loop",
    "load_run_model": "higgsflow.train.loop",
    "train": "higgsflow.train.loop",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'higgsflow.train' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
