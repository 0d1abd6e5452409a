"""A classification head over mean-pooled token states, for encoders trained with mean pooling.

all-MiniLM-L6-v2 and other sentence-embedding checkpoints were trained to represent a text by the mean
of their last hidden states; their [CLS] pooler (BERT's dense + tanh) is a leftover of pre-training.
`MeanPoolClassifier` puts a new linear layer on that mean instead, and answers like a transformers
classifier (`.loss`, `.logits`), so the runner, PEFT and the Flat-LoRA core treat it as any other model.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.modeling_outputs import SequenceClassifierOutput


class MeanPoolClassifier(torch.nn.Module):
    """Encoder -> masked mean of the last hidden states -> dropout -> linear head."""

    def __init__(self, encoder: Any, num_labels: int) -> None:
        super().__init__()
        cfg = encoder.config
        self.encoder = encoder
        self.config = cfg  # PEFT and the runner read `model.config` (model_type, label names)
        p: float | None = getattr(cfg, "classifier_dropout", None)
        if p is None:
            p = float(getattr(cfg, "hidden_dropout_prob", getattr(cfg, "dropout", 0.1)))
        self.dropout = torch.nn.Dropout(float(p))
        self.classifier = torch.nn.Linear(int(cfg.hidden_size), num_labels)
        # the initialisation transformers gives a new classification head
        torch.nn.init.normal_(
            self.classifier.weight, mean=0.0, std=float(getattr(cfg, "initializer_range", 0.02))
        )
        torch.nn.init.zeros_(self.classifier.bias)

    @classmethod
    def from_pretrained(
        cls, path: str, num_labels: int, id2label: dict[int, str] | None = None
    ) -> MeanPoolClassifier:
        """The checkpoint's encoder (no [CLS] pooler where the architecture allows leaving it out)."""
        from transformers import AutoModel

        try:
            encoder = AutoModel.from_pretrained(path, add_pooling_layer=False)
        except TypeError:  # architectures without that option keep their pooler, unused
            encoder = AutoModel.from_pretrained(path)
        if id2label:
            encoder.config.id2label = dict(id2label)
            encoder.config.label2id = {n: i for i, n in id2label.items()}
        return cls(encoder, num_labels)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **_: Any,
    ) -> SequenceClassifierOutput:
        kw: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kw["token_type_ids"] = token_type_ids
        h = self.encoder(**kw).last_hidden_state  # (b, t, d)
        if attention_mask is None:
            mask = torch.ones((*h.shape[:2], 1), dtype=h.dtype, device=h.device)  # (b, t, 1)
        else:
            mask = attention_mask.unsqueeze(-1).to(h.dtype)  # (b, t, 1)
        pooled = (h * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (b, d)
        logits = self.classifier(self.dropout(pooled))  # (b, k)
        loss = torch.nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


__all__ = ["MeanPoolClassifier"]
