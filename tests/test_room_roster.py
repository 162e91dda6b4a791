"""The room's roster is cached between changes: whatever changes it, the next read shows the change;
a crowd is listed by name only up to a limit; and a viewer's own page lists them as present.

The cache is refreshed by database triggers (SQLite's and Postgres's), so these tests change the roster
with plain writes, the way a script, an import or another code path would, and read it the way pages
and publishes do.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import database_at
from helpers_meetings import add_people, seed_meeting, soup, text_of
from starlette.testclient import TestClient

from decidero.meetings import live
from decidero.meetings.models import Activity, ActivityRosterEntry, Meeting, MeetingMember
from decidero.meetings.room import PRESENCE_NAMES_SHOWN, RoomState, load_room, presence_values
from decidero.platform.db import Database
from decidero.platform.models import User
from decidero.schema import migrate

ROLES = {"owner": "facilitator", "pat": "participant", "quinn": "participant", "rae": "participant"}


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    with database_at(database_url) as database:
        yield database


def _room(db: Database, meeting_id: str) -> RoomState:
    return db.read_sync(lambda: load_room(meeting_id))


def _names(users: list[User]) -> list[str]:
    return [u.display_name for u in users]


def _user(db: Database, login: str) -> str:
    return db.read_sync(lambda: User.get(User.login == login).id)


@pytest.mark.both_backends
def test_membership_changes_show_on_the_next_read(db: Database) -> None:
    add_people(db, ROLES)
    meeting = seed_meeting(db, "owner", participants=["pat", "quinn"])
    assert _names(_room(db, meeting.id).participants) == ["pat", "quinn"]

    rae = _user(db, "rae")
    db.write_sync(lambda: MeetingMember.create(meeting=meeting.id, user=rae, role="participant"))
    assert _names(_room(db, meeting.id).participants) == ["pat", "quinn", "rae"]

    pat = _user(db, "pat")
    db.write_sync(lambda: MeetingMember.update(role="cofacilitator").where(MeetingMember.user == pat).execute())
    room = _room(db, meeting.id)
    assert _names(room.participants) == ["quinn", "rae"]
    assert _names(room.facilitators) == ["owner", "pat"]

    db.write_sync(lambda: MeetingMember.delete().where(MeetingMember.user == rae).execute())
    assert _names(_room(db, meeting.id).participants) == ["quinn"]


@pytest.mark.both_backends
def test_a_renamed_member_and_a_new_owner_show_on_the_next_read(db: Database) -> None:
    add_people(db, ROLES)
    meeting = seed_meeting(db, "owner", participants=["pat"])
    assert _names(_room(db, meeting.id).participants) == ["pat"]

    db.write_sync(lambda: User.update(display_name="Patricia", avatar_emoji="🦊").where(User.login == "pat").execute())
    (pat,) = _room(db, meeting.id).participants
    assert (pat.display_name, pat.avatar_emoji) == ("Patricia", "🦊")

    rae = _user(db, "rae")
    db.write_sync(lambda: Meeting.update(owner=rae).where(Meeting.id == meeting.id).execute())
    assert _names(_room(db, meeting.id).facilitators) == ["rae"]


@pytest.mark.both_backends
def test_sub_roster_entries_show_on_the_next_read(db: Database) -> None:
    add_people(db, ROLES)
    meeting = seed_meeting(db, "owner", participants=["pat", "quinn"])
    activity = meeting.activities[0]
    assert _room(db, meeting.id).custom_rosters == {}

    quinn = _user(db, "quinn")
    db.write_sync(lambda: ActivityRosterEntry.create(activity=activity, user=quinn))
    assert _room(db, meeting.id).custom_rosters == {activity: {quinn}}

    db.write_sync(lambda: Activity.delete().where(Activity.id == activity).execute())
    assert _room(db, meeting.id).custom_rosters == {}


@pytest.mark.both_backends
def test_a_change_that_rolls_back_leaves_no_trace(db: Database) -> None:
    add_people(db, ROLES)
    meeting = seed_meeting(db, "owner", participants=["pat"])
    assert _names(_room(db, meeting.id).participants) == ["pat"]
    rae = _user(db, "rae")

    def add_then_fail() -> None:
        MeetingMember.create(meeting=meeting.id, user=rae, role="participant")
        assert _names(load_room(meeting.id).participants) == ["pat", "rae"]  # the writer sees its own change
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        db.write_sync(add_then_fail)
    assert _names(_room(db, meeting.id).participants) == ["pat"]


def test_another_database_with_the_same_meeting_id_has_its_own_roster(db: Database, tmp_path: Path) -> None:
    add_people(db, ROLES)
    meeting = seed_meeting(db, "owner", participants=["pat"])
    assert _names(_room(db, meeting.id).participants) == ["pat"]

    other = Database(tmp_path / "other.db")
    try:
        migrate(other)
        add_people(other, ROLES)
        twin = seed_meeting(other, "owner", participants=["quinn"])
        assert twin.id == meeting.id  # meeting ids are per-database sequences
        assert _names(_room(other, twin.id).participants) == ["quinn"]
    finally:
        other.close()


def test_a_crowd_is_listed_by_name_up_to_a_limit_then_counted(db: Database) -> None:
    crowd = {f"p{n:03d}": "participant" for n in range(PRESENCE_NAMES_SHOWN + 20)}
    add_people(db, {"owner": "facilitator", **crowd})
    meeting = seed_meeting(db, "owner", participants=list(crowd))
    room = _room(db, meeting.id)
    here = [room.facilitators[0], *room.participants[: PRESENCE_NAMES_SHOWN + 5]]
    room.present = {u.id for u in here}

    seen = presence_values(room, facilitator=True)
    assert seen["count"] == PRESENCE_NAMES_SHOWN + 6
    assert _names(seen["shown"]) == _names(here[:PRESENCE_NAMES_SHOWN])  # the facilitator first
    assert seen["more"] == 6
    assert seen["away_count"] == 15
    assert _names(seen["away"]) == _names(room.participants[PRESENCE_NAMES_SHOWN + 5 :])
    assert seen["away_more"] == 0
    assert presence_values(room, facilitator=False)["away_count"] == 0  # only facilitators see who is away


def test_the_meeting_page_lists_a_crowd_by_name_up_to_the_limit(client: TestClient) -> None:
    db: Database = client.app.state.services.db  # type: ignore[attr-defined]
    crowd = {f"p{n:03d}": "participant" for n in range(PRESENCE_NAMES_SHOWN + 10)}
    people = add_people(db, {"owner": "facilitator", **crowd})
    meeting = seed_meeting(db, "owner", participants=list(crowd))
    # As if these people had the meeting open: every present member holds a stream.
    here = ["owner", *list(crowd)[: PRESENCE_NAMES_SHOWN + 5]]
    presence = live.engine(client.app.state.services).presence  # type: ignore[attr-defined]
    presence.counts[meeting.id] = {people[login].user_id: 1 for login in here}

    owner = TestClient(client.app, cookies=people["owner"].cookies)
    region = soup(owner.get(meeting.url)).select_one("#presence")
    assert region is not None
    assert text_of(region.select_one("strong")) == f"Present ({PRESENCE_NAMES_SHOWN + 6})"
    listed = region.select("ul.people li[data-user]")
    assert [li["data-user"] for li in listed] == [people[login].user_id for login in here[:PRESENCE_NAMES_SHOWN]]
    assert "and 6 more" in text_of(region)
    assert "Not connected (5)" in text_of(region)

    participant = TestClient(client.app, cookies=people["p000"].cookies)
    region = soup(participant.get(meeting.url)).select_one("#presence")
    assert region is not None
    assert "and 6 more" in text_of(region)
    assert "Not connected" not in text_of(region)  # only facilitators see who is away


def test_the_viewer_is_present_on_their_own_page_before_their_stream_opens(client: TestClient) -> None:
    """The first person in a room saw "Present (0)" until their own presence event arrived; their
    page now lists them, while everyone else's still lists only people with a stream open."""
    db: Database = client.app.state.services.db  # type: ignore[attr-defined]
    people = add_people(db, {"owner": "facilitator", "pat": "participant", "quinn": "participant"})
    meeting = seed_meeting(db, "owner", participants=["pat", "quinn"])

    pat = TestClient(client.app, cookies=people["pat"].cookies)
    region = soup(pat.get(meeting.url)).select_one("#presence")
    assert region is not None
    assert text_of(region.select_one("strong")) == "Present (1)"
    assert [li["data-user"] for li in region.select("ul.people li[data-user]")] == [people["pat"].user_id]

    owner = TestClient(client.app, cookies=people["owner"].cookies)
    region = soup(owner.get(meeting.url)).select_one("#presence")
    assert region is not None
    assert text_of(region.select_one("strong")) == "Present (1)"
    assert [li["data-user"] for li in region.select("ul.people li[data-user]")] == [people["owner"].user_id]
    assert "Not connected (2)" in text_of(region)  # pat's page did not make pat present for others
