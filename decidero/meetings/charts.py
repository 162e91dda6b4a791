"""Bar charts drawn on the server as inline SVG (``templates/_partials/bar_chart.html``): the
results pages, the meeting report and the presenter view share them, so printing or projecting a
chart needs no script."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    label: str
    text: str
    width: float
    y: int


CHART_ROW = 40
CHART_WIDTH = 300.0


def chart(items: Sequence[tuple[str, float, str]]) -> list[Bar]:
    """Bars of a server-drawn SVG chart: ``(label, value, shown text)`` scaled so the largest value
    spans the chart (every bar empty when nothing was counted)."""
    top = max((value for _, value, _ in items), default=0)
    return [
        Bar(label, text, CHART_WIDTH * value / top if top > 0 else 0.0, index * CHART_ROW)
        for index, (label, value, text) in enumerate(items)
    ]
