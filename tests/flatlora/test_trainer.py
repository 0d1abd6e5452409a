"""transformers 5 integration on a tiny config-built BERT, with gradient accumulation."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from peft import LoraConfig, TaskType, get_peft_model
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

import flatlora.model
import flatlora.perturb
from flatlora import FlatLoraConfig
from flatlora.perturb import noise_seed
from flatlora.trainer import FlatLoraCallback, FlatLoraTrainer


def _tiny_bert() -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=97,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=32,
        num_labels=3,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    model = BertForSequenceClassification(cfg)
    lcfg = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=4,
        lora_alpha=8,
        target_modules=["query", "value"],
        init_lora_weights=False,
    )
    return get_peft_model(model, lcfg)


def _dataset(n: int = 12) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [
        {
            "input_ids": torch.randint(1, 97, (10,), generator=g),
            "attention_mask": torch.ones(10, dtype=torch.long),
            "labels": torch.tensor(i % 3),
        }
        for i in range(n)
    ]


def _args(tmp_path: Any) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=3,
        per_device_train_batch_size=2,
        gradient_accumulation_steps=2,
        learning_rate=5e-3,
        report_to="none",
        save_strategy="no",
        logging_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
        dataloader_num_workers=0,
    )


@pytest.fixture
def seen_steps(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Records (optimizer step, layer) of every noise draw (forward and backward redraws)."""
    calls: list[tuple[int, int]] = []
    lookup = {noise_seed(0, t, layer): (t, layer) for t in range(10) for layer in range(4)}
    real = flatlora.perturb.draw

    def spy(out: torch.Tensor, seed: int, *args: Any) -> torch.Tensor:
        calls.append(lookup[seed])
        return real(out, seed, *args)

    monkeypatch.setattr(flatlora.perturb, "draw", spy)
    return calls


def _run(kind: str, tmp_path: Any) -> torch.nn.Module:
    model = _tiny_bert()
    cfg = FlatLoraConfig(sigma=0.1, seed=0, schedule="constant")
    if kind == "trainer":
        trainer: Trainer = FlatLoraTrainer(
            model=model, args=_args(tmp_path), train_dataset=_dataset(), flat_lora_config=cfg
        )
    else:
        trainer = Trainer(
            model=model, args=_args(tmp_path), train_dataset=_dataset(), callbacks=[FlatLoraCallback(cfg)]
        )
    trainer.train()
    return model


@pytest.mark.parametrize("kind", ["trainer", "callback"])
def test_one_noise_draw_per_optimizer_step_shared_by_micro_batches(
    kind: str, tmp_path: Any, seen_steps: list[tuple[int, int]]
) -> None:
    model = _tiny_bert()
    w0 = {k: v.clone() for k, v in model.state_dict().items() if "base_layer" in k}
    b0 = {k: v.clone() for k, v in model.state_dict().items() if "lora_B" in k}
    trained = _run(kind, tmp_path)
    # 3 optimizer steps x 2 micro-batches; 4 LoRA layers (query, value in 2 blocks). Block 0's inputs
    # need no gradient (frozen embeddings): forward draws only. Block 1 redraws eps in backward.
    per_layer = {lay: [t for t, l2 in seen_steps if l2 == lay] for lay in range(4)}
    assert per_layer[0] == per_layer[1] == [0, 0, 1, 1, 2, 2]
    assert per_layer[2] == per_layer[3] == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    sd = trained.state_dict()
    assert all(torch.equal(w0[k], sd[k]) for k in w0)  # exact mode: base weights untouched
    assert any(not torch.equal(b0[k], sd[k]) for k in b0)  # the adapters trained
    assert all("forward" not in m.__dict__ for m in trained.modules() if isinstance(m, torch.nn.Linear))


def test_trainer_subclass_and_callback_train_identically(tmp_path: Any) -> None:
    a = _run("trainer", tmp_path / "a")
    b = _run("callback", tmp_path / "b")
    plain = _tiny_bert()
    Trainer(model=plain, args=_args(tmp_path / "c"), train_dataset=_dataset()).train()
    for k, v in a.state_dict().items():
        if "lora_" in k:
            torch.testing.assert_close(v, b.state_dict()[k], atol=1e-6, rtol=1e-6)
    assert any(
        not torch.allclose(v, plain.state_dict()[k], atol=1e-6)
        for k, v in a.state_dict().items()
        if "lora_" in k
    )


def test_trainer_rejects_both_config_and_instance(tmp_path: Any) -> None:
    model = _tiny_bert()
    fl = flatlora.model.FlatLora(model, FlatLoraConfig())
    with pytest.raises(ValueError, match="either `flat_lora` or `flat_lora_config`"):
        FlatLoraTrainer(
            model=copy.deepcopy(model), args=_args(tmp_path), flat_lora=fl, flat_lora_config=FlatLoraConfig()
        )


def _draws(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every noise draw's seed."""
    seeds: list[int] = []
    real = flatlora.perturb.draw

    def spy(out: torch.Tensor, seed: int, *args: Any) -> torch.Tensor:
        seeds.append(seed)
        return real(out, seed, *args)

    monkeypatch.setattr(flatlora.perturb, "draw", spy)
    return seeds


def test_trainer_with_model_init_perturbs_the_model_it_trains(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeds = _draws(monkeypatch)
    built: list[torch.nn.Module] = []

    def model_init() -> torch.nn.Module:
        built.append(_tiny_bert())
        return built[-1]

    cfg = FlatLoraConfig(sigma=0.1, seed=0, schedule="constant")
    trainer = FlatLoraTrainer(
        model_init=model_init, args=_args(tmp_path), train_dataset=_dataset(), flat_lora_config=cfg
    )
    trainer.train()
    assert len(built) == 2  # one in __init__, the trained one in train()
    assert trainer.flat_lora is not None and trainer.flat_lora.model is built[-1]
    # 3 optimizer steps x 2 micro-batches; forward draws of 4 layers + backward redraws of 2
    assert len(seeds) == 3 * 2 * (4 + 2)
    assert set(seeds) == {noise_seed(0, t, layer) for t in range(3) for layer in range(4)}


@pytest.mark.parametrize("kind", ["trainer", "callback"])
def test_second_train_call_still_draws_noise(
    kind: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeds = _draws(monkeypatch)
    cfg = FlatLoraConfig(sigma=0.1, seed=0, schedule="constant")

    def model_init() -> torch.nn.Module:
        return _tiny_bert()

    if kind == "trainer":
        trainer: Trainer = FlatLoraTrainer(
            model_init=model_init, args=_args(tmp_path), train_dataset=_dataset(), flat_lora_config=cfg
        )
    else:
        trainer = Trainer(
            model_init=model_init,
            args=_args(tmp_path),
            train_dataset=_dataset(),
            callbacks=[FlatLoraCallback(cfg)],
        )
    trainer.train()
    first = len(seeds)
    first_model = trainer.model
    trainer.train()  # as hyperparameter search does: a new model, the same callback or trainer
    assert trainer.model is not first_model
    assert first == 36 and len(seeds) == 2 * first  # the second run draws as much noise as the first
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in trainer.model.modules())


@pytest.mark.parametrize("kind", ["trainer", "callback"])
def test_default_noise_seed_is_training_arguments_seed(
    kind: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeds = _draws(monkeypatch)
    args = _args(tmp_path)
    args.seed = 17
    cfg = FlatLoraConfig(sigma=0.1, schedule="constant")  # no seed
    if kind == "trainer":
        trainer: Trainer = FlatLoraTrainer(
            model=_tiny_bert(), args=args, train_dataset=_dataset(), flat_lora_config=cfg
        )
    else:
        trainer = Trainer(
            model=_tiny_bert(), args=args, train_dataset=_dataset(), callbacks=[FlatLoraCallback(cfg)]
        )
    trainer.train()
    assert seeds and set(seeds) == {noise_seed(17, t, layer) for t in range(3) for layer in range(4)}
