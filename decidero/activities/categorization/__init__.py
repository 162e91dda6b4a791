"""Categorization, "Bucketing - Facilitator" (SPEC §4.11): facilitators sort ideas into buckets on a
live board that in-scope participants watch, read-only.

``type`` plugs it into the agenda (seed config, panel, transfers and rounds); ``models`` holds the
board and its audit; ``board`` is the read path; ``changes`` the write rules; ``events`` the live
board; ``routes`` its URLs, the "being moved" signal and its results page and CSV.
"""

from ...meetings.activity_types import register
from . import events, routes
from .type import Categorization

register(
    Categorization(),
    routes=routes.routes,
    events=dict.fromkeys(events.EVENTS, events.build),
    results_page=routes.results_get,
    results_csv=routes.results_csv_get,
)
