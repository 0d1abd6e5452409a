"""Markdown escaping for any data-derived text placed in the report (table cells, headings, lists)."""

from __future__ import annotations

import re

_NEWLINES = re.compile(r"\r\n|\r|\n|\u2028|\u2029")
_ESCAPES = {
    "\\": "\\\\",
    "|": "\\|",
    "`": "\\`",
    "[": "\\[",
    "]": "\\]",
    "*": "\\*",
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
}
_SPECIAL = re.compile("|".join(re.escape(k) for k in _ESCAPES))


def md_escape(text: object) -> str:
    """Make ``text`` inert inside a Markdown table cell.

    Pipes cannot end a cell, angle brackets cannot open HTML (``<script>`` becomes ``&lt;script&gt;``),
    backticks cannot open code spans, brackets cannot form links, and newlines cannot end the row.
    The backslash is escaped first so data cannot escape our own escapes.
    """
    s = _NEWLINES.sub(" ", str(text))
    return _SPECIAL.sub(lambda m: _ESCAPES[m.group(0)], s)
