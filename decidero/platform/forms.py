"""Reading numbers out of submitted form and query values."""

from __future__ import annotations


def whole_number(raw: str | None) -> int | None:
    """The value as a non-negative int, or None unless it is plain ASCII digits.

    ``str.isdigit`` alone accepts "²" and other Unicode digits that ``int`` then rejects.
    """
    text = (raw or "").strip()
    if not text or len(text) > 18 or not (text.isascii() and text.isdigit()):
        return None
    return int(text)
