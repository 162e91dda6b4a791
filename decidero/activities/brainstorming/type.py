"""The brainstorming activity type (SPEC §4.8): its config form and rules, its panel, its data."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from types import MappingProxyType
from typing import Any

from jinja2 import Environment
from peewee import fn

from ...meetings import markdown
from ...meetings.access import scope_query
from ...meetings.activity_types import ActivityType, ImportLinks, Problem, ReportResults, TransferItem, TransferSource
from ...meetings.models import Activity
from ...meetings.room import FACILITATOR_AUDIENCE
from ...platform.accounts import clean_text
from ...platform.errors import Conflict, FormErrors
from ...platform.forms import whole_number
from ...platform.idempotency import delete_for_activity
from ...platform.runtime_settings import RuntimeSettings
from . import exchange
from .board import (
    OLDEST,
    PAGE_SIZE,
    GroupView,
    View,
    board,
    board_page,
    board_values,
    current_setting,
    order_of,
    ref_of,
    rules_of,
    view_from,
    visible_count,
)
from .events import sees_board, transfer_button
from .ideas import add_transferred, too_long
from .models import Idea

ANONYMITY_LOCKED = "Anonymity cannot be changed after ideas have been submitted."
CHAR_LIMIT = (50, 5000)
MAX_IDEAS = (1, 1000)


def _checked(form: dict[str, str], name: str) -> bool:
    return form.get(name) in ("on", "true", "1", "yes", "True")


def _limit(form: dict[str, str], name: str, bounds: tuple[int, int], message: str, errors: dict[str, str]) -> int | None:
    raw = clean_text(form.get(name))
    if not raw or raw == "None":
        return None
    value = whole_number(raw)
    if value is None or not bounds[0] <= value <= bounds[1]:
        errors[name] = message
        return None
    return value


class Brainstorming(ActivityType):
    name = "brainstorming"
    label = "Brainstorming"
    stem = "BRAINS"
    noun = "the brainstorming board"
    purpose = "Collect ideas, optionally with comments and anonymity"
    designer_keys = MappingProxyType({
        "prompt": "the question participants answer (text, at most 1000 characters)",
        "anonymous": "hide authors' names (true/false)",
        "allow_comments": "participants may comment on ideas (true/false)",
    })
    config_form_marker = MappingProxyType({"brainstorming_config": "1"})
    item_noun = "idea"
    content_key = "ideas"  # transferred ideas arrive as rows of the board, not in the config
    keeps_comments = True
    carries_forward = True
    config_template = "activities/brainstorming/config.html"
    participant_template = "activities/brainstorming/panel.html"
    facilitator_template = "activities/brainstorming/panel.html"
    replay_limit = PAGE_SIZE  # a reconnect that missed more new ideas than a page re-fetches the page

    def default_config(self, settings: RuntimeSettings) -> dict[str, Any]:
        return {
            "prompt": "",
            "anonymous": bool(settings.get("brainstorming.default_maintain_anonymity")),
            "allow_comments": bool(settings.get("brainstorming.default_allow_subcomments")),
            "auto_jump": bool(settings.get("brainstorming.default_auto_jump_new_ideas")),
            "char_limit": None,
            "max_ideas_per_user": None,
        }

    def validate_config(self, form: dict[str, str], activity: Activity | None) -> dict[str, Any]:
        """Blank limits stay blank: they mean "the runtime setting at submit time"."""
        if "brainstorming_config" not in form:  # a form without this type's fields (e.g. quick add)
            return dict(activity.config) if activity is not None else {}
        errors: dict[str, str] = {}
        prompt = clean_text(form.get("prompt"))
        if len(prompt) > 1000:
            errors["prompt"] = "Prompt must be at most 1000 characters."
        config = {
            "prompt": prompt,
            "anonymous": _checked(form, "anonymous"),
            "allow_comments": _checked(form, "allow_comments"),
            "auto_jump": _checked(form, "auto_jump"),
            "char_limit": _limit(
                form, "char_limit", CHAR_LIMIT, "Character limit must be blank or a whole number between 50 and 5000.", errors
            ),
            "max_ideas_per_user": _limit(
                form, "max_ideas_per_user", MAX_IDEAS, "Max ideas per person must be blank or a whole number between 1 and 1000.", errors
            ),
        }
        if errors:
            raise FormErrors(errors)
        return config

    def prepare_config(self, activity: Activity, config: dict[str, Any]) -> dict[str, Any]:
        if self.config_lock(activity) and bool(config.get("anonymous")) != bool(activity.config.get("anonymous")):
            raise Conflict(ANONYMITY_LOCKED)
        return config

    def config_lock(self, activity: Activity) -> str | None:
        return ANONYMITY_LOCKED if self.has_participant_data(activity) else None

    def panel_context(self, activity: Activity, user_id: str, facilitator: bool) -> dict[str, Any]:
        return self.page_context(activity, user_id, facilitator, {})

    def page_context(self, activity: Activity, user_id: str, facilitator: bool, params: Mapping[str, str]) -> dict[str, Any]:
        """The first page of the board in the viewer's order, or the page ``params`` ask for when they
        name this activity (``before``/``after``, ``q``, ``reply``: links that work without JavaScript)."""
        mine = params.get("activity") == activity.id
        view = view_from(params if mine else {}, order_of(activity.meeting_id, user_id or None))
        return board_values(activity, facilitator, user_id or None, view, params.get("reply", "") if mine else "")

    def page_refresh(self, state: Any, activity: Activity, audience: Hashable, env: Environment) -> str | None:
        """The first page of the board, newest first, as everyone in ``audience`` sees it (a viewer
        who reads oldest first fetches their own); for facilitators also the transfer count."""
        if not sees_board(activity, audience):
            return ""
        facilitator = audience == FACILITATOR_AUDIENCE
        values = {**board_values(activity, facilitator, None, View()), "board_oob": True}
        html = env.get_template("activities/brainstorming/_board.html").render(values)
        return html + (transfer_button(env, activity) if facilitator else "")

    def transfer_count(self, activity: Activity) -> int:
        return visible_count(activity)

    def report_results(self, activity: Activity, limit: int | None = None) -> ReportResults:
        """Visible ideas with their visible comments in number order (as the results page), authors
        only where the round is not anonymous; a preview reads just its first page."""
        rules = rules_of(activity)
        if limit is None:
            groups = sorted(board(activity, rules, False, None), key=lambda g: g.idea.number)
            total = len(groups)
        else:
            page = board_page(activity, rules, False, None, View(OLDEST))
            groups, total = page.groups[:limit], page.total
        values = {"groups": groups, "rules": rules}
        items = {ref_of(activity.id, v.label): v.content for g in groups for v in (g.idea, *g.comments)}
        return ReportResults(_contributed(activity), "activities/brainstorming/_report.html", values, _markdown(groups), items, total - len(groups))

    def presenter_prompt(self, activity: Activity) -> str:
        return rules_of(activity).prompt or activity.instructions

    def live_figure(self, activity: Activity) -> str:
        count = visible_count(activity)
        return f"{count} idea{'s' if count != 1 else ''}"

    def transfer_items(self, activity: Activity, transform: str) -> list[TransferItem]:
        """Visible ideas in number order, each with its visible comments; never an author."""
        groups = sorted(board(activity, rules_of(activity), False, None), key=lambda g: g.idea.number)

        def item(view: Any, noun: str, comments: tuple[TransferItem, ...] = ()) -> TransferItem:
            source = TransferSource(ref_of(activity.id, view.label), f"{noun} #{view.label}", view.content)
            return TransferItem(view.content, source, comments)

        return [item(g.idea, "idea", tuple(item(c, "comment") for c in g.comments)) for g in groups]

    def transfer_problems(self, config: dict[str, Any], items: list[TransferItem]) -> list[Problem]:
        limit = int(config.get("char_limit") or current_setting("brainstorming.idea_character_limit"))
        return [
            (index, too_long(limit))
            for index, item in enumerate(items)
            if any(len(text) > limit for text in (item.text, *(c.text for c in item.comments)))
        ]

    def receive_transfer(self, activity: Activity, items: list[TransferItem], donor_title: str) -> list[tuple[str, TransferItem]]:
        return add_transferred(activity, items, donor_title)

    def has_participant_data(self, activity: Activity) -> bool:
        return Idea.select().where(Idea.activity == activity.id).exists()

    config_schema = MappingProxyType(exchange.CONFIG_SCHEMA)
    content_schema = MappingProxyType(exchange.CONTENT_SCHEMA)

    def dump_content(self, activity: Activity) -> dict[str, Any]:
        return exchange.dump(activity)

    def content_users(self, content: Mapping[str, Any]) -> set[str]:
        return exchange.users(content)

    def content_problems(self, activity_id: str, config: Mapping[str, Any], content: Mapping[str, Any]) -> list[str]:
        return exchange.problems(content)

    def load_content(self, activity: Activity, content: Mapping[str, Any], links: ImportLinks) -> None:
        exchange.load(activity, content, links)

    def delete_data(self, activity: Activity) -> None:
        Idea.delete().where(Idea.activity == activity.id, Idea.parent.is_null(False)).execute()
        Idea.delete().where(Idea.activity == activity.id).execute()
        delete_for_activity(activity.meeting_id, activity.id)


def _contributed(activity: Activity) -> str:
    """"12 of 18 participants contributed · 40 ideas, 9 comments" (visible ones; nobody named)."""
    visible = Idea.select().where(Idea.activity == activity.id, Idea.hidden == False)  # noqa: E712
    ideas = visible.where(Idea.sub == 0).count()
    comments = visible.where(Idea.sub > 0).count()
    scope = scope_query(activity)
    authors = visible.select(fn.COUNT(fn.DISTINCT(Idea.author))).where(Idea.author.in_(scope)).scalar() or 0
    counts = f"{ideas} idea{'s' if ideas != 1 else ''}, {comments} comment{'s' if comments != 1 else ''}"
    return f"{authors} of {scope.count()} participants contributed · {counts}"


def _markdown(groups: list[GroupView]) -> str:
    def line(view: Any) -> str:
        when = view.created_at.strftime("%Y-%m-%d %H:%M")
        edited = " (edited)" if view.edited else ""
        return f"**#{view.label}** {markdown.text(view.content)}{edited} — {markdown.text(view.author)}, {when} UTC"

    lines = []
    for group in groups:
        lines.append("- " + line(group.idea))
        lines += ["  - " + line(comment) for comment in group.comments]
    return "\n".join(lines) if lines else "_No ideas._"
