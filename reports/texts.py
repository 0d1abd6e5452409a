"""Example texts for a report's error analysis, looked up in the data rather than stored in records.

Run records name each test example by `index`, its row in the loaded dataset (file order), and pin the
data by `dataset_info.checksum`, so they can be shared without the sentences. The report reloads the
dataset from the data dir and checks the checksum; without the data (or with other data) it has no
texts and says why, it never fails.

Records written before `dataset_info.label_counts` existed also get their splits' label counts from the
same data (the collapse check needs the training prior): the splits are remade as the runner makes them
(`make_splits` with the record's split seed, then its row caps) and used only when they reproduce the
record's split sizes and the gold label of every test prediction.
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
    # dataset name -> split ("train", "val", "test") -> label -> rows, recomputed from the data for records
    # without `dataset_info.label_counts`; absent when the data do not reproduce the records' splits
    label_counts: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)


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
    """Texts of the test examples of every dataset in `records` that need them (predictions without text),
    and the split label counts of classification records that do not store them."""
    out = ExampleTexts()
    seen: set[str] = set()
    for r in records:
        name = str(r.get("dataset"))
        preds = r.get("predictions") or []
        info = r.get("dataset_info") or {}
        need_counts = info.get("task") != "generation" and not info.get("label_counts")
        if name in seen or r.get("status") != "ok" or not preds:
            continue
        need_texts = not all("text" in p for p in preds)
        if not need_texts and not need_counts:
            continue
        seen.add(name)
        try:
            got = _load(r, data_dir)
        except Exception as exc:  # any failure to read the data only costs the texts (and counts)
            got = f"example texts not shown: the data could not be read ({type(exc).__name__}: {exc})"
        if isinstance(got, str):
            if need_texts:
                out.notes[name] = got
            continue
        if need_texts:
            out.texts[name] = got[0]
        if need_counts:
            counts = _split_counts(got[1], [x for x in records if str(x.get("dataset")) == name])
            if counts is not None:
                out.label_counts[name] = counts
    return out


def _split_counts(data: Any, records: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, int]] | None:
    """Label counts per split as the runner made the splits of `records` (one split seed and row caps for
    all of them), or None when the remade splits do not match a record (sizes, test gold labels)."""
    from flatlora.bench.data import make_splits, subsample

    ok = [r for r in records if r.get("status") == "ok" and r.get("predictions")]
    keys = {
        tuple((r.get("config") or {}).get(k) for k in ("split_seed", *CAPS)) for r in ok
    }  # one way of splitting, or the counts would differ between runs
    if data is None or len(keys) != 1:
        return None
    seed, *caps = next(iter(keys))
    try:
        splits = make_splits(data, split_seed=int(seed or 0))
        parts = {
            split: subsample(getattr(splits, split), cap, int(seed or 0))
            for split, cap in zip(("train", "val", "test"), caps, strict=True)
        }
    except (ValueError, KeyError):
        return None
    test = {int(i): str(y) for i, y in zip(parts["test"]["index"], parts["test"]["label"], strict=True)}
    for r in ok:
        info = r.get("dataset_info") or {}
        sizes = {s: info.get(f"n_{s}") for s in parts}
        if any(n is not None and int(n) != len(parts[s]) for s, n in sizes.items()):
            return None
        if any(test.get(int(p["index"])) != str(p["gold"]) for p in r["predictions"]):
            return None
    names = [str(x) for x in data.label_names]
    return {
        s: {
            n: int(c)
            for n, c in zip(names, [list(map(str, df["label"])).count(n) for n in names], strict=True)
        }
        for s, df in parts.items()
    }


CAPS = ("max_train_examples", "max_eval_examples", "max_test_examples")  # the runner's row caps per split


def _load(
    record: Mapping[str, Any], data_dir: str | os.PathLike[str] | None
) -> tuple[dict[int, str], Any] | str:
    """(example texts, the loaded data for label counts: None for a generative dataset), or why not."""
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
                return prompts, None
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
            )
        except (DataError, OSError, ValueError) as exc:
            tried.append(f"{cand}: {exc}")
            continue
        if want and data.checksum != want:
            tried.append(f"{cand}: checksum {data.checksum[:12]} differs from the records' {str(want)[:12]}")
            continue
        pairs = data.text_pairs
        texts = {
            i: str(t) if pairs is None else f"{t}{PAIR_JOIN}{pairs[i]}" for i, t in enumerate(data.texts)
        }
        return texts, data
    where = f"data dir {root}" if root is not None else "no data dir (set --data-dir or FLATBENCH_DATA_DIR)"
    detail = "; ".join(tried[:2]) if tried else "not found"
    return f"example texts not shown: {dataset!r} was not found as trained on ({where}; {detail})"
