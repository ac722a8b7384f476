"""The model contract: named inputs in, named heads out; build_model checks the config against the model."""

from __future__ import annotations

import pytest
import torch

from higgsflow.data import DataConfig
from higgsflow.models import build_model
from higgsflow.models.contract import ContractModel, split_name
from higgsflow.models.part import ParticleTransformer

TINY = {"embed_dims": (8, 8), "pair_embed_dims": (4,), "num_heads": 2, "num_layers": 1, "num_cls_layers": 1}


def _cfg(prefix: str = "pf", extra: dict | None = None) -> DataConfig:
    inputs = {
        f"{prefix}_features": {"length": 6, "vars": ["a", "b", "c"]},
        f"{prefix}_vectors": {"length": 6, "vars": ["px", "py", "pz", "e"]},
        f"{prefix}_mask": {"length": 6, "vars": ["m"]},
        **(extra or {}),
    }
    return DataConfig.from_dict({"inputs": inputs, "labels": {"type": "simple", "value": ["l_a", "l_b"]}})


def _jets(n=5, p=6, prefix="pf"):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, p, generator=g)
    pt = torch.rand(n, 1, p, generator=g) + 0.5
    v = torch.cat([pt, 0.1 * pt, 0.2 * pt, 1.1 * pt], dim=1)
    mask = torch.ones(n, 1, p)
    mask[0, :, 3:] = 0
    return {f"{prefix}_features": x, f"{prefix}_vectors": v, f"{prefix}_mask": mask}


def test_split_name_gives_collection_and_role():
    assert split_name("pf_features") == ("pf", "features")
    assert split_name("jet_sv_mask") == ("jet_sv", "mask")
    assert split_name("mask") == ("", "mask")


@pytest.mark.parametrize("prefix", ["pf", "part"])
def test_built_model_takes_named_inputs_and_returns_named_heads(prefix):
    model = build_model("part", _cfg(prefix), **TINY, seed=0).eval()
    assert isinstance(model, ContractModel) and isinstance(model, ParticleTransformer)
    assert model.heads == ("logits",)
    assert model.input_map == {
        ("*", "features"): f"{prefix}_features",
        ("*", "vectors"): f"{prefix}_vectors",
        ("*", "mask"): f"{prefix}_mask",
    }
    inputs = _jets(prefix=prefix)
    with torch.no_grad():
        heads = model(inputs)
        ref = ParticleTransformer.forward(
            model, None, inputs[f"{prefix}_features"], inputs[f"{prefix}_vectors"], inputs[f"{prefix}_mask"]
        )
    assert set(heads) == {"logits"} and torch.equal(heads["logits"], ref)
    # same parameter names as the positional model: weaver-core checkpoints and old runs still load
    assert set(model.state_dict()) == set(ParticleTransformer(3, 2, **TINY).state_dict())


def test_aliases_resolve_and_unknown_names_list_the_registry():
    for name in ("ParT", "particle-transformer", "PART"):
        assert build_model(name, _cfg(), **TINY).arch == "part"
    assert (
        build_model("PN", _cfg(extra={"pf_points": {"length": 6, "vars": ["a", "b"]}})).arch == "particlenet"
    )


def test_a_second_collection_a_one_collection_model_ignores_is_reported(caplog):
    extra = {"sv_features": {"length": 2, "vars": ["s"]}}
    with caplog.at_level("WARNING"):
        build_model("pfn", _cfg(extra=extra))
    assert "sv" in caplog.text
