"""Activity types plug into the agenda through ``ActivityType`` and the registry in ``base``."""

from .base import TYPES, ActivityType, get_type, register
from .brainstorming import Brainstorming
from .discussion import Discussion
from .dot_voting import DotVoting
from .rank_order import RankOrderVoting

register(Discussion())
register(Brainstorming())
register(DotVoting())
register(RankOrderVoting())

__all__ = ["TYPES", "ActivityType", "get_type", "register"]
