"""Dataset loading and seeded, stratified splits.

Loaders return plain Python data (`LabeledData`) so validation, training and
reports all see exactly the same rows. Any problem with a file is raised as a
`DataError` whose message names the problem and where it is; the validation
layer turns it into a failed check so nothing is ever trained on a bad file.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import re
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flatlora.bench.cards import DATASETS_DIR, REPO_ROOT, load_card
from flatlora.bench.delimiters import DELIMITERS
from flatlora.bench.errors import DataError

if TYPE_CHECKING:  # pandas is imported where frames are built: the runner itself works without it
    import pandas as pd

FPB_LABELS = ["negative", "neutral", "positive"]
# name -> (file in data_dir/financial_phrasebank, HF config name)
FPB_CONFIGS: dict[str, tuple[str, str]] = {
    "50agree": ("Sentences_50Agree.txt", "sentences_50agree"),
    "66agree": ("Sentences_66Agree.txt", "sentences_66agree"),
    "75agree": ("Sentences_75Agree.txt", "sentences_75agree"),
    "allagree": ("Sentences_AllAgree.txt", "sentences_allagree"),
}
# Counts and sha256 prefixes from ../shared/data/README.md: a changed file is a different dataset.
FPB_EXPECTED: dict[str, dict[str, Any]] = {
    "50agree": {"n": 4846, "counts": (604, 2879, 1363), "sha16": "bb1b4df6de05d50b"},
    "66agree": {"n": 4217, "counts": (514, 2535, 1168), "sha16": "725adb1de7d33977"},
    "75agree": {"n": 3453, "counts": (420, 2146, 887), "sha16": "a7ca39fb9dc60aed"},
    "allagree": {"n": 2264, "counts": (303, 1391, 570), "sha16": "5fb370b3005b9a27"},
}
HF_FPB_ID = "takala/financial_phrasebank"
HF_FPB_ZIP = "data/FinancialPhraseBank-v1.0.zip"  # the original release, a plain file in the hub repository
INT_RE = re.compile(r"[+-]?\d+")
INTEGRAL_FLOAT_RE = re.compile(r"([+-]?\d+)\.0*")  # how pandas writes an integer column that held NaN
NUM_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
PAIR_SEP = "\u2063"  # invisible separator: joins (text, text_pair) into one key for duplicate/leakage checks
MAX_LINE_BYTES = 100_000
USER_EXTS = {".csv": ",", ".tsv": "\t", ".jsonl": None}

# The main job's dataset ships with the code (gzip of the original bytes; datasets/financial_phrasebank/).
FPB_SHIPPED: dict[str, Path] = {"50agree": DATASETS_DIR / "financial_phrasebank" / "Sentences_50Agree.txt.gz"}
FPB_SHA256: dict[str, str] = {"50agree": "bb1b4df6de05d50b146f87a9d4d024b69f947066445f2384f014c3564c1612c8"}


@dataclass(frozen=True)
class LabeledData:
    """A labeled text dataset, as read from disk (no dedup, no split)."""

    name: str
    source: str
    checksum: str  # sha256 hex of the source bytes
    texts: list[str]
    labels: list[Any]  # str normally; raw values are kept so validation can report bad ones
    label_names: list[str]
    card: str  # dataset card name under datasets/cards/ (or a yaml path)
    split: list[str] | None = None  # user-declared split column, if the file had one
    text_pairs: list[Any] | None = None  # second text of a sentence pair (--text-pair-col)
    label_map: dict[str, int] = field(default_factory=dict)  # raw label (as str) -> class id
    headline_metric: str = "accuracy"
    notes: list[str] = field(default_factory=list)  # what loading changed (e.g. merged label spellings)

    def __len__(self) -> int:
        return len(self.texts)

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        df = pd.DataFrame({"text": self.texts, "label": self.labels})
        if self.text_pairs is not None:
            df["text_pair"] = self.text_pairs
            df["pair_key"] = [f"{a}{PAIR_SEP}{b}" for a, b in zip(self.texts, self.text_pairs, strict=True)]
        if self.split is not None:
            df["split"] = self.split
        return df

    def key(self, i: int) -> str:
        """Row identity for duplicates and leakage: the text, or the (text, text_pair) pair."""
        t = str(self.texts[i])
        return t if self.text_pairs is None else f"{t}{PAIR_SEP}{self.text_pairs[i]}"


@dataclass(frozen=True)
class Splits:
    """Train/validation/test frames (columns: index, text, label) plus provenance."""

    name: str
    source: str
    checksum: str
    label_names: list[str]
    card: str
    split_seed: int
    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    n_dropped_duplicates: int = 0
    notes: list[str] = field(default_factory=list)
    label_map: dict[str, int] = field(default_factory=dict)
    headline_metric: str = "accuracy"
    text_pair_col: str | None = None

    def info(self) -> dict[str, Any]:
        """The `dataset_info` block of a run record."""
        return {
            "name": self.name,
            "source": self.source,
            "checksum": self.checksum,
            "card": self.card,
            "label_names": list(self.label_names),
            "label_map": dict(self.label_map or {n: i for i, n in enumerate(self.label_names)}),
            "headline_metric": self.headline_metric,
            "sentence_pairs": self.text_pair_col is not None,
            "n_train": len(self.train),
            "n_val": len(self.val),
            "n_test": len(self.test),
            "split_seed": self.split_seed,
            "n_dropped_duplicates": self.n_dropped_duplicates,
        }


class Table:
    """Named columns of equal length: what the runner reads from a split, without pandas.

    `splits_from_rows` builds these when pandas is not installed (e.g. a bare GPU machine).
    """

    def __init__(self, **columns: Sequence[Any]) -> None:
        self._cols = {k: list(v) for k, v in columns.items()}

    def __getitem__(self, key: str) -> list[Any]:
        return self._cols[key]

    def __len__(self) -> int:
        return len(next(iter(self._cols.values()), []))

    @property
    def columns(self) -> list[str]:
        return list(self._cols)


def splits_from_rows(
    name: str,
    parts: dict[str, list[tuple[str, str]]],
    label_names: Sequence[str],
    headline_metric: str = "accuracy",
) -> Splits:
    """Ready splits from (text, label) rows per split ("train", "val", "test"), no validation.

    For programmatic smoke runs (e.g. the GPU check); frames are pandas when available.
    """
    try:
        import pandas as pd

        def frame(rows: list[tuple[str, str]], start: int) -> Any:
            return pd.DataFrame(
                {
                    "index": range(start, start + len(rows)),
                    "text": [r[0] for r in rows],
                    "label": [r[1] for r in rows],
                }
            )
    except ImportError:

        def frame(rows: list[tuple[str, str]], start: int) -> Any:
            return Table(
                index=range(start, start + len(rows)), text=[r[0] for r in rows], label=[r[1] for r in rows]
            )

    n_tr, n_va = len(parts["train"]), len(parts["val"])
    h = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    return Splits(
        name=name,
        source="memory",
        checksum=h,
        label_names=list(label_names),
        card="user_default",
        split_seed=0,
        train=frame(parts["train"], 0),
        val=frame(parts["val"], n_tr),
        test=frame(parts["test"], n_tr + n_va),
        label_map={n: i for i, n in enumerate(label_names)},
        headline_metric=headline_metric,
    )


# ---------------------------------------------------------------- data dir


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """Explicit arg > FLATBENCH_DATA_DIR > ../shared/data beside the checkout; None if none exists."""
    if data_dir is not None:
        p = Path(data_dir).expanduser()
        if not p.is_dir():
            raise DataError(f"data dir {str(p)!r} does not exist", check="data_dir")
        return p
    env = os.environ.get("FLATBENCH_DATA_DIR")
    if env:
        p = Path(env).expanduser()
        if not p.is_dir():
            raise DataError(f"FLATBENCH_DATA_DIR={env!r} does not exist", check="data_dir")
        return p
    for cand in (REPO_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"):
        if cand.is_dir():
            return cand
    return None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------- Financial PhraseBank


def parse_fpb_text(raw: str) -> tuple[list[str], list[str]]:
    """Parse `sentence@label` lines; splitlines() handles CRLF and AllAgree's bare CR."""
    texts: list[str] = []
    labels: list[str] = []
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        if "@" not in line:
            raise DataError(f"line {lineno} has no '@label' suffix: {line[:80]!r}", check="format")
        text, label = line.rsplit("@", 1)
        texts.append(text.strip())
        labels.append(label.strip())
    return texts, labels


def load_fpb(config: str, data_dir: str | os.PathLike[str] | None = None) -> LabeledData:
    """Financial PhraseBank: the data dir's file when there is one, else the copy shipped under
    datasets/ (50agree only), else the hub's plain data files (network).

    The shipped copy and the hub's zip hold the original file's bytes, so the rows, their order and
    `checksum` (sha256 of the uncompressed file) are the same whichever source was read.
    """
    config = config.lower().removeprefix("sentences_")
    if config not in FPB_CONFIGS:
        raise DataError(f"unknown Financial PhraseBank config {config!r}; choose from {sorted(FPB_CONFIGS)}")
    fname, _ = FPB_CONFIGS[config]
    root = resolve_data_dir(data_dir)
    path = root / "financial_phrasebank" / fname if root is not None else None
    if path is not None and path.is_file():
        raw, source = path.read_bytes(), str(path)
    elif config in FPB_SHIPPED:
        raw, source = read_shipped_fpb(config), str(FPB_SHIPPED[config])
    else:
        looked = f"{path} does not exist" if path is not None else "no data dir"
        raw, source = _load_fpb_hub(config, looked)
    texts, labels = parse_fpb_text(raw.decode("latin-1"))
    return LabeledData(
        name=f"fpb_{config}",
        source=source,
        checksum=hashlib.sha256(raw).hexdigest(),
        texts=texts,
        labels=labels,
        label_names=list(FPB_LABELS),
        card="financial_phrasebank",
    )


def read_shipped_fpb(config: str) -> bytes:
    """The uncompressed bytes of the copy under datasets/financial_phrasebank/, checked by sha256."""
    path = FPB_SHIPPED[config]
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as exc:
        raise DataError(f"the shipped copy {path} cannot be read: {exc}", check="data_dir") from exc
    got = hashlib.sha256(raw).hexdigest()
    if got != FPB_SHA256[config]:
        raise DataError(
            f"the shipped copy {path} has sha256 {got[:16]}, expected {FPB_SHA256[config][:16]}: "
            "restore it with `git checkout -- datasets/financial_phrasebank`",
            check="data_dir",
        )
    return raw


def _load_fpb_hub(config: str, looked: str) -> tuple[bytes, str]:
    """The hub repository's plain files, no loading script: the original release zip, else the hub's
    parquet conversion (rows rebuilt as `sentence@label` lines). Needs network; offline, a clear error."""
    import huggingface_hub

    fname, hf_config = FPB_CONFIGS[config]
    errors: list[str] = []
    try:
        zpath = huggingface_hub.hf_hub_download(HF_FPB_ID, HF_FPB_ZIP, repo_type="dataset")
        with zipfile.ZipFile(zpath) as zf:
            member = next(n for n in zf.namelist() if n.rsplit("/", 1)[-1] == fname)
            return zf.read(member), f"hf://datasets/{HF_FPB_ID}/{HF_FPB_ZIP}#{member}"
    except Exception as exc:  # offline, file moved, not in the zip: try the parquet conversion
        errors.append(f"{HF_FPB_ZIP}: {_first_line(exc)}")
    parquet = f"{hf_config}/train/0000.parquet"
    try:
        ppath = huggingface_hub.hf_hub_download(
            HF_FPB_ID, parquet, repo_type="dataset", revision="refs/convert/parquet"
        )
        return _fpb_bytes_from_parquet(ppath), f"hf://datasets/{HF_FPB_ID}@refs/convert/parquet/{parquet}"
    except Exception as exc:
        errors.append(f"{parquet}: {_first_line(exc)}")
    offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") else ""
    raise DataError(
        f"Financial PhraseBank {config} is not shipped and not in a data dir ({looked}; pass --data-dir or "
        f"set FLATBENCH_DATA_DIR to a folder holding financial_phrasebank/{fname}), and the hub copy "
        f"{HF_FPB_ID} could not be loaded{offline}: {errors[0]}",
        check="data_dir",
    )


def _first_line(exc: BaseException, n: int = 100) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:n]}{'...' if len(text) > n else ''}"


def _fpb_bytes_from_parquet(path: str | os.PathLike[str]) -> bytes:
    """`sentence@label` CRLF lines in latin-1, as the original file has them, from the hub's parquet."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    names = list(FPB_LABELS)
    meta = (table.schema.metadata or {}).get(b"huggingface")
    if meta:
        feature = json.loads(meta).get("info", {}).get("features", {}).get("label", {})
        names = list(feature.get("names") or names)
    lines = []
    for sentence, label in zip(
        table.column("sentence").to_pylist(), table.column("label").to_pylist(), strict=True
    ):
        lines.append(f"{sentence}@{names[label] if isinstance(label, int) else label}\r\n")
    return "".join(lines).encode("latin-1", errors="replace")


# ---------------------------------------------------------------- sanity toy task


def load_sanity(split: str | None = None) -> list[dict[str, str]]:
    """The authored toy task: {"prompt": "repeat: w", "target": "w w", "split": train|test}."""
    path = DATASETS_DIR / "sanity" / "repeat.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if split is None or r["split"] == split]


# ---------------------------------------------------------------- user files


def check_file_bytes(path: Path, encoding: str | None = None) -> bytes:
    """File-level problems GE cannot see: empty, encoding, NUL bytes, giant lines.

    Without `encoding` the file must be UTF-8; bytes that are not get an error naming the likely
    encoding and the option that reads it."""
    if not path.exists():
        raise DataError(f"file not found: {path}")
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"file is empty: {path.name}", check="file_not_empty")
    text = decode_text(raw, encoding, path.name)
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise DataError(f"NUL byte in {path.name} at line {line}", check="encoding", rows=[line])
    for lineno, line_t in enumerate(text.split("\n"), start=1):
        n = len(line_t.encode("utf-8")) if len(line_t) * 4 > MAX_LINE_BYTES else 0
        if n > MAX_LINE_BYTES:
            raise DataError(
                f"line {lineno} of {path.name} is {n} bytes long (limit {MAX_LINE_BYTES})",
                check="line_length",
                rows=[lineno],
            )
    return raw


# ---------------------------------------------------------------- encodings

# Single-byte code pages of Latin-script text. charset-normalizer often names a sibling of Windows-1252
# (cp1250, cp850, ...) for Western text whose few non-ASCII bytes read the same in both; among these the
# suggestion is cp1252 unless the other reads more of the bytes as letters (Polish text in cp1250, say).
LATIN_CODEPAGES = {
    "cp1250", "cp1252", "cp1254", "cp1257", "latin_1", "iso8859_2", "iso8859_3", "iso8859_4", "iso8859_9",
    "iso8859_13", "iso8859_15", "iso8859_16", "cp437", "cp775", "cp850", "cp852", "cp858", "mac_roman",
    "mac_latin2", "mac_iceland", "mac_turkish", "cp1006", "cp1125",
}  # fmt: skip
ENCODING_NAMES = {"cp1252": "Windows-1252", "latin_1": "ISO-8859-1", "cp1250": "Windows-1250"}


def _letters(text: str) -> int:
    """Non-ASCII characters that read as letters or typographic punctuation (quotes, dashes)."""
    return sum(1 for ch in text if ord(ch) > 127 and unicodedata.category(ch)[0] in "LP" and ch != "\ufffd")


def guess_encoding(raw: bytes) -> str | None:
    """The likely encoding of bytes that are not UTF-8 (a Python codec name), or None when no guess fits."""
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # a bare machine: Western text is the common case
        best = None
    else:
        match = from_bytes(raw).best()
        best = codec_name(match.encoding) if match is not None else None
    try:
        western = raw.decode("cp1252")
    except UnicodeDecodeError:
        return best or "latin_1"
    if best is None or best == "cp1252":
        return "cp1252"
    if best in LATIN_CODEPAGES:
        other = raw.decode(best, errors="replace")
        return best if _letters(other) > _letters(western) else "cp1252"
    return best


def codec_name(encoding: str) -> str:
    """Python's canonical name of a codec (`Windows-1252` -> `cp1252`); DataError for an unknown one."""
    import codecs

    try:
        return codecs.lookup(encoding).name.replace("-", "_").replace("iso8859_1", "latin_1")
    except LookupError as exc:
        raise DataError(
            f"unknown encoding {encoding!r}: use a Python codec name, e.g. utf-8, cp1252, latin-1, utf-16",
            check="encoding",
        ) from exc


def decode_text(raw: bytes, encoding: str | None = None, name: str = "file") -> str:
    """The file's text: UTF-8 (a byte-order mark is dropped) unless `encoding` names another codec."""
    if encoding is not None:
        codec = codec_name(encoding)
        try:
            return raw.decode("utf-8-sig" if codec == "utf_8" else codec)
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            guess = guess_encoding(raw)
            hint = (
                f"; it looks {_enc_label(guess)}: pass --encoding {guess}" if guess and guess != codec else ""
            )
            raise DataError(
                f"{name} cannot be read as {encoding}: byte {raw[exc.start : exc.start + 1]!r} at byte "
                f"{exc.start} (line {line}) is not {encoding}{hint}",
                check="encoding",
                rows=[line],
            ) from exc
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(
            f"{name} is UTF-16 encoded (byte-order mark found): pass --encoding utf-16, or save it as UTF-8",
            check="encoding",
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        guess = guess_encoding(raw)
        where = (
            f"invalid UTF-8 in {name} at byte {exc.start} (line {line}): {raw[exc.start : exc.start + 4]!r}"
        )
        if guess is None:
            raise DataError(f"{where}; save the file as UTF-8", check="encoding", rows=[line]) from exc
        start = raw.rfind(b"\n", 0, exc.start) + 1
        shown = raw[start : start + 80].split(b"\n")[0].decode(guess, errors="replace").strip()
        raise DataError(
            f"{where}; it looks {_enc_label(guess)} (line {line} then reads {shown!r}): pass --encoding "
            f"{guess}, or save the file as UTF-8",
            check="encoding",
            rows=[line],
        ) from exc


def _enc_label(codec: str) -> str:
    return f"{codec}-encoded" + (f" ({ENCODING_NAMES[codec]})" if codec in ENCODING_NAMES else "")


def read_user_frame(
    path: Path, raw: bytes, delimiter: str | None = None, encoding: str | None = None
) -> pd.DataFrame:
    """The user's file `path` (its bytes `raw`, as `check_file_bytes` read them) as a frame: CSV/TSV
    (every cell a string) with `delimiter` or the extension's, or JSONL; a DataError names what cannot be
    parsed."""
    import pandas as pd

    ext = path.suffix.lower()
    text = decode_text(raw, encoding, path.name)  # a UTF-8 BOM is harmless; it is dropped
    if ext == ".jsonl":
        records = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"line {lineno} of {path.name} is not valid JSON: {exc.msg}", rows=[lineno]
                ) from exc
            if not isinstance(obj, dict):
                raise DataError(f"line {lineno} of {path.name} is not a JSON object", rows=[lineno])
            records.append(obj)
        if not records:
            raise DataError(f"file has no data rows: {path.name}", check="has_rows")
        return pd.DataFrame.from_records(records)
    sep = delimiter or USER_EXTS[ext] or ","
    import io

    check_one_delimiter(text, sep, path.name)
    check_quoted_rows(text, sep, path.name)
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[])
    except pd.errors.ParserError as exc:
        hint = delimiter_hint(text, sep, ext)
        what = f"not valid {ext[1:].upper()}" if delimiter is None else f"not {DELIM_NAMES[sep]}-separated"
        detail = str(exc).strip().splitlines()[-1].removeprefix("Error tokenizing data. C error: ")
        raise DataError(f"{path.name} is {what} ({detail}){hint}", check="format") from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"file is empty: {path.name}", check="file_not_empty") from exc
    if len(df) == 0:
        raise DataError(f"file has a header but no data rows: {path.name}", check="has_rows")
    return df


# --delimiter values (and what they mean)
DELIM_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
DELIM_OPTION = {",": ",", "\t": "tab", ";": "';'", "|": "'|'"}


def sniff_delimiter(text: str) -> str | None:
    """The column separator the first lines use (comma, tab, semicolon or pipe), or None."""
    import csv

    lines = [ln for ln in text.splitlines()[:20] if ln.strip()]
    if not lines:
        return None
    try:
        found: str | None = csv.Sniffer().sniff("\n".join(lines), delimiters=",\t;|").delimiter
    except csv.Error:
        found = None
    if found is None or found not in lines[0]:  # else: the one that splits the header most
        counts = {c: lines[0].count(c) for c in DELIM_NAMES}
        best = max(counts, key=lambda c: counts[c])
        found = best if counts[best] else None
    return found


def check_one_delimiter(text: str, sep: str, name: str = "file") -> None:
    """DataError naming the lines when some rows use another separator than the header's (tab-separated
    rows pasted into a CSV): read with one separator, those rows would lose or shift their columns."""
    import csv
    import io

    reader = csv.reader(io.StringIO(text), delimiter=sep)
    header = next(reader, None)
    if header is None or len(header) < 2:  # one column: the whole file uses another separator (hinted)
        return
    lines = text.split("\n")
    other: dict[str, list[int]] = {}
    n_rows, start = 0, reader.line_num + 1
    try:
        for rec in reader:
            first, start = start, reader.line_num + 1
            if not any(f.strip() for f in rec):
                continue
            n_rows += 1
            if len(rec) == len(header) or first > len(lines):
                continue
            line = lines[first - 1].rstrip("\r")
            for d in DELIM_NAMES:
                if d != sep and d in line and len(next(csv.reader([line], delimiter=d))) == len(header):
                    other.setdefault(d, []).append(first)
                    break
    except csv.Error:  # a malformed quote: pandas names it
        return
    if not other:
        return
    d, rows = max(other.items(), key=lambda kv: len(kv[1]))
    shown = ", ".join(map(str, rows[:5])) + (f", ... ({len(rows) - 5} more)" if len(rows) > 5 else "")
    raise DataError(
        f"{name} mixes separators: {len(rows)} row{'s' * (len(rows) != 1)} {'are' if len(rows) != 1 else 'is'} "
        f"{DELIM_NAMES[d]}-separated (lines {shown}) while the header and the other {n_rows - len(rows)} "
        f"rows are {DELIM_NAMES[sep]}-separated; use one separator in every row (fix those lines, or "
        "export the file again)",
        check="mixed_delimiters",
        rows=rows,
    )


def _is_row(line: str, sep: str, n: int) -> bool:
    """Whether one line, read alone, has the header's `n` columns: split as it is, or read with its own
    quotes (a line of the rows a stray quote ran over may hold quoted fields of its own)."""
    import csv

    return len(line.split(sep)) == n or len(next(csv.reader([line], delimiter=sep), [])) == n


def check_quoted_rows(text: str, sep: str, name: str = "file") -> None:
    """DataError naming the lines when a double quote that opens a field runs on over lines that are rows
    of their own (`"Stray quote in a headline<TAB>negative`, closed some lines further on, or never):
    read as written, those rows would become one long text, and the file would lose them without a word.

    Such a record's lines each read alone as a row of the header's number of columns; a text quoted over
    several lines (a review with a line break) has a line that does not, and is read as is."""
    import csv
    import io

    reader = csv.reader(io.StringIO(text), delimiter=sep)
    header = next(reader, None)
    if header is None or len(header) < 2:
        return
    lines = text.split("\n")
    start, row = reader.line_num + 1, 0
    try:
        for rec in reader:
            first, start = start, reader.line_num + 1
            if not rec:  # a blank line: no row
                continue
            row += 1
            spanned = lines[first - 1 : reader.line_num]
            if len(spanned) < 2 or not all(_is_row(ln.rstrip("\r"), sep, len(header)) for ln in spanned):
                continue
            last = reader.line_num
            end = f"the end of the file (line {last})" if next(reader, None) is None else f"line {last}"
            n = len(spanned) - 1
            raise DataError(
                f"{name}: a double quote opens a field on line {first} and runs over {n} line"
                f"{'s' * (n != 1)} that are rows of their own, up to {end}: they would become one text of "
                f"data row {row} and be lost as rows. Remove the stray quote on line {first}, or quote "
                'that whole field and write each quote inside it twice ("")',
                check="format",
                rows=[first],
            )
    except csv.Error:  # a malformed quote of another kind: pandas names it
        return


_COLUMN_OPTION = {"text": "--text-col", "label": "--label-col", "text pair": "--text-pair-col"}


def _missing_column(role: str, col: str, cols: list[str]) -> str:
    """e.g. "missing required text column 'text' (found columns: [...]); name yours with --text-col"."""
    near = [c for c in cols if c.strip().casefold() == col.strip().casefold()]
    hint = f" (did you mean {near[0]!r}? names are case-sensitive)" if near else ""
    return (
        f"missing required {role} column {col!r}{hint} (found columns: {cols}); name yours with "
        f"{_COLUMN_OPTION[role]}"
    )


def delimiter_hint(text: str, used: str, ext: str) -> str:
    """'; it looks tab-separated (...): pass --delimiter tab', or '' when the file uses `used`."""
    found = sniff_delimiter(text)
    if found is None or found == used:
        return ""
    header = [c.strip() for c in text.splitlines()[0].split(found)] if text.strip() else []
    cols = ", ".join(header[:4]) + (", ..." if len(header) > 4 else "")
    rename = " (or name the file .tsv)" if found == "\t" and ext == ".csv" else ""
    return (
        f"; it looks {DELIM_NAMES[found]}-separated ({len(header)} columns: {cols}): "
        f"pass --delimiter {DELIM_OPTION[found]}{rename}"
    )


def load_user_file(
    path: str | os.PathLike[str],
    text_col: str = "text",
    label_col: str = "label",
    card: str = "user_default",
    text_pair_col: str | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
) -> LabeledData:
    """CSV/TSV/JSONL by extension (`delimiter` overrides a .csv/.tsv file's separator; `encoding` reads
    a file that is not UTF-8). An optional `split` column (train/val/test) fixes the split."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in USER_EXTS:
        raise DataError(
            f"unsupported file type {ext!r} for {p.name}; use .csv, .tsv or .jsonl, "
            "or a folder written by `datasets.save_to_disk`",
            check="format",
        )
    if delimiter is not None and delimiter not in DELIMITERS:
        raise DataError(f"unknown delimiter {delimiter!r}: use , tab ; or |", check="format")
    delimiter = DELIMITERS[delimiter] if delimiter is not None else None
    raw = check_file_bytes(p, encoding)
    df = read_user_frame(p, raw, delimiter, encoding)
    stripped = [str(c).strip() for c in df.columns]
    if len(set(stripped)) == len(stripped):  # `text, label`: a header typed with spaces after its commas
        df.columns = stripped
    cols = [str(c) for c in df.columns]
    roles = [("text", text_col), ("label", label_col)]
    if text_pair_col is not None:
        roles.append(("text pair", text_pair_col))
    named: dict[str, str] = {}
    for role, col in roles:
        if col in named:
            raise DataError(
                f"{_COLUMN_OPTION[named[col]]} and {_COLUMN_OPTION[role]} both name column {col!r}: each "
                f"role needs a column of its own (found columns: {cols})",
                check="required_columns",
            )
        named[col] = role
    for role, col in roles:
        if col not in cols:
            raise DataError(
                _missing_column(role, col, cols)
                + (
                    ""
                    if ext == ".jsonl"
                    else delimiter_hint(
                        decode_text(raw, encoding, p.name), delimiter or USER_EXTS[ext] or ",", ext
                    )
                ),
                check="required_columns",
            )
    for role, col in roles:
        check_scalar_values(list(df[col]), role, col)
    labels, note = integral_labels(list(df[label_col]), label_col)
    kinds = Counter(type(v).__name__ for v in labels if v is not None)
    if len(kinds) > 1:
        raise DataError(
            f"label column {label_col!r} mixes value types: {dict(kinds)}; use one type (names or class ids)",
            check="label_types",
        )
    texts = [t.strip() if isinstance(t, str) else t for t in df[text_col]]
    pairs = None
    if text_pair_col is not None:
        pairs = [t.strip() if isinstance(t, str) else t for t in df[text_pair_col]]
    split = split_column(df, (text_col, label_col, text_pair_col), p.name)
    return LabeledData(
        name=p.stem,
        source=str(p.resolve()),
        checksum=hashlib.sha256(raw).hexdigest(),
        texts=texts,
        labels=labels,
        label_names=[],  # resolved from the card or the data by `load_labeled`
        card=card,
        split=split,
        text_pairs=pairs,
        notes=[note] if note else [],
    )


def _rows_text(rows: Sequence[int], n: int) -> str:
    """The first `n` of `rows` (as given), then how many more: "3, 8, 9 and 12 more"."""
    return ", ".join(map(str, rows[:n])) + (f" and {len(rows) - n:,} more" if len(rows) > n else "")


def check_scalar_values(values: Sequence[Any], role: str, column: str) -> None:
    """DataError naming the rows when a column holds lists or objects (JSON arrays, nested records, a
    `Sequence` feature): a row needs one text and one label; read as text, `['a', 'b']` would train as
    the string of its brackets, or a label list as a class of its own."""
    bad = [i + 1 for i, v in enumerate(values) if isinstance(v, list | tuple | dict | set)]
    if not bad:
        return
    kinds = sorted({"objects" if isinstance(values[i - 1], dict) else "lists" for i in bad})
    rows = _rows_text(bad, 5)
    fix = (
        "one label per row: flatbench trains single-label classification (for several labels, one row "
        "per label or one combined name)"
        if role == "label"
        else "one string per row (join the parts into one text)"
    )
    raise DataError(
        f"{role} column {column!r} holds {' and '.join(kinds)}, not single values, in "
        f"{len(bad):,} row{'s' * (len(bad) != 1)} ({rows}; 1 = the first data row): write {fix}",
        check="value_types",
    )


def is_saved_dataset(path: Path) -> bool:
    """A folder written by HF `datasets` `save_to_disk` (a Dataset or a DatasetDict)."""
    return path.is_dir() and any(
        (path / f).is_file() for f in ("dataset_dict.json", "state.json", "dataset_info.json")
    )


HF_SPLIT_NAMES = {"train": "train", "validation": "val", "val": "val", "dev": "val", "test": "test"}
# a split column's values (case and surrounding spaces ignored) -> the split
SPLIT_SPELLINGS = {
    **HF_SPLIT_NAMES,
    "training": "train",
    "valid": "val",
    "development": "val",
    "testing": "test",
}


def split_column(df: pd.DataFrame, used: Sequence[str | None], name: str = "file") -> list[str] | None:
    """The file's split column as train/val/test per row, or None when it has none.

    The column is the one named `split` in any case (`Split`, `SPLIT`), unless that column is one of
    `used` (the text, label or pair column). Its values are read in any case with common spellings
    (`Train`, `training`, `validation`, `dev`, `testing`); a blank or unknown value is a DataError naming
    the values and their rows: such a row would belong to no split and be left out without a word.
    """
    found = [str(c) for c in df.columns if str(c).strip().casefold() == "split" and str(c) not in used]
    if not found:
        return None
    col = "split" if "split" in found else found[0]
    raw = ["" if v is None or (isinstance(v, float) and v != v) else str(v) for v in df[col]]
    out = [SPLIT_SPELLINGS.get(v.strip().casefold(), "") for v in raw]
    bad: dict[str, list[int]] = {}
    for i, (v, s) in enumerate(zip(raw, out, strict=True)):
        if not s:
            bad.setdefault(v.strip(), []).append(i + 1)
    if not bad:
        return out
    n = sum(len(r) for r in bad.values())
    said = "; ".join(
        f"{'blank' if not v else repr(v)} in row{'s' * (len(r) != 1)} {_rows_text(r, 3)}"
        for v, r in sorted(bad.items(), key=lambda kv: -len(kv[1]))[:5]
    )
    more = f"; and {len(bad) - 5} more values" if len(bad) > 5 else ""
    raise DataError(
        f"split column {col!r} of {name}: {n:,} row{'s' * (n != 1)} name{'s' * (n == 1)} no split "
        f"({said}{more}; rows: 1 = the first data row); write each row's split as train, val or test "
        "(validation, dev, training and testing are read too), or rename the column if it is not the split",
        check="split_values",
    )


def load_hf_dataset(
    name_or_path: str,
    text_col: str = "text",
    label_col: str = "label",
    card: str = "user_default",
    text_pair_col: str | None = None,
) -> LabeledData:
    """A `save_to_disk` folder, or a hub id `owner/name[:config]` (`hf:` prefix optional; needs network).

    A DatasetDict's train/validation/test splits become the split; a `ClassLabel` label feature
    fixes the label names and their order (class id = the feature's index).
    """
    import importlib

    try:
        hf = importlib.import_module("datasets")  # HF `datasets`; this repo's datasets/ is data only
    except ImportError as exc:
        raise DataError(
            f"{name_or_path!r} needs the Hugging Face `datasets` package: pip install datasets",
            check="dataset_name",
        ) from exc
    path = Path(name_or_path).expanduser()
    try:
        if is_saved_dataset(path):
            obj = hf.load_from_disk(str(path))
            source, name = str(path.resolve()), path.name
        else:
            hub = name_or_path.removeprefix("hf:")
            repo, _, config = hub.partition(":")
            obj = hf.load_dataset(repo, config or None)
            source, name = f"hf://{hub}", repo.rsplit("/", 1)[-1] + (f"_{config}" if config else "")
    except Exception as exc:  # offline, unknown id, corrupt folder...
        raise DataError(
            f"could not load dataset {name_or_path!r}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
            check="dataset_name",
        ) from exc
    parts = dict(obj) if isinstance(obj, dict) or hasattr(obj, "keys") else {"all": obj}
    unknown = [k for k in parts if k != "all" and k not in HF_SPLIT_NAMES]
    if unknown:
        raise DataError(
            f"dataset {name_or_path!r} has splits {sorted(parts)}; flatbench uses train/validation/test "
            f"(unknown: {unknown})",
            check="format",
        )
    first = next(iter(parts.values()))
    cols = list(first.column_names)
    for role, col in (("text", text_col), ("label", label_col), ("text pair", text_pair_col)):
        if col is not None and col not in cols:
            raise DataError(_missing_column(role, col, cols), check="required_columns")
    feature = first.features.get(label_col)
    class_names = list(getattr(feature, "names", None) or []) or None
    texts: list[Any] = []
    pairs: list[Any] | None = [] if text_pair_col else None
    labels: list[Any] = []
    split: list[str] | None = [] if len(parts) > 1 or "all" not in parts else None
    fingerprints = []
    for key, ds in parts.items():
        texts += [t.strip() if isinstance(t, str) else t for t in ds[text_col]]
        if pairs is not None:
            pairs += [t.strip() if isinstance(t, str) else t for t in ds[text_pair_col]]
        raw = list(ds[label_col])
        labels += [
            class_names[v] if class_names and isinstance(v, int) and 0 <= v < len(class_names) else v
            for v in raw
        ]
        if split is not None:
            split += [HF_SPLIT_NAMES[key]] * len(ds)
        fingerprints.append(f"{key}:{getattr(ds, '_fingerprint', '')}")
    for role, col, values in (
        ("text", text_col, texts),
        ("label", label_col, labels),
        ("text pair", text_pair_col, pairs),
    ):
        if col is not None and values is not None:  # rows counted across the splits, in order
            check_scalar_values(values, role, col)
    note = ""
    if not class_names:
        labels, note = integral_labels(labels, label_col)
    data = LabeledData(
        name=name,
        source=source,
        checksum=hashlib.sha256("|".join(fingerprints).encode()).hexdigest(),
        texts=texts,
        labels=labels,
        label_names=list(class_names or []),
        card=card,
        split=split,
        text_pairs=pairs,
        notes=[note] if note else [],
    )
    if class_names:  # the feature fixes names and ids; the map is keyed by the stored id
        data = LabeledData(**{**data.__dict__, "label_map": {str(i): i for i in range(len(class_names))}})
    return data


def integral_labels(labels: Sequence[Any], column: str = "label") -> tuple[list[Any], str]:
    """(labels, note): class ids written as floats (`0.0`, `1.0`; the strings `"1.0"` of a CSV) read as
    the integers they are, so they name the same classes (`0`, `1`) as an integer column would; the
    note says so ('' when nothing changed).

    pandas writes an integer column as floats once it has held a missing value, so a file of class ids
    often arrives this way. Only a column whose labels are all numbers, each of them whole, is read as
    integers: one with `0.5` is left as it is (`resolve_labels` rejects it, naming its values), and so
    is one that mixes numbers and names. A float NaN is a missing label (None) either way, so the
    null-label check reports its row instead of a class named `nan`. Booleans are names, left alone.
    """
    out = [None if isinstance(v, float) and math.isnan(v) else v for v in labels]

    def whole_float(v: Any) -> int | None:
        """The integer a float-written label stands for, or None when it is not one."""
        if isinstance(v, float) and v.is_integer():
            return int(v)
        m = INTEGRAL_FLOAT_RE.fullmatch(v.strip()) if isinstance(v, str) else None
        return int(m.group(1)) if m else None

    def is_int(v: Any) -> bool:
        return (isinstance(v, int) and not isinstance(v, bool)) or (
            isinstance(v, str) and INT_RE.fullmatch(v.strip()) is not None
        )

    present = [v for v in out if v is not None and str(v).strip()]
    floats = [v for v in present if whole_float(v) is not None]
    if not floats or not all(is_int(v) or whole_float(v) is not None for v in present):
        return out, ""

    def as_int(v: Any) -> Any:
        """A CSV's text stays text ("1.0" -> "1"), a JSON float becomes a JSON integer (1.0 -> 1)."""
        i = whole_float(v)
        return v if i is None else str(i) if isinstance(v, str) else i

    out = [as_int(v) for v in out]
    seen = sorted({str(v).strip() for v in floats}, key=float)
    shown = ", ".join(seen[:3]) + (", ..." if len(seen) > 3 else "")
    n = len(floats)
    return (
        out,
        f"label column {column!r}: {n:,} class id{'s' * (n != 1)} written as floats ({shown}) read as integers",
    )


def resolve_labels(
    labels: Sequence[Any], fixed: Sequence[str] | None = None, column: str = "label"
) -> tuple[list[str], dict[str, int]]:
    """(label_names, label_map {raw label as str: class id}) for a label column.

    A card's `labels` fix the names and their order. Otherwise they come from the data: integer
    class ids ("0"/"1", 0/1, "-1") in numeric order, names in sorted order. Non-integer numbers and
    a mix of ids and names are errors (they are rarely meant as classes); `column` names the column in
    their messages. Whole floats (`1.0`) were read as integers when loaded (`integral_labels`).
    """
    if fixed:
        names = [str(n) for n in fixed]
        return names, {n: i for i, n in enumerate(names)}
    keys = sorted({str(v).strip() for v in labels if v is not None and str(v).strip()})
    ints = [k for k in keys if INT_RE.fullmatch(k)]
    if ints and len(ints) == len(keys):
        names = sorted(keys, key=lambda k: (int(k), k))
    elif any(NUM_RE.fullmatch(k) for k in keys):
        nums = [k for k in keys if NUM_RE.fullmatch(k)]
        if len(nums) == len(keys):
            frac = sorted((k for k in nums if not float(k).is_integer()), key=float)
            rows = [i + 1 for i, v in enumerate(labels) if v is not None and str(v).strip() in set(frac)]
            where = ", ".join(map(str, rows[:3])) + (f", ... ({len(rows) - 3} more)" if len(rows) > 3 else "")
            raise DataError(
                f"label column {column!r} holds non-integer numbers (e.g. {frac[:3]}; rows {where}, "
                "1 = the first data row): a class label must be a name or an integer class id (whole "
                "floats such as 1.0 are read as integers). Write each value as the class it stands for "
                "(round or bin them), or, if this is not the label column, name that one with --label-col",
                check="label_types",
                rows=[],  # data rows, not file lines: the message names them
            )
        raise DataError(
            f"label column {column!r} mixes numbers {nums[:3]} and names "
            f"{[k for k in keys if k not in nums][:3]}; use one kind (names, or integer class ids)",
            check="label_types",
        )
    else:
        names = keys
    return names, {n: i for i, n in enumerate(names)}


def spelling_key(label: str) -> str:
    """A label with case, spacing and Unicode form folded away: two spellings with one key are one class
    to a reader (`DESC`, `desc`, `ＤＥＳＣ`, `DESC ` + no-break space)."""
    return " ".join(unicodedata.normalize("NFKC", label).casefold().split())


def spelling_variants(labels: Sequence[Any]) -> list[Counter[str]]:
    """Groups of label spellings that share a `spelling_key`, each a Counter of rows per spelling, most
    frequent first; only groups of two or more spellings."""
    groups: dict[str, Counter[str]] = {}
    for v in labels:
        if isinstance(v, str) and v.strip():
            groups.setdefault(spelling_key(v), Counter())[v.strip()] += 1
    return [c for c in groups.values() if len(c) > 1]


def merge_spellings(
    labels: Sequence[Any], fixed: Sequence[str] | None = None
) -> tuple[list[Any], dict[str, str]]:
    """Labels with each group of `spelling_variants` written one way: the spelling a card's `labels`
    use, else the group's most frequent (ties: the first in sorted order). Returns (labels, {old: new})."""
    by_key = {spelling_key(n): n for n in fixed or []}
    mapping: dict[str, str] = {}
    for group in spelling_variants(labels):
        top = max(group.values())
        keep = by_key.get(spelling_key(next(iter(group))), min(s for s, n in group.items() if n == top))
        mapping.update({s: keep for s in group if s != keep})
    if not mapping:
        return list(labels), {}
    out = [mapping.get(v.strip(), v) if isinstance(v, str) else v for v in labels]
    return out, mapping


def headline_metric_for(card: dict[str, Any], label_names: Sequence[str]) -> str:
    """The card's `headline_metric`; without one, MCC for two classes (robust to imbalance), else accuracy."""
    metric = card.get("headline_metric")
    if metric:
        if metric not in HEADLINE_METRICS:
            raise DataError(
                f"card {card.get('name')!r}: `headline_metric` must be one of {HEADLINE_METRICS}, got {metric!r}",
                check="card",
            )
        return str(metric)
    return "mcc" if len(label_names) == 2 else "accuracy"


HEADLINE_METRICS = ("accuracy", "weighted_f1", "macro_f1", "mcc")


def load_labeled(
    name_or_path: str,
    data_dir: str | os.PathLike[str] | None = None,
    text_col: str = "text",
    label_col: str = "label",
    label_names: Sequence[str] | None = None,
    card: str | None = None,
    text_pair_col: str | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    merge_label_spellings: bool = False,
) -> LabeledData:
    """`fpb_50agree` .. `fpb_allagree` (or `financial_phrasebank:50agree`), a CSV/TSV/JSONL path,
    a `datasets.save_to_disk` folder, or a hub id `owner/name[:config]`.

    Labels are resolved here: from `label_names`, else the card's `labels`, else the data (see
    `resolve_labels`); `label_map` records raw value -> class id. Spellings of one label that differ
    only in case, spacing or Unicode form stay apart (validation fails on them) unless
    `merge_label_spellings` writes each group one way (`merge_spellings`).
    """
    key = name_or_path.strip()
    low = key.lower()
    for prefix in ("fpb_", "financial_phrasebank:", "financial_phrasebank_"):
        if low.startswith(prefix) and low.removeprefix(prefix) in FPB_CONFIGS:
            if text_pair_col is not None:
                raise DataError(
                    "Financial PhraseBank has no sentence pairs: drop --text-pair-col", check="card"
                )
            data = load_fpb(low.removeprefix(prefix), data_dir)
            c = load_card(card or data.card)
            names = list(label_names or c.get("labels") or data.label_names)
            return LabeledData(
                **{
                    **data.__dict__,
                    "card": card or data.card,
                    "label_names": names,
                    "label_map": {n: i for i, n in enumerate(names)},
                    "headline_metric": headline_metric_for(c, names),
                }
            )
    path = Path(key).expanduser()
    if low.startswith("fpb_"):
        raise DataError(
            f"unknown dataset {name_or_path!r}: use fpb_50agree|fpb_66agree|fpb_75agree|fpb_allagree",
            check="dataset_name",
        )
    card_name = card or "user_default"
    if path.suffix.lower() in USER_EXTS or path.is_file():
        data = load_user_file(
            key,
            text_col=text_col,
            label_col=label_col,
            card=card_name,
            text_pair_col=text_pair_col,
            delimiter=delimiter,
            encoding=encoding,
        )
    elif (
        is_saved_dataset(path)
        or low.startswith("hf:")
        or ("/" in key and not path.exists() and not key.startswith((".", "/", "~")))
    ):
        data = load_hf_dataset(
            key, text_col=text_col, label_col=label_col, card=card_name, text_pair_col=text_pair_col
        )
    else:
        raise DataError(
            f"unknown dataset {name_or_path!r}: use fpb_50agree|fpb_66agree|fpb_75agree|fpb_allagree, "
            "a path to a .csv/.tsv/.jsonl file or a `save_to_disk` folder, or a hub id owner/name[:config]",
            check="dataset_name",
        )
    c = load_card(card_name)
    fixed = list(label_names or c.get("labels") or data.label_names)
    if merge_label_spellings and not data.label_map:
        merged, mapping = merge_spellings(data.labels, fixed)
        if mapping:
            said = "; ".join(f"{old!r} -> {new!r}" for old, new in sorted(mapping.items()))
            notes = [*data.notes, f"label spellings merged (--merge-label-spellings): {said}"]
            data = LabeledData(**{**data.__dict__, "labels": merged, "notes": notes})
    names, lmap = resolve_labels(data.labels, fixed or None, label_col)
    if data.label_map:  # a ClassLabel feature: keep its id-keyed map
        lmap = data.label_map
    elif not fixed:
        labels = [None if v is None else str(v).strip() for v in data.labels]
        data = LabeledData(**{**data.__dict__, "labels": labels})
    return LabeledData(
        **{
            **data.__dict__,
            "label_names": names,
            "label_map": lmap,
            "headline_metric": headline_metric_for(c, names),
        }
    )


# ---------------------------------------------------------------- splits


def dedupe(data: LabeledData) -> tuple[list[int], list[str]]:
    """Keep the first row of each exact text; drop texts that occur with conflicting labels."""
    by_text: dict[str, set[Any]] = {}
    for i, lab in enumerate(data.labels):
        by_text.setdefault(data.key(i), set()).add(lab)
    seen: set[str] = set()
    keep: list[int] = []
    notes: list[str] = []
    for i in range(len(data)):
        ts = data.key(i)
        if len(by_text[ts]) > 1:
            continue
        if ts in seen:
            continue
        seen.add(ts)
        keep.append(i)
    n_conflict = sum(1 for v in by_text.values() if len(v) > 1)
    if n_conflict:
        notes.append(f"dropped {n_conflict} texts that occur with conflicting labels")
    return keep, notes


def make_splits(
    data: LabeledData,
    split_seed: int = 0,
    val_frac: float = 0.1,
    test_frac: float = 0.2,
    drop_duplicates: bool = True,
    val_from_train: float | None = None,
) -> Splits:
    """Seeded stratified train/val/test split. `split_seed` is independent of training seeds.

    A declared split (the file's `split` column) is kept as it is; with `val_from_train` its validation
    rows are carved from its train rows instead (that fraction, stratified by label, seeded by
    `split_seed`), for a file that has train and test rows only.
    """
    import pandas as pd
    from sklearn.model_selection import train_test_split

    if not 0 < val_frac < 1 or not 0 < test_frac < 1 or val_frac + test_frac >= 1:
        raise ValueError(f"`val_frac`+`test_frac` must be in (0, 1), got {val_frac}+{test_frac}")
    idx = list(range(len(data)))
    notes: list[str] = []
    if drop_duplicates and data.split is None:  # with a declared split, overlap must stay visible
        idx, notes = dedupe(data)
    n_dropped = len(data) - len(idx)
    cols: dict[str, Any] = {
        "index": idx,
        "text": [data.texts[i] for i in idx],
        "label": [data.labels[i] for i in idx],
    }
    if data.text_pairs is not None:
        cols["text_pair"] = [data.text_pairs[i] for i in idx]
    frame = pd.DataFrame(cols)
    extra: dict[str, Any] = {
        "label_map": dict(data.label_map),
        "headline_metric": data.headline_metric,
        "text_pair_col": "text_pair" if data.text_pairs is not None else None,
    }
    if data.split is not None:  # user-declared split wins; validation checks it for leakage
        sp = pd.Series([data.split[i] for i in idx])
        sp = sp.replace({"validation": "val", "dev": "val"})
        parts = {k: frame[sp.values == k].reset_index(drop=True) for k in ("train", "val", "test")}
        if val_from_train is not None:
            parts["train"], parts["val"], note = _carve_val(parts, val_from_train, split_seed)
            notes.append(note)
        return Splits(
            data.name,
            data.source,
            data.checksum,
            list(data.label_names),
            data.card,
            split_seed,
            parts["train"],
            parts["val"],
            parts["test"],
            n_dropped,
            [*notes, "split column used"],
            **extra,
        )
    if val_from_train is not None:
        raise DataError(
            f"--val-from-train carves validation rows from a declared split's train rows, but {data.name} "
            "has no `split` column: drop the option (the file is split train/val/test by --split-seed), or "
            "add a split column of train and test rows",
            check="splittable",
        )
    unstratified: list[str] = []

    def split(part: Any, size: float, what: str) -> tuple[Any, Any]:
        """`part` cut in two, stratified by label; without stratifying when the classes cannot all be
        given rows in both parts (sklearn refuses: more classes than rows in one part, a class of 1 row),
        so a small data set of many classes is still split, and a class a split lacks is then named."""
        try:
            out: tuple[Any, Any] = train_test_split(
                part, test_size=size, random_state=split_seed, stratify=part["label"].astype(str)
            )
        except ValueError:
            unstratified.append(what)
            out = train_test_split(part, test_size=size, random_state=split_seed)
        return out

    rest, test = split(frame, test_frac, "test")
    train, val = split(rest, val_frac / (1 - test_frac), "val")
    if unstratified:
        n_classes = frame["label"].astype(str).nunique()
        notes.append(
            f"the {' and '.join(unstratified)} split{'s are' if len(unstratified) > 1 else ' is'} not "
            f"stratified by label: {len(frame):,} rows of {n_classes:,} classes are too few to give every "
            "class rows in each split"
        )
    return Splits(
        name=data.name,
        source=data.source,
        checksum=data.checksum,
        label_names=list(data.label_names),
        card=data.card,
        split_seed=split_seed,
        train=train.sort_values("index").reset_index(drop=True),
        val=val.sort_values("index").reset_index(drop=True),
        test=test.sort_values("index").reset_index(drop=True),
        n_dropped_duplicates=n_dropped,
        notes=notes,
        **extra,
    )


def _carve_val(parts: dict[str, Any], frac: float, seed: int) -> tuple[Any, Any, str]:
    """(train, val, note): `frac` of the declared train rows become validation rows, stratified by label."""
    from sklearn.model_selection import train_test_split

    train = parts["train"]
    if len(parts["val"]):
        raise DataError(
            f"--val-from-train {frac:g}: the split column already has {len(parts['val'])} val rows; "
            "drop the option to use them",
            check="splittable",
        )
    if not 0 < frac < 1:
        raise DataError(f"--val-from-train must be a fraction in (0, 1), got {frac!r}", check="splittable")
    counts = train["label"].astype(str).value_counts()
    n_val = math.ceil(frac * len(train))
    stratifiable = counts.min() >= 2 and min(n_val, len(train) - n_val) >= len(counts)
    strat = train["label"].astype(str) if stratifiable else None
    try:
        rest, val = train_test_split(train, test_size=frac, random_state=seed, stratify=strat)
    except ValueError as exc:
        raise DataError(
            f"cannot carve {frac:g} of {len(train)} train rows as validation: {exc}", check="splittable"
        ) from exc
    how = "stratified by label" if strat is not None else "not stratified (a class has fewer than 2 rows)"
    note = (
        f"validation carved from train: {len(val):,} of {len(train):,} train rows ({frac:g}, {how}, "
        f"split seed {seed})"
    )
    return (
        rest.sort_values("index").reset_index(drop=True),
        val.sort_values("index").reset_index(drop=True),
        note,
    )


def subsample(df: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    """Stratified-ish deterministic subsample (by split seed) used by quick/smoke profiles."""
    if n is None or n >= len(df):
        return df
    from sklearn.model_selection import train_test_split

    counts = df["label"].value_counts()
    # stratified only where both parts can hold every class (a cap just under the split's size, 64 of 68
    # rows of six classes, leaves too few rows out to stratify)
    strat = df["label"] if counts.min() >= 2 and min(n, len(df) - n) >= len(counts) else None
    part, _ = train_test_split(df, train_size=n, random_state=seed, stratify=strat)
    return part.sort_values("index").reset_index(drop=True)
