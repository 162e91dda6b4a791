"""Discussion: instructions on everyone's screen while the group talks. No input, no results."""

from ...meetings.activity_types import register
from .type import Discussion

register(Discussion())
