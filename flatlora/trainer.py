"""transformers 5.x integration.

Both variants take t = ``state.global_step`` and T = ``state.max_steps``. ``global_step`` only advances
at optimizer steps, so all micro-batches of a gradient-accumulation step see the same eps, and a run
resumed from a checkpoint recomputes the same sigma_t and noise. Both bind to the model that is
actually trained -- the one ``model_init`` builds inside ``train()``, a new one on every ``train()``
call -- and a config without a seed takes ``TrainingArguments.seed``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import torch
from torch import nn
from transformers import Trainer, TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from flatlora.config import FlatLoraConfig
from flatlora.model import FlatLora


def _bind(current: FlatLora | None, config: FlatLoraConfig | None, model: nn.Module, seed: int) -> FlatLora:
    """``current`` if it already perturbs ``model``, else a FlatLora on ``model`` with the same config."""
    if current is not None and current.model is model:
        return current
    if current is not None:
        current.remove_hooks()
    cfg = config if config is not None else FlatLoraConfig()
    if cfg.seed is None:
        cfg = dataclasses.replace(cfg, seed=seed)
    return FlatLora(model, cfg)


class FlatLoraTrainer(Trainer):
    """``Trainer`` whose every forward+backward runs inside ``FlatLora.perturb(global_step, max_steps)``.

    Pass ``flat_lora_config`` (or a ready ``flat_lora``, whose config is reused if ``train()`` trains
    another model, e.g. one built by ``model_init``).
    """

    def __init__(
        self,
        *args: Any,
        flat_lora_config: FlatLoraConfig | None = None,
        flat_lora: FlatLora | None = None,
        **kwargs: Any,
    ) -> None:
        if flat_lora is not None and flat_lora_config is not None:
            raise ValueError("pass either `flat_lora` or `flat_lora_config`, not both")
        super().__init__(*args, **kwargs)
        self.flat_lora_config = flat_lora.config if flat_lora is not None else flat_lora_config
        self.flat_lora: FlatLora | None = flat_lora

    def _flat_lora(self) -> FlatLora:
        assert self.model is not None
        self.flat_lora = _bind(self.flat_lora, self.flat_lora_config, self.model, self.args.seed)
        return self.flat_lora

    def train(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().train(*args, **kwargs)
        finally:
            if self.flat_lora is not None:
                self.flat_lora.remove_hooks()

    def training_step(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor | Any],
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor:
        with self._flat_lora().perturb(self.state.global_step, self.state.max_steps):
            return super().training_step(model, inputs, num_items_in_batch)


class FlatLoraCallback(TrainerCallback):
    """Callback form for an unmodified ``Trainer``: opens the perturbation at ``on_step_begin``
    (once per optimizer step, before its micro-batches) and closes it at ``on_pre_optimizer_step``
    (after the last backward). Prefer :class:`FlatLoraTrainer` -- it scopes the noise exactly to
    forward+backward, whereas here an evaluation cannot interleave but custom code in between would
    also see the noise.
    """

    def __init__(self, config: FlatLoraConfig | None = None, flat_lora: FlatLora | None = None) -> None:
        if flat_lora is not None and config is not None:
            raise ValueError("pass either `flat_lora` or `config`, not both")
        self.config = flat_lora.config if flat_lora is not None else config
        self.flat_lora = flat_lora
        self._stack: contextlib.ExitStack | None = None

    def _bind(self, args: TrainingArguments, model: nn.Module | None) -> FlatLora:
        if model is None:
            raise ValueError("FlatLoraCallback: the Trainer passed no model to the callback")
        self.flat_lora = _bind(self.flat_lora, self.config, model, args.seed)
        return self.flat_lora

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self._bind(args, kwargs.get("model"))

    def on_step_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        fl = self._bind(args, kwargs.get("model"))
        self._close()
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(fl.perturb(state.global_step, state.max_steps))

    def on_pre_optimizer_step(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self._close()

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self._close()
        if self.flat_lora is not None:
            self.flat_lora.remove_hooks()

    def _close(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None
