"""Markdown for the meeting report (``/meeting/{id}/report.md``): the activity types write their
results with these, so every piece of user text is escaped the same way.

User text must never become Markdown (or HTML, which Markdown passes through): every character with
a meaning in CommonMark is backslash-escaped, and line breaks inside a table cell become spaces.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_INLINE = re.compile(r"([\\`*_{}\[\]()#|<>&~])")
# What starts a block only at the start of a line: a list item, a numbered item, a heading rule.
_LEADING = re.compile(r"^([-+=]|\d+(?=[.)](\s|$)))")


def text(value: object) -> str:
    """User text inline: one line, every Markdown character escaped (numbers stay as they are)."""
    if isinstance(value, int | float):
        return str(value)
    escaped = _INLINE.sub(r"\\\1", " ".join(str(value).split()))
    return _LEADING.sub(lambda m: m.group(0) + "\\" if m.group(0)[0].isdigit() else "\\" + m.group(0), escaped)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A pipe table; cells are escaped (numbers come out as they are)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(text(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def bullets(items: Iterable[str], indent: int = 0) -> str:
    """A list of lines already in Markdown (escape user text with ``text`` first)."""
    return "\n".join(" " * indent + "- " + item for item in items)
