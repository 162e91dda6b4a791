"""Provenance (SPEC §4.12): where each idea, option or item created by a transfer or a second round
came from, and the chain back to its origin across any number of hops.

``record`` writes the rows in the creating transaction. ``sources_for`` gives the facilitators'
"Source" line of every item of an activity in one query; ``chain`` follows one item back: brainstorm
idea #4 → bucket “Venues” → this option. Nothing here ever knows an author.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from ..platform.models import utcnow
from ..platform.prepared import add_many
from . import agenda, lifecycle
from .activity_types import TransferSource
from .models import Activity, Provenance

MAX_HOPS = 12  # a chain longer than this is cut (and a cycle could never be followed forever)
SNIPPET = 60  # characters of an item's text shown in a chain


@dataclass(frozen=True)
class Origin:
    """The donor a batch of items comes from."""

    meeting_id: str
    activity_id: str
    title: str


def record(activity: Activity, origin: Origin, created: Iterable[tuple[str, TransferSource | None]]) -> int:
    """One row per created ``(ref, source)`` with a source (write path, bulk); returns how many."""
    now = utcnow()
    rows = [
        {
            "meeting_id": activity.meeting_id,
            "activity_id": activity.id,
            "ref": ref,
            "source_meeting_id": origin.meeting_id,
            "source_activity_id": origin.activity_id,
            "source_title": origin.title[:200],
            "source_ref": source.ref,
            "source_label": source.label[:255],
            "source_text": source.text,
            "parts_json": json.dumps(list(source.parts)),
            "created_at": now,
        }
        for ref, source in created
        if source is not None
    ]
    add_many(Provenance, rows, replace=True)  # a ref filled again (an unused target refilled) keeps its newest source
    return len(rows)


def hop(row: Provenance) -> str:
    """One step of a chain as people read it: 'idea #4 “Cheap hall” in “Ideas”'."""
    label = row.source_label
    text = snippet(row.source_text)
    if text and text not in label:
        label = f"{label} “{text}”"
    return f"{label} in “{row.source_title}”"


def snippet(text: str) -> str:
    """An item's text shortened for a chain or a label."""
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"


def sources_for(activity_id: str) -> dict[str, str]:
    """The facilitators' "Source: …" line per ref of the activity's transferred items (read path)."""
    rows = Provenance.select().where(Provenance.activity_id == activity_id)
    return {row.ref: f"Source: {hop(row)}" for row in rows}


def lookup(activity_id: str, refs: list[str]) -> dict[str, str]:
    """``sources_for`` limited to ``refs`` (one live update, not the whole board)."""
    if not refs:
        return {}
    rows = Provenance.select().where(Provenance.activity_id == activity_id, Provenance.ref.in_(refs))
    return {row.ref: f"Source: {hop(row)}" for row in rows}


def chain(activity_id: str, ref: str) -> list[str]:
    """The hops from the origin to the item ``ref`` of the activity (excluded), oldest first.

    A rollup's hop lists the chains of the items folded into it, joined by " + ".
    """
    return _chain(activity_id, ref, MAX_HOPS)


def chains_for(activity_id: str, refs: Collection[str]) -> dict[str, list[str]]:
    """``chain`` of every transferred item among ``refs`` of the activity, for a whole report: the
    rows are read a hop at a time for all items together (a query per donor and hop, not per item),
    then followed in memory. Items people wrote have no row and cost nothing."""
    known: dict[tuple[str, str], Provenance] = {}
    wanted = {activity_id: set(refs)}
    for _ in range(MAX_HOPS):
        found: list[Provenance] = []
        for donor, donor_refs in wanted.items():
            rows = Provenance.select().where(Provenance.activity_id == donor)
            found += [row for row in rows if row.ref in donor_refs and (donor, row.ref) not in known]
        if not found:
            break
        wanted = {}
        for row in found:
            known[(row.activity_id, row.ref)] = row
            for ref in (row.source_ref, *row.parts):
                wanted.setdefault(row.source_activity_id, set()).add(ref)
    return {ref: _chain(activity_id, ref, MAX_HOPS, known) for (donor, ref) in list(known) if donor == activity_id}


def _chain(activity_id: str, ref: str, budget: int, known: dict[tuple[str, str], Provenance] | None = None) -> list[str]:
    """``known``: the rows ``chains_for`` read already; without it each hop is a query."""
    if budget <= 0:
        return []
    if known is None:
        row = Provenance.get_or_none(Provenance.activity_id == activity_id, Provenance.ref == ref)
    else:
        row = known.get((activity_id, ref))
    if row is None:
        return []
    before = _chain(row.source_activity_id, row.source_ref, budget - 1, known)
    if not before and row.parts:
        folded = [" → ".join(_chain(row.source_activity_id, part, budget - 1, known)) for part in row.parts]
        folded = [text for text in folded if text]
        if folded:
            before = [" + ".join(folded)]
    return [*before, hop(row)]


def _delete_for_activity(activity: Activity) -> None:
    Provenance.delete().where(Provenance.activity_id == activity.id).execute()


def _delete_for_meeting(meeting_id: str) -> None:
    Provenance.delete().where(Provenance.meeting_id == meeting_id).execute()


agenda.ON_DELETE.append(_delete_for_activity)
lifecycle.ON_DELETE.append(_delete_for_meeting)
