"""Example texts for a report's error analysis, looked up in the data rather than stored in records.

Run records name each test example by `index`, its row in the loaded dataset (file order), and pin the
data by `dataset_info.checksum`, so they can be shared without the sentences. The report reloads the
dataset from the data dir and checks the checksum; without the data (or with other data) it has no
texts and says why, it never fails.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PAIR_JOIN = " ‖ "  # shown between the two texts of a sentence pair


@dataclass
class ExampleTexts:
    """dataset name -> {example index: text}; `notes` say why a dataset has none."""

    texts: dict[str, dict[int, str]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def _candidates(dataset: str, data_dir: Path | None) -> list[str]:
    """Where a user file named in a record may be now: as recorded, or under the data dir."""
    out = [dataset]
    p = Path(dataset).expanduser()
    if data_dir is not None and not p.is_absolute():
        out.append(str(data_dir / p))
    if data_dir is not None:
        out.append(str(data_dir / p.name))
    return list(dict.fromkeys(out))


def lookup_texts(
    records: Sequence[Mapping[str, Any]], data_dir: str | os.PathLike[str] | None = None
) -> ExampleTexts:
    """Texts of the test examples of every dataset in `records` that need them (predictions without text)."""
    out = ExampleTexts()
    seen: set[str] = set()
    for r in records:
        name = str(r.get("dataset"))
        preds = r.get("predictions") or []
        if name in seen or r.get("status") != "ok" or not preds or all("text" in p for p in preds):
            continue
        seen.add(name)
        try:
            got = _load(r, data_dir)
        except Exception as exc:  # any failure to read the data only costs the texts
            out.notes[name] = (
                f"example texts not shown: the data could not be read ({type(exc).__name__}: {exc})"
            )
            continue
        if isinstance(got, str):
            out.notes[name] = got
        else:
            out.texts[name] = got
    return out


def _load(record: Mapping[str, Any], data_dir: str | os.PathLike[str] | None) -> dict[int, str] | str:
    from flatlora.bench.data import DataError, load_labeled, resolve_data_dir

    cfg = record.get("config") or {}
    info = record.get("dataset_info") or {}
    dataset = str(cfg.get("dataset") or record.get("dataset"))
    try:
        root = resolve_data_dir(data_dir)
    except DataError as exc:
        return f"example texts not shown: {exc}"
    want = info.get("checksum")
    tried: list[str] = []
    if info.get("task") == "generation":  # prompts of a generative dataset (flatlora.bench.gen_data)
        from flatlora.bench.gen_data import prompt_texts

        for cand in _candidates(dataset, root):
            try:
                checksum, prompts = prompt_texts(cand, root, cfg)
            except (DataError, OSError, ValueError) as exc:
                tried.append(f"{cand}: {exc}")
                continue
            if not want or checksum == want:
                return prompts
            tried.append(f"{cand}: checksum {checksum[:12]} differs from the records' {str(want)[:12]}")
    for cand in _candidates(dataset, root) if not dataset.lower().startswith("fpb_") else [dataset]:
        try:
            data = load_labeled(
                cand,
                data_dir=root,
                text_col=str(cfg.get("text_col") or "text"),
                label_col=str(cfg.get("label_col") or "label"),
                card=cfg.get("card"),
                text_pair_col=cfg.get("text_pair_col"),
                delimiter=cfg.get("delimiter"),
                encoding=cfg.get("encoding"),
            )
        except (DataError, OSError, ValueError) as exc:
            tried.append(f"{cand}: {exc}")
            continue
        if want and data.checksum != want:
            tried.append(f"{cand}: checksum {data.checksum[:12]} differs from the records' {str(want)[:12]}")
            continue
        pairs = data.text_pairs
        return {i: str(t) if pairs is None else f"{t}{PAIR_JOIN}{pairs[i]}" for i, t in enumerate(data.texts)}
    where = f"data dir {root}" if root is not None else "no data dir (set --data-dir or FLATBENCH_DATA_DIR)"
    detail = "; ".join(tried[:2]) if tried else "not found"
    return f"example texts not shown: {dataset!r} was not found as trained on ({where}; {detail})"
