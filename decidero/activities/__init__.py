"""Activity types plug into the agenda through ``ActivityType`` and the registry in ``base``."""

from ..meetings.activity_types import TYPES, ActivityType, get_type, register
from .brainstorming.board import Brainstorming
from .discussion.type import Discussion
from .dot_voting.type import DotVoting
from .rank_order.type import RankOrderVoting

register(Discussion())
register(Brainstorming())
register(DotVoting())
register(RankOrderVoting())

__all__ = ["TYPES", "ActivityType", "get_type", "register"]
