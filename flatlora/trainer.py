"""transformers 5.x integration.

Both variants take t = ``state.global_step`` and T = ``state.max_steps``. ``global_step`` only advances
at optimizer steps, so all micro-batches of a gradient-accumulation step see the same eps, and a run
resumed from a checkpoint recomputes the same sigma_t and noise.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn
from transformers import Trainer, TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from flatlora.config import FlatLoraConfig
from flatlora.model import FlatLora


class FlatLoraTrainer(Trainer):
    """``Trainer`` whose every forward+backward runs inside ``FlatLora.perturb(global_step, max_steps)``."""

    def __init__(
        self,
        *args: Any,
        flat_lora_config: FlatLoraConfig | None = None,
        flat_lora: FlatLora | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if flat_lora is not None and flat_lora_config is not None:
            raise ValueError("pass either `flat_lora` or `flat_lora_config`, not both")
        self.flat_lora = flat_lora if flat_lora is not None else FlatLora(self.model, flat_lora_config)  # type: ignore[arg-type]

    def training_step(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor | Any],
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor:
        with self.flat_lora.perturb(self.state.global_step, self.state.max_steps):
            return super().training_step(model, inputs, num_items_in_batch)


class FlatLoraCallback(TrainerCallback):
    """Callback form for an unmodified ``Trainer``: opens the perturbation at ``on_step_begin``
    (once per optimizer step, before its micro-batches) and closes it at ``on_pre_optimizer_step``
    (after the last backward). Prefer :class:`FlatLoraTrainer` -- it scopes the noise exactly to
    forward+backward, whereas here an evaluation cannot interleave but custom code in between would
    also see the noise.
    """

    def __init__(self, config: FlatLoraConfig | None = None, flat_lora: FlatLora | None = None) -> None:
        self.config = config
        self.flat_lora = flat_lora
        self._stack: contextlib.ExitStack | None = None

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self.flat_lora is None:
            self.flat_lora = FlatLora(kwargs["model"], self.config)

    def on_step_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        assert self.flat_lora is not None
        self._close()
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(self.flat_lora.perturb(state.global_step, state.max_steps))

    def on_pre_optimizer_step(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self._close()

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self._close()

    def _close(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None
