"""Rules both ballot types share (SPEC §4.9, §4.10, §4.13): options and their config, who votes
for whom, who sees totals, progress, results and the CSV export. Read path, except ``delete_data``.

Each type's submissions (write path) are in its own package: ``dot_voting.votes`` and
``rank_order.rankings``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from peewee import fn

from ...meetings import provenance
from ...meetings.access import NOT_ASSIGNED, Access, in_scope, participant_ids, require_member, scope_query
from ...meetings.charts import chart
from ...meetings.csv_export import csv_text
from ...meetings.ids import next_in_sequence
from ...meetings.models import Activity, MeetingEvent
from ...platform import idempotency
from ...platform.accounts import clean_text
from ...platform.errors import Forbidden, FormErrors, NotFound, Refused
from ...platform.models import User
from .models import Ranking, VoteAllocation
from .results import DotRow, Option, RankRow, dot_rows, rank_rows

VOTING = "voting"
RANKING = "rank_order_voting"

NOT_OPEN = "This activity is not open for voting."
VOTES_SAVED = "Your votes were submitted."
RANKING_SAVED = "Your ranking was saved."
VOTES_LOCKED = (
    "Voting settings are locked because votes already exist for this activity: options, total dots, dots per option."
)
RANKINGS_LOCKED = "Ranking settings are locked because rankings already exist for this activity: ideas."
VOTES_HIDDEN = "Votes are hidden until the facilitator reveals the results."
RESULTS_HIDDEN = "Results are hidden until the facilitator reveals them."
FACILITATORS_ONLY_BEHALF = "Only facilitators can record votes on behalf of someone."

# Who sees totals while the activity runs (``results_visibility``; the form labels them). Once it is
# stopped, participants see only published results.
POLICIES = ("hidden", "after_submit", "live")
MAX_LABEL = 200
MAX_ITEMS = 100


# -- options and config ---------------------------------------------------------------------------


def items_key(activity_type: str) -> str:
    return "options" if activity_type == VOTING else "ideas"


def options_of(activity: Activity) -> list[Option]:
    """The activity's options (dot voting) or ideas (rank-order) in configured order."""
    raw = activity.config.get(items_key(activity.type), [])
    return [Option(str(o["id"]), str(o["label"])) for o in raw if isinstance(o, dict)]


def short_id(option: Option) -> str:
    """``opt-N``: the form field name of an option."""
    return option.id.rsplit(":", 1)[-1]


def labels_from_text(text: str, field: str, singular: str, duplicate: str) -> list[str]:
    """Lines of a textarea as labels, blank lines skipped; FormErrors for sizes and duplicates
    (``duplicate`` is the message with ``{}`` for the label)."""
    labels = [label for label in (clean_text(line) for line in str(text or "").splitlines()) if label]
    problems = label_problems(labels, singular, duplicate)
    if problems:
        raise FormErrors({field: problems[0][1]})
    return labels


def label_problems(labels: list[str], singular: str, duplicate: str) -> list[tuple[int, str]]:
    """What the option rules refuse, as (index, message) in order: sizes, duplicates ignoring case,
    then the count (at the first label over the limit). Config forms and transfers share them."""
    problems: list[tuple[int, str]] = []
    seen: set[str] = set()
    for index, label in enumerate(labels):
        if not 1 <= len(label) <= MAX_LABEL:
            problems.append((index, f"Each {singular} must be 1–{MAX_LABEL} characters."))
        elif label.casefold() in seen:
            problems.append((index, duplicate.format(label)))
        seen.add(label.casefold())
    if len(labels) > MAX_ITEMS:
        problems.append((MAX_ITEMS, f"At most {MAX_ITEMS} {singular}s are allowed."))
    return problems


def labels_of(config: Mapping[str, Any], key: str) -> list[str]:
    return [str(o["label"]) if isinstance(o, dict) else str(o) for o in config.get(key, [])]


def with_ids(activity: Activity, key: str, config: dict[str, Any]) -> dict[str, Any]:
    """Give new labels the next ``<activity id>:opt-N`` (never reused); kept labels keep their id."""
    current = {str(o["label"]).casefold(): str(o["id"]) for o in activity.config.get(key, []) if isinstance(o, dict)}
    items = []
    for label in labels_of(config, key):
        option_id = current.get(label.casefold()) or f"{activity.id}:opt-{next_in_sequence(f'option:{activity.id}')}"
        items.append({"id": option_id, "label": label})
    return {**config, key: items}


def locked_change(activity: Activity, config: Mapping[str, Any], keys: tuple[str, ...]) -> bool:
    old = activity.config
    for key in keys:
        if key in ("options", "ideas"):
            if labels_of(old, key) != labels_of(config, key):
                return True
        elif old.get(key) != config.get(key):
            return True
    return False


def has_votes(activity: Activity) -> bool:
    return bool(VoteAllocation.select().where(VoteAllocation.activity == activity.id).exists())


def has_rankings(activity: Activity) -> bool:
    return bool(Ranking.select().where(Ranking.activity == activity.id).exists())


def policy(config: Mapping[str, Any]) -> str:
    value = str(config.get("results_visibility") or "")
    if value in POLICIES:
        return value
    return "live" if config.get("show_results_immediately") else "hidden"


def cap_of(config: Mapping[str, Any]) -> int:
    return min(int(config.get("max_per_option", 5)), int(config.get("max_votes", 5)))


def participant_order(activity: Activity, user_id: str, options: list[Option], shuffle: bool) -> list[Option]:
    """Deterministic per user: sorted by sha256(``meeting:activity:user:option``)."""
    if not shuffle:
        return list(options)

    def key(option: Option) -> str:
        return hashlib.sha256(f"{activity.meeting_id}:{activity.id}:{user_id}:{option.id}".encode()).hexdigest()

    return sorted(options, key=key)


# -- who may do and see what ----------------------------------------------------------------------


def _vote_model(activity: Activity) -> type[VoteAllocation] | type[Ranking]:
    """Where a participant's vote is stored: dot allocations or a ranking."""
    return VoteAllocation if activity.type == VOTING else Ranking


def in_scope_people(activity: Activity) -> list[User]:
    return list(User.select().where(User.id.in_(scope_query(activity))).order_by(User.display_name))


def submitted(activity: Activity, user_id: str) -> bool:
    model = _vote_model(activity)
    return bool(_submitters(activity).where(model.user == user_id).exists())


def shared_visible(activity: Activity) -> bool:
    """Whether every in-scope participant may see the totals now. Once stopped, only published
    results are shown; before that the live policy decides."""
    if activity.state == "stopped":
        return bool(activity.results_published)
    return policy(activity.config) == "live"


def visible_after_submit(activity: Activity) -> bool:
    """Whether a participant who submitted may see totals while the activity runs (policy, or dot
    voting with retraction off)."""
    if activity.state == "stopped":
        return False
    if policy(activity.config) == "after_submit":
        return True
    return activity.type == VOTING and not activity.config.get("allow_retract", True)


def may_see(activity: Activity, user_id: str, facilitator: bool) -> bool:
    """SPEC §4.9 "Who sees totals", for one user (read path)."""
    if facilitator:
        return True
    if not in_scope(activity, user_id):
        # Rostered but outside the sub-roster: published results only (SPEC §2.3 "View results").
        return activity.state == "stopped" and bool(activity.results_published)
    if shared_visible(activity):
        return True
    return visible_after_submit(activity) and submitted(activity, user_id)


def voting_activity(meeting_id: str, activity_id: str) -> Activity:
    activity = Activity.get_or_none(Activity.id == activity_id, Activity.meeting == meeting_id)
    if activity is None or activity.type not in (VOTING, RANKING):
        raise NotFound()
    return activity


def require_results(meeting_id: str, activity_id: str, user: User) -> tuple[Access, Activity]:
    """Read path for the results page and CSV: members, and participants only when allowed."""
    access = require_member(meeting_id, user)
    activity = voting_activity(meeting_id, activity_id)
    if not may_see(activity, user.id, access.is_facilitator):
        raise Forbidden(hidden_text(activity) if in_scope(activity, user.id) else NOT_ASSIGNED)
    return access, activity


def hidden_text(activity: Activity) -> str:
    return VOTES_HIDDEN if activity.type == VOTING else RESULTS_HIDDEN


def voter_for(access: Access, activity: Activity, for_user: str) -> User:
    """Who the submission is for: the actor, or (facilitators only) someone in the room."""
    if not for_user or for_user == access.user.id:
        if not access.is_facilitator and not in_scope(activity, access.user.id):
            raise Forbidden(NOT_ASSIGNED)
        return access.user
    if not access.is_facilitator:
        raise Forbidden(FACILITATORS_ONLY_BEHALF)
    if for_user not in participant_ids(activity.meeting_id):
        raise Refused("That person is not a participant of this meeting.", 400)
    if not in_scope(activity, for_user):
        raise Forbidden(NOT_ASSIGNED)
    return User.get_by_id(for_user)


# -- progress and results -------------------------------------------------------------------------


def submitter_ids(activity: Activity) -> set[str]:
    """Everyone with a stored allocation (dot voting) or ranking, facilitators included."""
    return {r.user_id for r in _submitters(activity).distinct()}


@dataclass
class Progress:
    done: int
    total: int
    activity: Activity

    def missing(self) -> list[User]:
        """Who has not voted yet, by name: only facilitators see it, so only they pay for loading it."""
        return list(
            User.select()
            .where(User.id.in_(scope_query(self.activity)), User.id.not_in(_submitters(self.activity)))
            .order_by(User.display_name)
        )


def _submitters(activity: Activity) -> Any:
    """Who has an allocation (dot voting) or a ranking, as a subquery of user ids."""
    model = _vote_model(activity)
    return model.select(model.user).where(model.activity == activity.id)


def progress(activity: Activity) -> Progress:
    """In-scope participants, and how many of them have voted (dot voting) or submitted a ranking.

    Counted by SQLite: every ballot shows it, and a crowd opens its ballots at once when a vote starts.
    """
    scope = scope_query(activity)
    model = _vote_model(activity)
    # Per in-scope person, an index probe for a vote: cheaper than collecting the distinct voters.
    voted = model.select(1).where(model.activity == activity.id, model.user == scope.model.user)
    done = scope.where(fn.EXISTS(voted)).count()
    return Progress(done, scope.count(), activity)


def results_values(activity: Activity, can_see: bool, facilitator: bool, counted: Progress | None = None) -> dict[str, Any]:
    """What the results block shows one viewer (read path); totals only when ``can_see``.

    ``counted`` is ``progress(activity)`` when the caller renders several views of one state.
    """
    counted = counted or progress(activity)
    anonymous = bool(activity.config.get("anonymous"))
    if activity.type == VOTING:
        dots = dot_results(activity) if can_see else []
        rows: list[Any] = dots
        bars = chart([(r.option.label, r.dots, str(r.dots)) for r in dots])
    else:
        ranks = rank_results(activity) if can_see else []
        rows = ranks
        bars = chart([(r.option.label, r.borda, str(r.borda)) for r in ranks])
    return {
        "kind": "dots" if activity.type == VOTING else "rank",
        "bars": bars,
        "can_see": can_see,
        "facilitator": facilitator,
        "progress": counted,
        "rows": rows,
        "missing": [] if anonymous or not facilitator else counted.missing(),
        "recorded_for": recorded_for_others(activity) if facilitator else [],
        "anonymous": anonymous,
        "after_submit": visible_after_submit(activity),
        "hidden_text": hidden_text(activity),
        # The facilitators' "Source: …" tooltip on options that came from a transfer or a round.
        "sources": provenance.sources_for(activity.id) if facilitator and can_see else {},
    }


def dot_results(activity: Activity) -> list[DotRow]:
    """Totals per option, summed by SQLite (every voter's ballot may show them)."""
    totals: Any = (
        VoteAllocation.select(VoteAllocation.option_id, fn.SUM(VoteAllocation.count), fn.COUNT(VoteAllocation.user))
        .where(VoteAllocation.activity == activity.id, VoteAllocation.count > 0)
        .group_by(VoteAllocation.option_id)
        .tuples()
    )
    return dot_rows(options_of(activity), totals)


def recorded_by(activity: Activity, voter_id: str) -> User | None:
    """The facilitator who recorded ``voter_id``'s stored ballot on their behalf, if one did."""
    model = _vote_model(activity)
    row = (
        model.select(model.recorded_by)
        .where(model.activity == activity.id, model.user == voter_id, model.recorded_by.is_null(False))
        .first()
    )
    return None if row is None else User.get_or_none(User.id == row.recorded_by_id)


def recorded_for_others(activity: Activity) -> list[User]:
    """Voters whose stored ballot a facilitator recorded for them (people in the room), by name."""
    model = _vote_model(activity)
    ids = {r.user_id for r in model.select(model.user).where(model.activity == activity.id, model.recorded_by.is_null(False))}
    return list(User.select().where(User.id.in_(sorted(ids))).order_by(User.display_name)) if ids else []


def rank_results(activity: Activity) -> list[RankRow]:
    rows = Ranking.select(Ranking.order_json).where(Ranking.activity == activity.id)
    return rank_rows(options_of(activity), (r.order for r in rows))


def latest_event_id(meeting_id: str, kind: str, activity_id: str) -> int:
    """The newest ``votes_changed``/``rankings_changed`` event of an activity (read path)."""
    value = (
        MeetingEvent.select(MeetingEvent.id)
        .where(MeetingEvent.meeting_id == meeting_id, MeetingEvent.type == kind, MeetingEvent.activity_id == activity_id)
        .order_by(MeetingEvent.id.desc())
        .limit(1)
        .scalar()
    )
    return int(value or 0)


# -- export ---------------------------------------------------------------------------------------


def _number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def csv_rows(activity: Activity) -> Iterable[list[object]]:
    if activity.type == VOTING:
        yield ["rank", "option", "dots", "voters"]
        for d in dot_results(activity):
            yield [d.rank, d.option.label, d.dots, d.voters]
        return
    yield ["rank", "idea", "borda_score", "avg_rank", "rank_variance", "top_choice_share", "rankings"]
    for r in rank_results(activity):
        yield [r.rank, r.option.label, r.borda, _number(r.avg_rank, 2), _number(r.variance, 2), f"{r.top_share:.1f}", r.rankings]


def results_csv(activity: Activity) -> str:
    """SPEC §4.13 (``meetings.csv_export``)."""
    return csv_text(csv_rows(activity))


# -- removal --------------------------------------------------------------------------------------


def delete_data(activity: Activity) -> None:
    VoteAllocation.delete().where(VoteAllocation.activity == activity.id).execute()
    Ranking.delete().where(Ranking.activity == activity.id).execute()
    idempotency.delete_for_activity(activity.meeting_id, activity.id)


# -- config forms ---------------------------------------------------------------------------------


def checked(form: Mapping[str, str], name: str) -> bool:
    return str(form.get(name, "")).strip().lower() in ("on", "true", "1", "yes")


def common_flags(form: Mapping[str, str], current: dict[str, Any], flags: tuple[str, ...]) -> dict[str, Any]:
    """Checkboxes and the visibility select. A checkbox is only read when the whole config form was
    submitted (``config_form``), since an unchecked box sends nothing; otherwise the value stays."""
    config = dict(current)
    if "config_form" in form:
        for flag in flags:
            config[flag] = checked(form, flag)
    if form.get("results_visibility") in POLICIES:
        config["results_visibility"] = form["results_visibility"]
    elif "show_results_immediately" in form or "config_form" in form:
        config["results_visibility"] = "live" if checked(form, "show_results_immediately") else "hidden"
    config["show_results_immediately"] = policy(config) == "live"
    return config
