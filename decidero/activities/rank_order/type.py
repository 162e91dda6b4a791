"""The rank-order voting type (SPEC §4.10): config form and locks, panel, and each voter's list (read path)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ...meetings.activity_types import ImportLinks
from ...meetings.models import Activity
from ...platform.errors import Conflict, Refused
from ...platform.forms import whole_number
from ...platform.models import User
from ...platform.runtime_settings import RuntimeSettings
from ..ballots import exchange
from ..ballots import rules as voting
from ..ballots.results import Option
from ..ballots.type import BallotType
from .rankings import own_ranking

TOO_FEW = "Add at least two ideas before starting rank-order voting."
DUPLICATE = 'Duplicate idea: "{}". Each idea must be unique.'
FLAGS = ("randomize_order", "allow_reset", "anonymous")
DEFAULTS: dict[str, Any] = {
    "ideas": [],
    "randomize_order": True,
    "results_visibility": "hidden",
    "show_results_immediately": False,
    "allow_reset": True,
    "anonymous": False,
}


class RankOrderVoting(BallotType):
    name = voting.RANKING
    label = "Rank Order Voting"
    stem = "RANKOR"
    noun = "the ranking"
    purpose = "Order every option; Borda results"
    designer_keys = MappingProxyType({"ideas": "the items to rank (a list of at least two short texts, each unique)"})
    config_form_marker = MappingProxyType({"config_form": voting.RANKING})
    item_noun = "idea"
    content_key = "ideas"
    duplicate = DUPLICATE
    config_template = "activities/rank_order/config.html"
    participant_template = "activities/rank_order/panel.html"
    facilitator_template = "activities/rank_order/panel.html"
    scripts = ("/static/js/activities/ballots.js", "/static/js/activities/rank_order.js")

    def default_config(self, settings: RuntimeSettings | None = None) -> dict[str, Any]:
        return dict(DEFAULTS)

    def validate_config(self, form: dict[str, str], activity: Activity | None) -> dict[str, Any]:
        current = {**DEFAULTS, **(activity.config if activity else {})}
        config = voting.common_flags(form, current, FLAGS)
        config["ideas"] = voting.labels_of(current, "ideas")
        if "ideas" in form:
            config["ideas"] = voting.labels_from_text(form["ideas"], "ideas", "idea", DUPLICATE)
        return config

    def prepare_config(self, activity: Activity, config: dict[str, Any]) -> dict[str, Any]:
        if voting.locked_change(activity, config, ("ideas",)) and voting.has_rankings(activity):
            raise Conflict(voting.RANKINGS_LOCKED)
        return voting.with_ids(activity, "ideas", config)

    def config_lock(self, activity: Activity) -> str | None:
        return voting.RANKINGS_LOCKED if voting.has_rankings(activity) else None

    def check_startable(self, activity: Activity) -> None:
        if len(voting.options_of(activity)) < 2:
            raise Refused(TOO_FEW, 409)

    def has_participant_data(self, activity: Activity) -> bool:
        return voting.has_rankings(activity)

    def ordered_results(self, activity: Activity) -> list[tuple[Option, float]]:
        """Borda order (SPEC §4.10)."""
        return [(row.option, row.borda) for row in voting.rank_results(activity)]

    config_schema = MappingProxyType(exchange.RANKING_CONFIG_SCHEMA)
    content_schema = MappingProxyType(exchange.RANKINGS_SCHEMA)

    def dump_content(self, activity: Activity) -> dict[str, Any]:
        return exchange.dump_rankings(activity)

    def content_users(self, content: Mapping[str, Any]) -> set[str]:
        return exchange.voters(content, "rankings")

    def content_problems(self, activity_id: str, config: Mapping[str, Any], content: Mapping[str, Any]) -> list[str]:
        return exchange.ranking_problems(activity_id, config, content)

    def import_config(self, config: dict[str, Any], links: ImportLinks) -> dict[str, Any]:
        return exchange.import_config(config, "ideas", links)

    def load_content(self, activity: Activity, content: Mapping[str, Any], links: ImportLinks) -> None:
        exchange.load_rankings(activity, content, links)

    def ballot_values(self, activity: Activity, voter: User, facilitator: bool, actor: User | None, notice: str = "") -> dict[str, Any]:
        return ballot_values(activity, voter, facilitator, actor, notice)

    def keep_choices(self, ballot: dict[str, Any], form: Mapping[str, str]) -> dict[str, Any]:
        """The submitted order: items by their chosen position (ties and gaps keep the shown order)."""
        shown = ballot["items"]

        def position(index: int, item: dict[str, Any]) -> tuple[int, int]:
            chosen = whole_number(str(form.get(f"rank-{item['field']}", "")))
            return (chosen if chosen is not None else index + 1, index)

        ordered = [item for _, item in sorted(((position(i, it), it) for i, it in enumerate(shown)), key=lambda pair: pair[0])]
        return {**ballot, "items": ordered}


def ballot_values(activity: Activity, voter: User, facilitator: bool, actor: User | None, notice: str = "") -> dict[str, Any]:
    """The voter's list: their saved order, else the (per-user shuffled) starting order (read path).

    ``actor`` is the facilitator recording on the voter's behalf, if any.
    """
    ideas = voting.options_of(activity)
    saved = own_ranking(activity, voter.id)
    by_id = {o.id: o for o in ideas}
    order: list[Option]
    if saved and all(i in by_id for i in saved) and len(saved) == len(ideas):
        order = [by_id[i] for i in saved]
    else:
        saved = None
        order = voting.participant_order(activity, voter.id, ideas, bool(activity.config.get("randomize_order", True)))
    return {
        "kind": "rank",
        "voter": voter,
        "behalf": actor is not None,
        "recorded_by": voting.recorded_by(activity, voter.id) if actor is None and saved is not None else None,
        "choices": voting.in_scope_people(activity) if facilitator else [],
        "items": [{"option": o, "field": voting.short_id(o)} for o in order],
        "saved": saved is not None,
        "allow_reset": bool(activity.config.get("allow_reset", True)),
        "open": activity.state == "running",
        "state": activity.state,
        "notice": notice,
    }
