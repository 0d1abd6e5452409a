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
    from reports.summary import METHOD_LABELS

    return md_escape(METHOD_LABELS.get(str(method), str(method)))


def metric_label(metric: Any) -> str:
    from reports.summary import METRIC_LABELS

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
        pm=fmt_pm,
        ci=fmt_ci,
        duration=fmt_duration,
        label=method_label,
        metric=metric_label,
        clip=clip,
    )
    env.globals.update(significant=significant, finite=_finite, seed_union=seed_union, grid_line=grid_line)
    return env


def render(summary: Any, template: str = "benchmark.md.j2", **extra: Any) -> str:
    """Render ``summary`` (a dataclass with ``to_dict`` or a plain dict) with a template from reports/templates.

    The template sees the summary's fields as top-level names (``datasets``, ``provenance``, ...) plus ``extra``.
    ``fig`` (file name -> image link target) defaults to the file name: figures are PNGs beside report.md.
    """
    data = summary.to_dict() if hasattr(summary, "to_dict") else dict(summary)
    extra.setdefault("fig", lambda name: name)
    return _env().get_template(template).render(**data, **extra)
