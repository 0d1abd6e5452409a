"""Pure rendering of a summary to Markdown with jinja2.

Autoescape is off (the output is Markdown, not HTML); instead every data-derived string goes through the
``md`` filter (:func:`reports.markdown.md_escape`) and every number through a formatting filter, so the
template never prints a raw value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from flatlora.bench.design import points_text
from reports.labels import METHOD_LABELS, METRIC_LABELS, seed_list
from reports.markdown import md_escape

TEMPLATES_DIR = Path(__file__).parent / "templates"


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _no_negative_zero(s: str) -> str:
    """'-0.0000' (a tiny negative rounded away) -> '0.0000'."""
    return s[1:] if s.startswith("-") and not s.strip("-0.") else s


def fmt_num(x: Any, digits: int = 3) -> str:
    return _no_negative_zero(f"{x:.{digits}f}") if _finite(x) else "n/a"


def fmt_signed(x: Any, digits: int = 3) -> str:
    if not _finite(x):
        return "n/a"
    s = f"{x:+.{digits}f}"
    return "+" + s[1:] if s.startswith("-") and not s.strip("-0.") else s  # never a negative zero


CLIP_CHARS = 160


def clip(text: Any, n: int = CLIP_CHARS) -> str:
    """A long example text cut at a word boundary, so the table's other columns stay on screen."""
    s = str(text)
    if len(s) <= n:
        return s
    cut = s[: n - 1].rsplit(" ", 1)[0]
    return (cut if len(cut) > n // 2 else s[: n - 1]) + "…"


def fmt_int(x: Any) -> str:
    return f"{int(x):,}" if _finite(x) else "n/a"


def fmt_p(p: Any) -> str:
    if not _finite(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def fmt_p_eq(p: Any) -> str:
    """A p-value after "p": "= 0.396", "< 0.001"."""
    s = fmt_p(p)
    return s if s == "n/a" else "< 0.001" if s.startswith("<") else f"= {s}"


def fmt_pm(m: Any, digits: int = 3) -> str:
    """``mean ± std`` from a MetricSummary-like mapping (std n/a when n < 2)."""
    m = _as_map(m)
    if not _finite(m.get("mean")):
        return "n/a"
    return f"{fmt_num(m.get('mean'), digits)} ± {fmt_num(m.get('std'), digits)}"


def fmt_ci(lo: Any, hi: Any = None, digits: int = 3) -> str:
    if hi is None and isinstance(lo, list | tuple):
        lo, hi = lo
    if not (_finite(lo) and _finite(hi)):
        return "n/a"
    return f"[{fmt_num(lo, digits)}, {fmt_num(hi, digits)}]"


def fmt_duration(s: Any) -> str:
    if not _finite(s):
        return "n/a"
    s = float(s)
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.2f} h"


def _as_map(x: Any) -> Mapping[str, Any]:
    if is_dataclass(x) and not isinstance(x, type):
        return asdict(x)
    return x if isinstance(x, Mapping) else {}


def method_label(method: Any) -> str:
    return md_escape(METHOD_LABELS.get(str(method), str(method)))


def metric_label(metric: Any) -> str:
    return md_escape(METRIC_LABELS.get(str(metric), str(metric)))


def seed_union(methods: Any) -> list[int]:
    """Every seed any method ran, sorted (columns of the per-seed table)."""
    return sorted({int(s) for m in methods for s in _as_map(m).get("seeds", [])})


def grid_line(grid: Any) -> str:
    """The grid sentence of a GridStatus or of its dict in summary.json."""
    from reports.records import GridStatus, Unreadable

    if isinstance(grid, GridStatus):
        return grid.line()
    g = dict(_as_map(grid))
    g["unreadable"] = [Unreadable(**dict(_as_map(u))) for u in g.get("unreadable") or []]
    return GridStatus(**g).line()


def fmt_seeds(seeds: Any) -> str:
    """Seeds as ranges ("1–5, 7"); "" for none."""
    return seed_list(list(seeds or []))


def seed_count(seeds: Any) -> str:
    """ "0", "1 (seed 30)", "3 (seeds 7, 11, 20)"."""
    xs = list(seeds or [])
    if not xs:
        return "0"
    return f"{len(xs)} (seed{'s' * (len(xs) != 1)} {fmt_seeds(xs)})"


def n_of(methods: Any, method: Any) -> str:
    """How many seeds `method` ran (from the dataset's method rows), "n/a" if unknown."""
    for m in methods or []:
        m = _as_map(m)
        if m.get("method") == method:
            return str(len(m.get("seeds") or [])) if m.get("seeds") else "n/a"
    return "n/a"


def seeds_of(methods: Any, method: Any) -> str:
    """`n_of` with its noun: "1 seed", "8 seeds" ("n/a seeds" if unknown)."""
    n = n_of(methods, method)
    return f"{n} seed{'s' * (n != '1')}"


def fmt_overrides(overrides: Any) -> str:
    """A recipe's RunConfig overrides as `key=value` settings; "as given" for none."""
    items = dict(_as_map(overrides))
    if not items:
        return "the profile as given"
    parts = []
    for k, v in items.items():
        v = ",".join(map(str, v)) if isinstance(v, list | tuple) else v
        parts.append(f"{k}={v}")
    return ", ".join(parts)


def collapse_line(col: Any, methods: Any) -> str:
    """One sentence: collapsed runs per method, in the report's method order, and where the verdicts
    came from (the records, recomputed here, or not computable)."""
    c = _as_map(col)
    rows = {str(_as_map(m)["method"]): _as_map(m) for m in c.get("methods") or []}
    order = [str(_as_map(m)["method"]) for m in methods or []] or list(rows)
    parts = []
    for name in order:
        m = rows.get(name)
        if m is None:
            continue
        known = int(m["n_runs"]) - int(m["n_unknown"])
        if known == 0:
            parts.append(f"{method_label(name)} not computable")
            continue
        seeds = f" (seed{'s' * (len(m['seeds']) != 1)} {fmt_seeds(m['seeds'])})" if m["seeds"] else ""
        unknown = f", {m['n_unknown']} not computable" if m["n_unknown"] else ""
        parts.append(f"{method_label(name)} {m['n_collapsed']} of {known}{seeds}{unknown}")
    return f"Collapsed runs (the test-free rule under Details): {'; '.join(parts)}. {collapse_source(c)}"


def collapse_source(col: Any) -> str:
    """Where the collapse verdicts come from, in one sentence."""
    c = _as_map(col)
    sources = {s for m in c.get("methods") or [] for s in _as_map(m).get("sources") or []}
    out = []
    if sources == {"record"}:
        out.append("Each run's record stores its verdict.")
    elif "recomputed" in sources:
        out.append(
            "Computed by this report from each run's training losses and validation score, with the "
            "training split's label counts"
            + (" recomputed from the data" if "record" not in sources else " where the record lacks them")
            + " (records written before the check was stored)."
        )
    if "not computable" in sources:
        out.append(
            "Not computable where a record has no label counts and the data to recompute them was not "
            "found (pass --data-dir)."
        )
    return " ".join(out)


def significant(p: Any, alpha: float) -> bool:
    return _finite(p) and p < alpha


@cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=False,  # Markdown output; escaping is explicit through the `md` filter
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        md=md_escape,
        num=fmt_num,
        signed=fmt_signed,
        int=fmt_int,
        p=fmt_p,
        peq=fmt_p_eq,
        pm=fmt_pm,
        ci=fmt_ci,
        duration=fmt_duration,
        label=method_label,
        metric=metric_label,
        clip=clip,
        seeds=fmt_seeds,
        g=lambda x: f"{x:g}" if _finite(x) else "n/a",
        points=points_text,
    )
    env.globals.update(
        significant=significant,
        finite=_finite,
        seed_union=seed_union,
        grid_line=grid_line,
        seed_count=seed_count,
        n_of=n_of,
        seeds_of=seeds_of,
        overrides=fmt_overrides,
        collapse_line=collapse_line,
        collapse_source=collapse_source,
    )
    return env


def render(summary: Any, template: str = "benchmark.md.j2", **extra: Any) -> str:
    """Render ``summary`` (a dataclass with ``to_dict`` or a plain dict) with a template from reports/templates.

    The template sees the summary's fields as top-level names (``datasets``, ``provenance``, ...) plus ``extra``.
    ``fig`` (file name -> image link target) defaults to the file name: figures are PNGs beside report.md.
    """
    data = summary.to_dict() if hasattr(summary, "to_dict") else dict(summary)
    extra.setdefault("fig", lambda name: name)
    return _env().get_template(template).render(**data, **extra)
