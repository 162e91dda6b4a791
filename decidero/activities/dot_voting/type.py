"""The dot voting type (SPEC §4.9): config form and locks, panel, and each voter's dot rails (read path)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ...meetings.activity_types import ImportLinks
from ...meetings.models import Activity
from ...platform.errors import Conflict, FormErrors, Refused
from ...platform.forms import submission_key, whole_number
from ...platform.models import User
from ...platform.runtime_settings import RuntimeSettings
from ..ballots import exchange
from ..ballots import rules as voting
from ..ballots.results import Option
from ..ballots.type import EARLIER_VOTES, BallotType
from .votes import own_allocation

NO_OPTIONS = "No options yet. Add choices before starting voting."
PER_OPTION = "Dots per option must be between 1 and 9 and no more than the total dots."
DUPLICATE = 'Duplicate vote option: "{}". Each option must be unique.'
LOCKED_KEYS = ("options", "max_votes", "max_per_option")
FLAGS = ("allow_retract", "randomize_participant_order", "anonymous")
DEFAULTS: dict[str, Any] = {
    "options": [],
    "max_votes": 5,
    "max_per_option": 5,
    "allow_retract": True,
    "results_visibility": "hidden",
    "show_results_immediately": False,
    "randomize_participant_order": False,
    "anonymous": False,
}


def _whole(form: dict[str, str], name: str, current: int, low: int, high: int) -> int | None:
    if name not in form:
        return current
    value = whole_number(form[name])
    return value if value is not None and low <= value <= high else None


class DotVoting(BallotType):
    name = voting.VOTING
    label = "Dot Voting"
    stem = "RANKVT"
    noun = "the voting"
    purpose = "Spread a budget of dots over options"
    designer_keys = MappingProxyType({
        "options": "the choices to vote on (a list of short texts, each unique)",
        "max_votes": "dots per participant (a whole number 1–99)",
        "max_per_option": "most dots on one option (a whole number 1–9, no more than max_votes)",
    })
    config_form_marker = MappingProxyType({"config_form": voting.VOTING})
    item_noun = "option"
    content_key = "options"
    duplicate = DUPLICATE
    config_template = "activities/dot_voting/config.html"
    participant_template = "activities/dot_voting/panel.html"
    facilitator_template = "activities/dot_voting/panel.html"
    scripts = ("/static/js/activities/ballots.js",)

    def default_config(self, settings: RuntimeSettings | None = None) -> dict[str, Any]:
        return dict(DEFAULTS)

    def validate_config(self, form: dict[str, str], activity: Activity | None) -> dict[str, Any]:
        """Fields left out (e.g. greyed out by a lock) keep their current value."""
        current = {**DEFAULTS, **(activity.config if activity else {})}
        config = voting.common_flags(form, current, FLAGS)
        errors: dict[str, str] = {}
        config["options"] = voting.labels_of(current, "options")
        if "options" in form:
            try:
                config["options"] = voting.labels_from_text(form["options"], "options", "option", DUPLICATE)
            except FormErrors as exc:
                errors.update(exc.errors)
        total = _whole(form, "max_votes", int(current["max_votes"]), 1, 99)
        if total is None:
            errors["max_votes"] = "Total dots must be a whole number from 1 to 99."
        per_option = _whole(form, "max_per_option", int(current["max_per_option"]), 1, 9)
        if per_option is None or (total is not None and per_option > total):
            errors["max_per_option"] = PER_OPTION
        if errors:
            raise FormErrors(errors)
        config.update(max_votes=total, max_per_option=per_option)
        return config

    def prepare_config(self, activity: Activity, config: dict[str, Any]) -> dict[str, Any]:
        if voting.locked_change(activity, config, LOCKED_KEYS) and voting.has_votes(activity):
            raise Conflict(voting.VOTES_LOCKED)
        return voting.with_ids(activity, "options", config)

    def config_lock(self, activity: Activity) -> str | None:
        return voting.VOTES_LOCKED if voting.has_votes(activity) else None

    def check_startable(self, activity: Activity) -> None:
        if not voting.options_of(activity):
            raise Refused(NO_OPTIONS, 409)

    def has_participant_data(self, activity: Activity) -> bool:
        return voting.has_votes(activity)

    def ordered_results(self, activity: Activity) -> list[tuple[Option, float]]:
        return [(row.option, row.dots) for row in voting.dot_results(activity)]

    def transfer_text(self, option: Option, figure: float) -> str:
        """SPEC §4.9: " (Votes: N)" appended, replacing any earlier "(Votes: …)"."""
        return f"{EARLIER_VOTES.sub('', option.label)} (Votes: {int(figure)})"

    config_schema = MappingProxyType(exchange.VOTING_CONFIG_SCHEMA)
    content_schema = MappingProxyType(exchange.VOTES_SCHEMA)

    def dump_content(self, activity: Activity) -> dict[str, Any]:
        return exchange.dump_votes(activity)

    def content_users(self, content: Mapping[str, Any]) -> set[str]:
        return exchange.voters(content, "votes")

    def content_problems(self, activity_id: str, config: Mapping[str, Any], content: Mapping[str, Any]) -> list[str]:
        return exchange.vote_problems(activity_id, config, content)

    def import_config(self, config: dict[str, Any], links: ImportLinks) -> dict[str, Any]:
        return exchange.import_config(config, "options", links)

    def load_content(self, activity: Activity, content: Mapping[str, Any], links: ImportLinks) -> None:
        exchange.load_votes(activity, content, links)

    def ballot_values(self, activity: Activity, voter: User, facilitator: bool, actor: User | None, notice: str = "") -> dict[str, Any]:
        return ballot_values(activity, voter, facilitator, actor, notice)

    def shared_ballot_values(self, activity: Activity) -> dict[str, Any] | None:
        return shared_ballot_values(activity)

    def keep_choices(self, ballot: dict[str, Any], form: Mapping[str, str]) -> dict[str, Any]:
        """The submitted dots per option (within the rail), in place of the saved ones."""
        options = []
        for o in ballot["options"]:
            wanted = whole_number(str(form.get(o["field"], "")))
            chosen = o["saved"] if wanted is None else max(o["floor"], min(wanted, ballot["cap"]))
            options.append({**o, "saved": chosen})
        return {**ballot, "options": options, "cast": sum(o["saved"] for o in options)}


def ballot_values(activity: Activity, voter: User, facilitator: bool, actor: User | None, notice: str = "") -> dict[str, Any]:
    """One voter's dot rail form: saved allocation, order, floor when retraction is off (read path).

    ``actor`` is the facilitator recording on the voter's behalf, if any.
    """
    saved = own_allocation(activity, voter.id)
    order = voting.participant_order(
        activity, voter.id, voting.options_of(activity), bool(activity.config.get("randomize_participant_order"))
    )
    return {
        **_rails(activity, order, saved),
        "voter": voter,
        "behalf": actor is not None,
        "recorded_by": voting.recorded_by(activity, voter.id) if actor is None else None,
        "key": submission_key(),
        "notice": notice,
        "choices": voting.in_scope_people(activity) if facilitator else [],
    }


def shared_ballot_values(activity: Activity) -> dict[str, Any] | None:
    """The ballot every participant has before anyone votes, for a panel rendered once per audience.

    Sent inside the live panel when a vote starts, it spares each participant a request for their own
    ballot at that same moment (a crowd's worth of them within a second). Only while it is the same
    for everyone: the vote is open, the options come in one order, and nobody's votes are saved yet;
    otherwise the panel has the loader. The idempotency key is left blank for the page script to fill.
    """
    if activity.state != "running" or activity.config.get("randomize_participant_order") or voting.has_votes(activity):
        return None
    return {
        **_rails(activity, voting.options_of(activity), {}),
        "voter": None,
        "behalf": False,
        "recorded_by": None,
        "key": "",
        "notice": "",
        "choices": [],
    }


def _rails(activity: Activity, order: list[Option], saved: dict[str, int]) -> dict[str, Any]:
    """The dot rails for ``saved`` dots on the options in ``order``, with the activity's limits."""
    config = activity.config
    floor_applies = not config.get("allow_retract", True)
    return {
        "kind": "dots",
        "options": [
            {"option": o, "field": voting.short_id(o), "saved": saved.get(o.id, 0), "floor": saved.get(o.id, 0) if floor_applies else 0}
            for o in order
        ],
        "cap": voting.cap_of(config),
        "max_votes": int(config.get("max_votes", 5)),
        "cast": sum(saved.values()),
        "allow_retract": bool(config.get("allow_retract", True)),
        "open": activity.state == "running",
        "state": activity.state,
    }
