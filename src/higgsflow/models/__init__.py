"""Tagger architectures (``nn.Module``s only): ParT, ParticleNet, PFN, DNN; a registry; weaver-core
importers."""

from higgsflow.models.registry import MODELS, build_model, export_description, register_model
from higgsflow.models.weaver import load_weaver_state_dict, read_checkpoint

__all__ = [
    "MODELS",
    "build_model",
    "export_description",
    "load_weaver_state_dict",
    "read_checkpoint",
    "register_model",
]
