"""The mean-pooling head, and recipe settings reaching the model."""

from __future__ import annotations

import pytest
import torch

from flatlora.bench.config import resolve_config
from flatlora.bench.heads import MeanPoolClassifier
from flatlora.bench.runner import build_model


def test_mean_pooling_ignores_padding(tiny_bert: str) -> None:
    torch.manual_seed(0)
    m = MeanPoolClassifier.from_pretrained(tiny_bert, 3).eval()
    ids = torch.tensor([[101, 2000, 2001, 102]])
    padded = torch.tensor([[101, 2000, 2001, 102, 0, 0]])
    a = m(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
    b = m(input_ids=padded, attention_mask=torch.tensor([[1, 1, 1, 1, 0, 0]])).logits
    assert a.shape == (1, 3) and torch.allclose(a, b, atol=1e-5)
    h = m.encoder(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
    assert torch.allclose(a, m.classifier(h.mean(1)), atol=1e-5)  # the mean of the token states
    out = m(input_ids=ids, attention_mask=torch.ones_like(ids), labels=torch.tensor([2]))
    assert float(out.loss) == pytest.approx(
        float(torch.nn.functional.cross_entropy(a, torch.tensor([2]))), abs=1e-5
    )


@pytest.mark.parametrize(
    ("over", "trainable_has", "trainable_lacks"),
    [
        ({}, ["classifier", "lora_A"], ["pooler"]),
        ({"modules_to_save": ("pooler",)}, ["pooler", "classifier"], []),
        ({"pooling": "mean"}, ["classifier", "lora_A"], ["pooler"]),
    ],
)
def test_recipe_settings_reach_the_model(
    tiny_bert: str, over: dict[str, object], trainable_has: list[str], trainable_lacks: list[str]
) -> None:
    cfg = resolve_config("smoke", model=tiny_bert, method="lora", **over)
    model, _ = build_model(cfg, ["a", "b", "c"])
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    for part in trainable_has:
        assert any(part in n for n in names), (part, names)
    for part in trainable_lacks:
        assert not any(part in n for n in names), (part, names)
    if over.get("pooling") == "mean":
        assert model.flatbench_model_info["architecture"] == "MeanPoolClassifier"
        assert not any("pooler" in n for n, _ in model.named_parameters())


def test_blocks_targets_every_linear_in_the_blocks(tiny_bert: str) -> None:
    cfg = resolve_config("smoke", model=tiny_bert, method="lora", target_modules=("blocks",))
    model, _ = build_model(cfg, ["a", "b", "c"])
    info = model.flatbench_model_info
    assert info["target_modules_source"] == "encoder_linears"
    wrapped = {n.rsplit(".", 1)[0] for n, _ in model.named_parameters() if "lora_A" in n}
    # 2 layers x (query, key, value, attention.output.dense, intermediate.dense, output.dense)
    assert len({w.split(".lora_A")[0] for w in wrapped}) == 12
    assert not any("pooler" in w or "classifier" in w for w in wrapped)


def test_new_settings_leave_old_hashes_alone() -> None:
    base = resolve_config("study", lr=3e-3)
    assert base.config_hash() == resolve_config("study", lr=3e-3, pooling="model").config_hash()
    assert base.config_hash() != resolve_config("study", lr=3e-3, pooling="mean").config_hash()
    with pytest.raises(ValueError, match="`pooling` must be one of"):
        resolve_config("study", lr=3e-3, pooling="max")
