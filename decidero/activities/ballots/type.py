"""What dot voting and rank-order voting share as activity types: a ballot per voter, shown on the
shared ballot page, options kept in the config, and the same stored data to count and delete."""

from __future__ import annotations

from typing import Any

from ...meetings.activity_types import ActivityType, get_type
from ...meetings.models import Activity
from ...platform.errors import NotFound
from ...platform.models import User
from .rules import delete_data, options_of


class BallotType(ActivityType):
    def ballot_values(self, activity: Activity, voter: User, facilitator: bool, actor: User | None, notice: str = "") -> dict[str, Any]:
        """One voter's ballot (read path). ``actor`` is the facilitator recording on the voter's behalf, if any."""
        raise NotImplementedError

    def transfer_count(self, activity: Activity) -> int:
        return len(options_of(activity))

    def delete_data(self, activity: Activity) -> None:
        delete_data(activity)


def ballot_type(activity: Activity) -> BallotType:
    """The type of a voting activity, which serves its voters' ballots."""
    activity_type = get_type(activity.type)
    if not isinstance(activity_type, BallotType):
        raise NotFound()
    return activity_type
