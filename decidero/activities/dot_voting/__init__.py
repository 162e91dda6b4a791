"""Dot voting (SPEC §4.9): each participant spreads a budget of dots over the options.

``type`` plugs it into the agenda (config, panel, the voter's dot rails); ``votes`` is the write
path; ``routes`` its submission URL. Ballot page, results, live counts and tables are shared with
rank-order voting in ``ballots``.
"""

from ...meetings.activity_types import register
from ..ballots import events
from ..ballots import routes as ballots
from ..ballots.rules import VOTING
from . import routes
from .type import DotVoting

register(
    DotVoting(),
    routes=routes.routes,
    events={"votes_changed": events.builder(VOTING)},
    results_page=ballots.results_get,
    results_csv=ballots.results_csv_get,
)
