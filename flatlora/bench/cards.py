"""Dataset cards: the yaml beside the code that names a dataset's columns, labels and limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flatlora.bench.errors import DataError

REPO_ROOT = Path(__file__).resolve().parents[2]
DATASETS_DIR = REPO_ROOT / "datasets"


def load_card(name_or_path: str) -> dict[str, Any]:
    """A dataset card (yaml) by name from datasets/cards/ or by path."""
    import yaml

    p = Path(name_or_path).expanduser()
    if not p.suffix:
        p = DATASETS_DIR / "cards" / f"{name_or_path}.yaml"
    if not p.is_file():
        known = sorted(c.stem for c in (DATASETS_DIR / "cards").glob("*.yaml"))
        raise DataError(f"dataset card not found: {p} (cards: {known}, or a .yaml path)", check="card")
    try:
        card: dict[str, Any] = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DataError(
            f"dataset card {p} is not valid YAML: {str(exc).splitlines()[0]}", check="card"
        ) from exc
    if not isinstance(card, dict):
        raise DataError(f"dataset card {p} must be a YAML mapping", check="card")
    labels = card.get("labels")
    if labels is not None and (
        not isinstance(labels, list) or any(isinstance(x, bool) or x is None for x in labels)
    ):
        raise DataError(
            f"dataset card {p}: `labels` must be a list of names or class ids, got {labels!r}; YAML reads "
            "unquoted yes/no, on/off, true/false as booleans and ~ or null as nothing: quote each name as "
            "the data writes it (labels: ['no', 'yes']; JSON booleans: ['False', 'True'])",
            check="card",
        )
    card.setdefault("name", p.stem)
    card.setdefault("text_column", "text")
    card.setdefault("label_column", "label")
    card.setdefault("text_length", {"min": 1, "max": 5000})
    card.setdefault("min_per_class", 1)
    card.setdefault("min_per_class_split", 1)
    card.setdefault("duplicates", "warning")  # real datasets often repeat a few texts
    return card
