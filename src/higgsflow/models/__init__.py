"""Tagger architectures (``nn.Module``s only): ParT, ParticleNet, PFN, DNN, ParT and ParticleNet on PF + SV, UParT-AK4
and the DeepJet-like baseline on charged PF + neutral PF + SV, the event-level ParT of the ttH(cc) search on jets,
leptons and MET; the model contract (named inputs, named heads); a registry; weaver-core importers."""

from higgsflow.models.contract import ContractModel, contract_model
from higgsflow.models.registry import MODELS, build_model, export_description, register_model
from higgsflow.models.weaver import load_weaver_state_dict, read_checkpoint

__all__ = [
    "MODELS",
    "ContractModel",
    "build_model",
    "contract_model",
    "export_description",
    "load_weaver_state_dict",
    "read_checkpoint",
    "register_model",
]
