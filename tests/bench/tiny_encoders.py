"""Tiny config-built encoders whose module names differ from BERT's (offline, seeded, seconds to train)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _config(kind: str, vocab_size: int, num_labels: int) -> Any:
    import transformers as T

    common: dict[str, Any] = {"vocab_size": vocab_size, "num_labels": num_labels}
    if kind == "distilbert":  # q_lin / k_lin / v_lin / out_lin / lin1 / lin2; head: pre_classifier
        return T.DistilBertConfig(
            dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=128, **common
        )
    if kind == "deberta-v2":  # query_proj / key_proj / value_proj (PEFT has a default for it)
        return T.DebertaV2Config(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=128,
            **common,
        )
    if kind == "modernbert":  # Wqkv / Wo / Wi; head: head.dense (no PEFT default)
        return T.ModernBertConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=128,
            pad_token_id=0,
            **common,
        )
    if kind == "roberta":  # one segment (type_vocab_size 1); positions start after the padding index
        return T.RobertaConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=130,
            type_vocab_size=1,
            pad_token_id=0,  # MiniLM's [PAD]
            **common,
        )
    raise ValueError(f"unknown tiny encoder kind {kind!r}")


def save_tiny_encoder(path: Path, kind: str, num_labels: int = 2) -> Path:
    """A 2-layer, 32-wide sequence classifier of `kind` with MiniLM's tokenizer, saved like a checkpoint."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from flatlora.bench.models import minilm_path

    tok = AutoTokenizer.from_pretrained(minilm_path())
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(_config(kind, tok.vocab_size, num_labels))
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path
