"""What dot voting and rank-order voting share as activity types: a ballot per voter, shown on the
shared ballot page, options kept in the config, and the same stored data to count and delete."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ...meetings import markdown
from ...meetings.activity_types import ActivityType, Problem, ReportResults, TransferItem, TransferSource, get_type
from ...meetings.models import Activity
from ...platform.errors import NotFound
from ...platform.models import User
from .results import Option
from .rules import (
    VOTING,
    Progress,
    delete_data,
    label_problems,
    may_see,
    options_of,
    progress,
    results_values,
    shared_visible,
)

EARLIER_VOTES = re.compile(r"\s*\(Votes: [^()]*\)\s*$")


class BallotType(ActivityType):
    duplicate = ""  # the type's duplicate message, with {} for the label

    def ballot_values(self, activity: Activity, voter: User, facilitator: bool, actor: User | None, notice: str = "") -> dict[str, Any]:
        """One voter's ballot (read path). ``actor`` is the facilitator recording on the voter's behalf, if any."""
        raise NotImplementedError

    def keep_choices(self, ballot: dict[str, Any], form: Mapping[str, str]) -> dict[str, Any]:
        """The ballot showing the choices a refused submission carried, so nothing typed is lost."""
        return ballot

    def shared_ballot_values(self, activity: Activity) -> dict[str, Any] | None:
        """The ballot every participant has while it is the same for all, or None: then each
        participant's panel loads their own."""
        return None

    def panel_context(self, activity: Activity, user_id: str, facilitator: bool) -> dict[str, Any]:
        """Shared values, plus the viewer's own ballot when ``user_id`` is given (page loads), or the
        ballot every participant shares while it is the same for all (live panels)."""
        can_see = may_see(activity, user_id, facilitator) if user_id else (facilitator or shared_visible(activity))
        values = {"results": results_values(activity, can_see, facilitator), "ballot": None}
        if user_id:
            values["ballot"] = self.ballot_values(activity, User.get_by_id(user_id), facilitator, None)
        elif not facilitator:
            values["ballot"] = self.shared_ballot_values(activity)
        return values

    def transfer_count(self, activity: Activity) -> int:
        return len(options_of(activity))

    def ordered_results(self, activity: Activity) -> list[tuple[Option, float]]:
        """Options in results order with the figure a transfer and a round comparison show."""
        raise NotImplementedError

    def transfer_text(self, option: Option, figure: float) -> str:
        return option.label

    def transfer_items(self, activity: Activity, transform: str) -> list[TransferItem]:
        return [
            TransferItem(self.transfer_text(option, figure), TransferSource(option.id, f"{self.item_noun} “{option.label}”", option.label))
            for option, figure in self.ordered_results(activity)
        ]

    def transfer_problems(self, config: dict[str, Any], items: list[TransferItem]) -> list[Problem]:
        return label_problems([item.text for item in items], self.item_noun, self.duplicate)

    def content_refs(self, activity: Activity) -> list[tuple[str, str]]:
        return [(option.id, option.label) for option in options_of(activity)]

    def report_results(self, activity: Activity, limit: int | None = None) -> ReportResults:
        """Totals as published: the chart and table, and "X of Y voted"; never who has not voted."""
        counted = progress(activity)
        res = results_values(activity, True, False, counted)
        rows = res["rows"]
        shown = rows if limit is None else rows[:limit]
        values = {"res": {**res, "rows": shown, "bars": res["bars"][: len(shown)]}}
        items = {r.option.id: r.option.label for r in shown}
        return ReportResults(_voted(activity, counted), "activities/ballots/_report.html", values, _markdown(activity, rows), items, len(rows) - len(shown))

    def public_while_running(self, activity: Activity) -> bool:
        return activity.state != "stopped" and shared_visible(activity)

    def live_figure(self, activity: Activity) -> str:
        return _voted(activity, progress(activity))

    runs_rounds = True

    def round_totals(self, activity: Activity) -> list[tuple[str, float]]:
        return [(option.label, figure) for option, figure in self.ordered_results(activity)]

    def delete_data(self, activity: Activity) -> None:
        delete_data(activity)


def _voted(activity: Activity, counted: Progress) -> str:
    verb = "voted" if activity.type == VOTING else "submitted a ranking"
    return f"{counted.done} of {counted.total} {verb}"


def _markdown(activity: Activity, rows: list[Any]) -> str:
    if activity.type == VOTING:
        return markdown.table(["Rank", "Option", "Dots", "Voters"], ([r.rank, r.option.label, r.dots, r.voters] for r in rows))
    return markdown.table(
        ["Rank", "Idea", "Borda Score", "Avg Rank", "Top Choice %", "Rankings"],
        (
            [r.rank, r.option.label, r.borda, "—" if r.avg_rank is None else f"{r.avg_rank:.2f}", f"{r.top_share:.1f}", r.rankings]
            for r in rows
        ),
    )


def ballot_type(activity: Activity) -> BallotType:
    """The type of a voting activity, which serves its voters' ballots."""
    activity_type = get_type(activity.type)
    if not isinstance(activity_type, BallotType):
        raise NotFound()
    return activity_type
