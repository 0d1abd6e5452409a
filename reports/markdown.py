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
    "<": "&lt;",
    ">": "&gt;",
}
# "&" only where it would start an entity (``&amp;``, ``&#38;``): a bare "&" is literal in Markdown, and
# escaping it too would show "&amp;" to any reader of the raw file and to renderers that unescape once.
_ENTITY_AMP = r"&(?=#?[0-9A-Za-z]+;)"
_SPECIAL = re.compile("|".join([*(re.escape(k) for k in _ESCAPES), _ENTITY_AMP]))


def md_escape(text: object) -> str:
    """Make ``text`` inert inside a Markdown table cell.

    Pipes cannot end a cell, angle brackets cannot open HTML (``<script>`` becomes ``&lt;script&gt;``),
    backticks cannot open code spans, brackets cannot form links, and newlines cannot end the row. An "&"
    is escaped only where it would start an entity (data ``&lt;`` stays the four characters ``&lt;``).
    The backslash is escaped first so data cannot escape our own escapes.
    """
    s = _NEWLINES.sub(" ", str(text))
    return _SPECIAL.sub(lambda m: _ESCAPES.get(m.group(0), "&amp;"), s)
