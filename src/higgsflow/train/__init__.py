"""Training, inference and export of taggers: the training loop, optimisers, ONNX export, evaluate,
predict."""

from higgsflow.train.inference import (
    EvaluationResult,
    OnnxScorer,
    evaluate_run,
    export_onnx,
    predict_files,
    score_arrays,
)
from higgsflow.train.loop import TrainResult, TrainSettings, load_run_model, train

__all__ = [
    "EvaluationResult",
    "OnnxScorer",
    "TrainResult",
    "TrainSettings",
    "evaluate_run",
    "export_onnx",
    "load_run_model",
    "predict_files",
    "score_arrays",
    "train",
]
