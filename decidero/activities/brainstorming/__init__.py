"""Brainstorming (SPEC §4.8): ideas, and one level of comments on them, on a live shared board.

``type`` plugs it into the agenda; ``models`` holds the ideas; ``board`` is the read path (rules in
effect, the board as each viewer sees it); ``ideas`` the write rules; ``events`` the live fragments;
``routes`` its URLs and its results page and CSV.
"""

from ...meetings.activity_types import register
from . import events, routes
from .type import Brainstorming

register(
    Brainstorming(),
    routes=routes.routes,
    events=dict.fromkeys(events.EVENTS, events.build),
    results_page=routes.results_get,
    results_csv=routes.results_csv_get,
)
