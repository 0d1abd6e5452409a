"""Tiny config-built checkpoints shared by the test packages (fast, deterministic, offline)."""

from __future__ import annotations

from pathlib import Path


def save_tiny_bert(path: Path, *, num_labels: int | None = None) -> Path:
    """2-layer, 32-wide BERT (seeded random init) + the real MiniLM tokenizer, saved like a checkpoint.

    With ``num_labels`` it is a sequence classifier; without, a bare encoder (the runner adds the head).
    """
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, BertModel

    from flatlora.bench.models import minilm_path

    tok = AutoTokenizer.from_pretrained(minilm_path())
    cfg = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        **({"num_labels": num_labels} if num_labels is not None else {}),
    )
    torch.manual_seed(0)
    model = BertForSequenceClassification(cfg) if num_labels is not None else BertModel(cfg)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path
