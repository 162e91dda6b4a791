"""Activity types, one package each. Importing a type's package registers it with the meeting
engine (``decidero.meetings.activity_types``): its type object, routes, live events and results.

Adding a type is one folder and one line here. The lines are in the order the type menus list them.
"""

# isort: off
from . import discussion
from . import brainstorming
from . import dot_voting
from . import rank_order
from . import categorization
# isort: on

__all__ = ["brainstorming", "categorization", "discussion", "dot_voting", "rank_order"]
