"""The activity type interface and its registry.

A type provides: label and id stem, default config, config form fields and validation, the
participant and facilitator panel partials, the scripts its panels need, what it gives and takes in a
transfer (``transfer_items``, ``content_key``, ``receive_transfer``), what a second round copies
and compares (``round_config``, ``round_totals``), and how its content travels in a meeting export
(``config_schema``, ``content_schema``, ``dump_content``, ``content_problems``, ``import_config``,
``load_content``).
Its package registers it together with what it adds to the app: its own routes, builders for its
own live events, and its results page and CSV. The engine (agenda, run control, room, live updates,
results) only ever reaches a type through this class and ``TYPES``; it imports no activity package.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from jinja2 import Environment
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from ..platform.errors import Refused
from ..platform.runtime_settings import RuntimeSettings
from .models import Activity, MeetingEvent

Endpoint = Callable[[Request], Awaitable[Response]]
# Fragments for one of a type's own live events: (room state, event, audiences, templates) → HTML per
# audience (see ``live.build_variants``). The state is a ``room.RoomState``: ``room`` builds on this module.
EventBuilder = Callable[[Any, MeetingEvent, set[Hashable], Environment], dict[Hashable, str]]


@dataclass(frozen=True)
class TransferSource:
    """Where a transferred item came from in its donor: the item's stable id there (``ref``), how a
    person names it (``label``: 'idea #4', 'bucket “Venues”'), its text then, and the donor items
    folded into it (``parts``: a bucket's items in a rollup). Never an author."""

    ref: str
    label: str
    text: str
    parts: tuple[str, ...] = ()


@dataclass(frozen=True)
class TransferItem:
    """One item of a transfer: its text, its source (None for one the facilitator added) and its
    comments (same shape, no comments of their own)."""

    text: str
    source: TransferSource | None = None
    comments: tuple[TransferItem, ...] = ()


Problem = tuple[int, str]  # (index of the offending item, message): the draft highlights that row


def stamp(moment: datetime | None) -> str | None:
    """A stored (naive UTC) time as an export writes it: ISO 8601 with ``Z``."""
    return None if moment is None else moment.isoformat() + "Z"


def unstamp(text: str | None) -> datetime | None:
    """An export's time back as stored (naive UTC); the schema has checked its form."""
    return None if text is None else datetime.fromisoformat(text.removesuffix("Z"))


@dataclass(frozen=True)
class ImportLinks:
    """How an import maps what a bundle names onto the new meeting (write path).

    Every id of a meeting starts with the meeting id (activities ``<meeting>-<STEM>-NNNN``, their
    options, ideas, buckets and items ``<activity>:…``), so the new ids keep the old ones' numbers
    under the new meeting id. ``users`` maps each exported user id to an account here: the re-linked
    user, or a stand-in that keeps an unknown person's display name (SPEC §4.13).
    """

    old_meeting: str
    new_meeting: str
    users: Mapping[str, str]

    def ref(self, old: str) -> str:
        """The new id of anything the bundle's meeting named (other text is returned unchanged)."""
        return self.new_meeting + old[len(self.old_meeting):] if old.startswith(self.old_meeting) else old

    def user(self, old: str | None) -> str | None:
        return None if old is None else self.users.get(old)


@dataclass(frozen=True)
class ReportResults:
    """An activity's results as the meeting report, the room's reveal and the presenter view show
    them, the same for every viewer (hidden ideas left out, anonymous authors unnamed, no list of
    who has not voted): ``participation`` ("14 of 18 voted"), the partial that draws ``values`` (its
    charts inline SVG), the same results as ``markdown``, and the text of each shown item by its
    ref, for the provenance chains of transferred ones. ``more`` counts items left out by a limit."""

    participation: str
    template: str
    values: Mapping[str, Any]
    markdown: str
    items: Mapping[str, str]
    more: int = 0


class ActivityType:
    name = ""
    label = ""
    stem = ""
    # Waiting copy: "The facilitator will open <noun> when ready."
    noun = "the activity"
    item_noun = "item"  # what one of its items is called in a provenance chain: idea, option, …
    config_template = "activities/_no_config.html"
    participant_template = ""
    facilitator_template = ""
    scripts: tuple[str, ...] = ()  # loaded by the meeting page for this type's panels
    # The most of the type's own live events a reconnect replays: each can render a row, so past a
    # page's worth the replay carries ``page_refresh`` instead (or, without one, the stream sends
    # ``resync``). None: no cap.
    replay_limit: int | None = None
    # What the type's package hands over when it registers (see ``register``).
    routes: Sequence[BaseRoute] = ()
    events: Mapping[str, EventBuilder] = {}
    results_page: Endpoint | None = None
    results_csv: Endpoint | None = None
    # For the AI designer's catalog (SPEC §4.16): what the type is for, and what a plan may set in its
    # config (key → meaning and values, as the model is told). Other keys are dropped with a warning.
    purpose = ""
    designer_keys: Mapping[str, str] = {}
    # The hidden field(s) the type's config form sends, so ``validate_config`` reads a whole form.
    config_form_marker: Mapping[str, str] = {}

    def designer_form(self, config: Mapping[str, Any]) -> dict[str, str]:
        """A planned config (``designer_keys`` only, values text, numbers, booleans or lists) as the
        type's config form submits it, for ``validate_config``: a list as lines, true as a checked box."""
        form = dict(self.config_form_marker)
        for key, value in config.items():
            if isinstance(value, list):
                form[key] = "\n".join(str(item) for item in value)
            elif value is True:
                form[key] = "on"
            elif value is not False and value is not None:
                form[key] = str(value)
        return form

    def default_config(self, settings: RuntimeSettings) -> dict[str, Any]:
        return {}

    def validate_config(self, form: dict[str, str], activity: Activity | None) -> dict[str, Any]:
        """The type's config from submitted fields; raises FormErrors (field → message) or Conflict."""
        return {}

    def prepare_config(self, activity: Activity, config: dict[str, Any]) -> dict[str, Any]:
        """Write path, on add and edit: the config to store (e.g. with stable option ids). Raises
        Conflict for a change the activity's data no longer allows (config locks, SPEC §4.6)."""
        return config

    def config_lock(self, activity: Activity) -> str | None:
        """Read path: why some config keys are locked (the edit form greys them out), or None."""
        return None

    def check_startable(self, activity: Activity) -> None:
        """Raise Refused when the activity cannot start yet (e.g. no options)."""

    def panel_context(self, activity: Activity, user_id: str, facilitator: bool) -> dict[str, Any]:
        """Extra template values for the panel (read path)."""
        return {}

    def on_first_start(self, activity: Activity) -> None:
        """Write path, inside the first start's transaction (e.g. seed a board from the config)."""

    def page_context(self, activity: Activity, user_id: str, facilitator: bool, params: Mapping[str, str]) -> dict[str, Any]:
        """The panel's values for a page request, whose query ``params`` may choose a view of it (a
        page of a long board, a filter). Shared renders (live events) use ``panel_context``."""
        return self.panel_context(activity, user_id, facilitator)

    def page_refresh(self, state: Any, activity: Activity, audience: Hashable, env: Environment) -> str | None:
        """Out-of-band HTML that brings the panel's live content to what a fresh load shows, for
        ``audience``: what a reconnect gets instead of more than ``replay_limit`` of the type's
        events. None: the page is sent ``resync`` and re-fetches itself."""
        return None

    def transfer_count(self, activity: Activity) -> int:
        return 0

    def has_participant_data(self, activity: Activity) -> bool:
        return False

    # -- transfers (SPEC §4.12): the donor side ---------------------------------------------------

    # Whether the type's items usually go on to a next activity once it stops (ideas, buckets): then
    # "Transfer Ideas (N)" is the agenda row's primary action after Stop, else Results is.
    carries_forward = False
    # Donor-side choices, (key, label); the first is the default. Empty: one way to give items.
    transforms: tuple[tuple[str, str], ...] = ()

    def transfer_items(self, activity: Activity, transform: str) -> list[TransferItem]:
        """The activity's items in its results order, as a transfer takes them (read path)."""
        return []

    # -- transfers: the target side ---------------------------------------------------------------

    # The config key a transfer fills ("" when the type cannot receive one). The other keys are the
    # "non-content settings" a same-type transfer copies from its donor.
    content_key = ""
    # Whether comments arrive as comments; otherwise they are folded into their idea's text.
    keeps_comments = False

    def transfer_problems(self, config: dict[str, Any], items: list[TransferItem]) -> list[Problem]:
        """What the type's rules refuse in ``items`` for a target with ``config`` (write path)."""
        return []

    def receive_transfer(self, activity: Activity, items: list[TransferItem], donor_title: str) -> list[tuple[str, TransferItem]]:
        """Write path: put ``items`` into the (unused) target; returns each created thing's ref with
        the item it came from, comments included. By default the items replace the content key."""
        config = {**activity.config, self.content_key: [item.text for item in items]}
        activity.config = self.prepare_config(activity, config)
        activity.save()
        refs = [ref for ref, _ in self.content_refs(activity)]
        return list(zip(refs, items, strict=True))

    def content_refs(self, activity: Activity) -> list[tuple[str, str]]:
        """The content the activity works on, in order, as (stable ref, text): options, ideas, items."""
        return []

    # -- second rounds ----------------------------------------------------------------------------

    runs_rounds = False  # whether a stopped activity of the type can run again as a new round

    # -- results for the report, the reveal and the presenter view (SPEC §4.13) -------------------

    def report_results(self, activity: Activity, limit: int | None = None) -> ReportResults | None:
        """The activity's results for everyone allowed to see them (read path); at most ``limit``
        items when given (a preview). None: the type has no results to report."""
        return None

    def presenter_prompt(self, activity: Activity) -> str:
        """The question the presenter view shows in large type (its instructions, unless the type
        has a prompt of its own)."""
        return activity.instructions

    def public_while_running(self, activity: Activity) -> bool:
        """Whether every in-scope participant may see the results while the activity runs (a vote
        with live results): then the presenter view shows them live."""
        return False

    def live_figure(self, activity: Activity) -> str:
        """What the presenter view shows in large type while the activity runs ("42 ideas",
        "12 of 18 voted"): counts only, never totals (read path)."""
        return ""

    def round_totals(self, activity: Activity) -> list[tuple[str, float]]:
        """Per option (label), the figure rounds compare: dots, Borda score, items per bucket."""
        return []

    def round_config(self, activity: Activity) -> dict[str, Any]:
        """The config of a fresh round after ``activity``: the same settings and content."""
        return dict(activity.config)

    def delete_data(self, activity: Activity) -> None:
        """Remove the type's rows for this activity (write path, before the activity row goes)."""

    # -- export and import (SPEC §4.13) -----------------------------------------------------------

    # JSON Schemas (draft 2020-12) of the type's ``config`` and ``content`` in ``meeting.json``; the
    # export's schema.json holds one branch per type. An import stores a config as it comes, so the
    # schema types every key the type reads. The defaults: any config, no content of its own.
    config_schema: Mapping[str, Any] = MappingProxyType({"type": "object"})
    content_schema: Mapping[str, Any] = MappingProxyType({"type": "object", "additionalProperties": False})

    def dump_content(self, activity: Activity) -> dict[str, Any]:
        """Read path: what participants put into the activity, for an export. Never an anonymous
        author (SPEC §4.8); users by id (the bundle lists them)."""
        return {}

    def content_users(self, content: Mapping[str, Any]) -> set[str]:
        """The user ids an exported ``content`` names (the import checks the bundle lists each)."""
        return set()

    def content_problems(self, activity_id: str, config: Mapping[str, Any], content: Mapping[str, Any]) -> list[str]:
        """What an import refuses in a schema-valid ``content``: ids that point outside the activity
        (an option no config has, a comment without its idea). Pure: no database."""
        return []

    def import_config(self, config: dict[str, Any], links: ImportLinks) -> dict[str, Any]:
        """An exported config with the ids it holds (options, seed items) moved to the new meeting."""
        return config

    def load_content(self, activity: Activity, content: Mapping[str, Any], links: ImportLinks) -> None:
        """Write path, in the import's transaction: the type's rows from an exported ``content``
        (checked by ``content_problems``), its id sequences set past the numbers it brings."""


TYPES: dict[str, ActivityType] = {}
# What "Add activity" menus preselect: most meetings open by collecting ideas.
PREFERRED_DEFAULT = "brainstorming"


def default_type() -> str:
    """The type preselected in "Add activity" menus (the preferred one if registered, else the first)."""
    return PREFERRED_DEFAULT if PREFERRED_DEFAULT in TYPES else next(iter(TYPES), "")


def register(
    activity_type: ActivityType,
    *,
    routes: Sequence[BaseRoute] = (),
    events: Mapping[str, EventBuilder] | None = None,
    results_page: Endpoint | None = None,
    results_csv: Endpoint | None = None,
) -> None:
    """Add a type to the agenda's menus, with what its package adds to the app: its own routes, the
    builders of its own live events (by event type), and its results page and CSV, if it has results.
    Types are listed in the order they register."""
    activity_type.routes = tuple(routes)
    activity_type.events = dict(events or {})
    activity_type.results_page, activity_type.results_csv = results_page, results_csv
    TYPES[activity_type.name] = activity_type


def get_type(name: str) -> ActivityType:
    try:
        return TYPES[name]
    except KeyError:
        raise Refused(f"Unknown activity type '{name}'.", 400) from None


def type_routes() -> list[BaseRoute]:
    """Every type's own routes, once each (types may share some, like the two ballot types)."""
    routes: list[BaseRoute] = []
    for activity_type in TYPES.values():
        for route in activity_type.routes:
            if route not in routes:
                routes.append(route)
    return routes


def event_builder(event_type: str) -> EventBuilder | None:
    """The builder a type registered for one of its own live events (ideas, votes), if any."""
    for activity_type in TYPES.values():
        builder = activity_type.events.get(event_type)
        if builder is not None:
            return builder
    return None


def over_replay_limit(event_types: list[str]) -> set[str]:
    """The event types, among those of a reconnect's replay, whose type has more of its own events
    there than its ``replay_limit``."""
    over: set[str] = set()
    for activity_type in TYPES.values():
        limit = activity_type.replay_limit
        if limit is not None and sum(1 for t in event_types if t in activity_type.events) > limit:
            over.update(activity_type.events)
    return over


def type_scripts() -> list[str]:
    """The scripts the meeting page loads for the types' panels, once each, in registration order."""
    return list(dict.fromkeys(src for activity_type in TYPES.values() for src in activity_type.scripts))
