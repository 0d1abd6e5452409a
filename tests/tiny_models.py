"""Tiny config-built checkpoints shared by the test packages (fast, deterministic, offline)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


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


CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def save_tiny_decoder(path: Path, kind: str = "llama", *, chat_template: bool = False) -> Path:
    """A 2-layer, 32-wide causal LM (seeded random init) with a byte-level tokenizer (any text, no merges).

    `kind`: "llama" (q_proj/v_proj: PEFT's Llama default) or "gpt2" (Conv1D c_attn); `chat_template`
    gives the tokenizer a small chat template (user/assistant turns ended by </s>).
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        LlamaConfig,
        LlamaForCausalLM,
        PreTrainedTokenizerFast,
    )

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    core = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    if chat_template:
        tok.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    if kind == "llama":
        cfg = LlamaConfig(
            vocab_size=len(tok),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=512,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
        )
        model: Any = LlamaForCausalLM(cfg)
    elif kind == "gpt2":
        cfg = GPT2Config(
            vocab_size=len(tok),
            n_embd=32,
            n_layer=2,
            n_head=2,
            n_positions=512,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
        )
        model = GPT2LMHeadModel(cfg)
    else:
        raise ValueError(f"`kind` must be llama|gpt2, got {kind!r}")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path
