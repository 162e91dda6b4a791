"""Results pages follow the meeting's stream: publishing, run-state and access events make the
page's results block re-fetch itself, and access is judged again there. A refused re-fetch puts the
reason in the block's place (``_partials/results_withheld.html``), so withdrawn results leave an
open page at once; a refused page load stays an error page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..platform.errors import Refused


def load_or_withhold(load: Callable[[], dict[str, Any]], fragment: bool) -> dict[str, Any]:
    """``load()``'s values, or for a block's re-fetch the reason it may not show them (read path)."""
    try:
        return load()
    except Refused as exc:
        if not fragment:
            raise
        return {"withheld": exc.message, "status": exc.status}
