"""Rank-order voting (SPEC §4.10): every participant orders all ideas; Borda results.

``type`` plugs it into the agenda (config, panel, the voter's list); ``rankings`` is the write path;
``routes`` its submission URLs. Ballot page, results, live counts and tables are shared with dot
voting in ``ballots``.
"""

from ...meetings.activity_types import register
from ..ballots import events
from ..ballots import routes as ballots
from ..ballots.rules import RANKING
from . import routes
from .type import RankOrderVoting

register(
    RankOrderVoting(),
    routes=routes.routes,
    events={"rankings_changed": events.builder(RANKING)},
    results_page=ballots.results_get,
    results_csv=ballots.results_csv_get,
)
