"""Activity types plug into the agenda through ``ActivityType`` and the registry in ``base``."""

from .base import TYPES, ActivityType, get_type, register
from .discussion import Discussion

register(Discussion())

__all__ = ["TYPES", "ActivityType", "get_type", "register"]
