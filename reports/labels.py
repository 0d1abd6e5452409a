"""How the report names methods, metrics and seeds: one table each, shared by the summary and the renderer."""

from __future__ import annotations

METRICS: tuple[str, ...] = ("accuracy", "weighted_f1", "macro_f1", "mcc")
METRIC_LABELS: dict[str, str] = {
    "accuracy": "accuracy",
    "weighted_f1": "weighted F1",
    "macro_f1": "macro F1",
    "mcc": "MCC",
    "loss": "held-out loss",
}
METHOD_ORDER: tuple[str, ...] = ("full", "lora", "flat_lora", "sam_ab", "sam_w")
METHOD_LABELS: dict[str, str] = {
    "full": "Full FT",
    "lora": "LoRA",
    "flat_lora": "Flat-LoRA",
    "sam_ab": "SAM on A,B",
    "sam_w": "SAM on W",
}


def method_sort_key(method: str) -> tuple[int, str]:
    """The report's order of methods (full, LoRA, Flat-LoRA, SAM-AB, SAM-W), then any other by name."""
    return (METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER), method)


def seed_list(seeds: list[int] | tuple[int, ...]) -> str:
    """Seeds as a reader scans them: runs of consecutive seeds as ranges ("1–5, 7, 9–11")."""
    xs = sorted({int(s) for s in seeds})
    parts: list[str] = []
    i = 0
    while i < len(xs):
        j = i
        while j + 1 < len(xs) and xs[j + 1] == xs[j] + 1:
            j += 1
        parts.append(str(xs[i]) if j == i else f"{xs[i]}–{xs[j]}" if j > i + 1 else f"{xs[i]}, {xs[j]}")
        i = j + 1
    return ", ".join(parts)
