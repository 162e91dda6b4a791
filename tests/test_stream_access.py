"""An open event stream never outlives its viewer's access (SPEC §4.14; issue 12, items 1 and 6).

For every way a user can lose access (role change, roster removal, co-facilitator removal,
ownership transfer, deactivation, logout, password change, admin password reset, session expiry)
the stream gets its ending event (``access_revoked`` or ``session_expired``) and closes; and content
committed after the access-changing request has returned never reaches it, or reaches it only as
the new audience sees it. No sleeps: each test waits for the ending event with a generous deadline,
and "never reaches" holds because the stream has ended before the content is committed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from bs4 import BeautifulSoup
from conftest import PASSWORD
from helpers_live import RawStream, Sse, ThreadedServer, open_stream
from helpers_meetings import Person, SeededMeeting, add_people, seed_meeting

from decidero.meetings import event_log
from decidero.meetings.broker import Viewer
from decidero.platform.models import UserSession, utcnow
from decidero.platform.sessions import revoke

PEOPLE = {
    "owner": "facilitator",
    "cofac": "facilitator",
    "pat": "participant",
    "quinn": "participant",
    "ada": "admin",  # an admin outside the meeting: a facilitator there by role alone
    "adrian": "admin",  # an admin on the participant roster
    "fern": "facilitator",  # a facilitator-role user on the participant roster
    "boss": "admin",  # who changes roles, resets passwords and deactivates accounts
}
DEADLINE = 15.0  # generous: the ending event is queued before the request answers
REVOKED = {"message": "Your access to this meeting has been revoked.", "to": "/dashboard"}
EXPIRED = {"message": "Your session expired. Please sign in again."}


@dataclass
class Room:
    server: ThreadedServer
    meeting: SeededMeeting
    people: dict[str, Person]
    streams: list[RawStream]

    def listening(self, login: str, person: Person | None = None) -> RawStream:
        """A stream of ``login`` (or of one of their other sessions) that has received its hello."""
        latest = self.server.db.read_sync(lambda: event_log.latest_id(self.meeting.id))
        who = person or self.people[login]
        stream = open_stream(self.server.url, f"{self.meeting.url}/events?since={latest}", who.cookie)
        self.streams.append(stream)
        stream.wait_event("hello", timeout=DEADLINE)
        return stream

    def post(self, login: str, path: str, data: dict[str, str] | None = None, person: Person | None = None) -> httpx.Response:
        who = person or self.people[login]
        cookies, headers = {"decidero_session": who.cookie}, {"X-CSRF-Token": who.csrf}
        with httpx.Client(base_url=self.server.url, cookies=cookies, headers=headers, timeout=10) as browser:
            return browser.post(path.format(mid=self.meeting.id), data=data or {})

    def commit_content(self, marker: str) -> None:
        """Something every member's stream would carry: an activity added to the agenda."""
        response = self.post("owner", "/meeting/{mid}/activities", {"type": "discussion", "title": marker})
        assert response.status_code == 303, response.text[:300]

    def uid(self, login: str) -> str:
        return self.people[login].user_id


@pytest.fixture
def room(tmp_path: Path) -> Iterator[Room]:
    server = ThreadedServer(tmp_path).start()
    people = add_people(server.db, PEOPLE)
    meeting = seed_meeting(server.db, "owner", ["pat", "quinn", "adrian", "fern"], ["cofac"], activities=[("Talk", {})])
    opened = Room(server, meeting, people, [])
    yield opened
    for stream in opened.streams:
        stream.close()
    server.stop()


def ends_with(stream: RawStream, kind: str, data: dict[str, str]) -> None:
    """The stream's last event is ``kind`` with ``data``, and then the server closes it."""
    ending = stream.wait_event(kind, timeout=DEADLINE)
    assert json.loads(ending.data) == data
    stream.wait_closed(timeout=DEADLINE)
    assert stream.events[-1] == ending


def never_received(stream: RawStream, marker: str) -> None:
    assert not [e.event for e in stream.events if marker in e.data]


def has_facilitator_controls(event: Sse) -> bool:
    return BeautifulSoup(event.data, "html.parser").select_one(".controls") is not None


# -- losing access to the meeting: access_revoked ---------------------------------------------------


def test_a_demoted_admin_outside_the_meeting_loses_the_stream_at_once(room: Room) -> None:
    ada = room.listening("ada")

    assert room.post("boss", f"/admin/users/{room.uid('ada')}/role", {"role": "facilitator"}).status_code == 303
    room.commit_content("After the demotion")

    ends_with(ada, "access_revoked", REVOKED)
    never_received(ada, "After the demotion")


def test_a_participant_removed_from_the_roster_loses_the_stream(room: Room) -> None:
    pat = room.listening("pat")
    quinn = room.listening("quinn")

    assert room.post("owner", "/meeting/{mid}/roster/remove", {"identifiers": "pat"}).status_code == 303
    room.commit_content("After the removal")

    ends_with(pat, "access_revoked", REVOKED)
    never_received(pat, "After the removal")
    quinn.wait_for(lambda e: "After the removal" in e.data, timeout=DEADLINE)  # the others carry on


def test_a_removed_co_facilitator_loses_the_stream(room: Room) -> None:
    cofac = room.listening("cofac")

    assert room.post("owner", "/meeting/{mid}/facilitators/remove", {"identifiers": "cofac"}).status_code == 303
    room.commit_content("After the co-facilitator left")

    ends_with(cofac, "access_revoked", REVOKED)
    never_received(cofac, "After the co-facilitator left")


def test_an_ownership_transfer_keeps_the_old_owner_as_facilitator_until_removed(room: Room) -> None:
    owner = room.listening("owner")

    transferred = room.post("owner", "/meeting/{mid}/owner", {"user": room.uid("cofac")})
    room.commit_content("After the transfer")

    assert transferred.status_code == 303
    # Judged again, the old owner is a co-facilitator now (SPEC §2.2): still the facilitators' view.
    after = owner.wait_for(lambda e: "After the transfer" in e.data, timeout=DEADLINE)
    assert has_facilitator_controls(after)
    assert "access_revoked" not in [e.event for e in owner.events]
    removed = room.post("cofac", "/meeting/{mid}/facilitators/remove", {"identifiers": "owner"})
    assert removed.status_code == 303
    assert room.post("cofac", "/meeting/{mid}/activities", {"type": "discussion", "title": "After the old owner left"}).status_code == 303

    ends_with(owner, "access_revoked", REVOKED)
    never_received(owner, "After the old owner left")


# -- a changed audience: resync, then the new audience's fragments ----------------------------------


def test_a_demoted_admin_on_the_roster_keeps_a_participants_view_only(room: Room) -> None:
    adrian = room.listening("adrian")
    mark = len(adrian.events)

    assert room.post("boss", f"/admin/users/{room.uid('adrian')}/role", {"role": "facilitator"}).status_code == 303
    room.commit_content("After the downgrade")

    resync = adrian.wait_event("resync", timeout=DEADLINE, start=mark)
    after = adrian.wait_for(lambda e: "After the downgrade" in e.data, timeout=DEADLINE, start=mark)
    assert adrian.events.index(resync) < adrian.events.index(after)
    assert not has_facilitator_controls(after), "a participant's stream carries no facilitator controls"
    assert not [e for e in adrian.events[mark:] if has_facilitator_controls(e)]


def test_a_participant_made_co_facilitator_gets_the_facilitators_view(room: Room) -> None:
    fern = room.listening("fern")
    mark = len(fern.events)

    assert room.post("owner", "/meeting/{mid}/facilitators/add", {"identifiers": "fern"}).status_code == 303
    room.commit_content("After the promotion")

    fern.wait_event("resync", timeout=DEADLINE, start=mark)
    after = fern.wait_for(lambda e: "After the promotion" in e.data, timeout=DEADLINE, start=mark)
    assert has_facilitator_controls(after)


def _opened_as(room: Room, viewer: Viewer) -> list[str]:
    """What a stream yields for ``viewer`` when the route's check passed but access ended before
    the stream began (the race between ``events_get`` and a change committed meanwhile)."""

    async def collect() -> list[str]:
        items = room.server.engine.stream(room.meeting.id, viewer, 0)
        return [item.decode() if isinstance(item, bytes) else str(item.event) async for item in items]

    return room.server.call(collect(), timeout=DEADLINE)


def test_a_stream_opened_just_after_access_ended_sends_only_its_ending(room: Room) -> None:
    def key_of(login: str) -> str:
        return str(room.server.db.read_sync(lambda: UserSession.get(UserSession.user == room.uid(login)).id))

    pat_key, ada = key_of("pat"), Viewer(room.uid("ada"), key_of("ada"), True)
    room.server.db.write_sync(lambda: revoke(pat_key))

    assert room.post("boss", f"/admin/users/{room.uid('ada')}/role", {"role": "facilitator"}).status_code == 303
    [expired] = _opened_as(room, Viewer(room.uid("pat"), pat_key, False))
    [revoked] = _opened_as(room, ada)

    assert expired.startswith("event: session_expired")
    assert revoked.startswith("event: access_revoked")


# -- losing the session: session_expired ------------------------------------------------------------


def test_deactivating_an_account_ends_its_streams(room: Room) -> None:
    pat = room.listening("pat")

    assert room.post("boss", f"/admin/users/{room.uid('pat')}/deactivate").status_code == 303
    room.commit_content("After the deactivation")

    ends_with(pat, "session_expired", EXPIRED)
    never_received(pat, "After the deactivation")


def test_signing_out_ends_that_sessions_stream(room: Room) -> None:
    pat = room.listening("pat")

    assert room.post("pat", "/logout").status_code == 303
    room.commit_content("After signing out")

    ends_with(pat, "session_expired", EXPIRED)
    never_received(pat, "After signing out")


def test_a_password_change_ends_the_streams_of_the_other_sessions(room: Room) -> None:
    other = add_people(room.server.db, {"pat": "participant"})["pat"]  # pat signed in elsewhere too
    here, elsewhere = room.listening("pat"), room.listening("pat", other)
    change = {"current_password": PASSWORD, "new_password": "N3w-Passw0rd!", "confirm_password": "N3w-Passw0rd!"}

    assert room.post("pat", "/profile/password", change).status_code == 303
    room.commit_content("After the password change")

    ends_with(elsewhere, "session_expired", EXPIRED)
    never_received(elsewhere, "After the password change")
    here.wait_for(lambda e: "After the password change" in e.data, timeout=DEADLINE)


def test_an_admin_password_reset_ends_every_stream_of_the_account(room: Room) -> None:
    pat = room.listening("pat")

    assert room.post("boss", f"/admin/users/{room.uid('pat')}/reset-password", {"password": "R3set-Passw0rd!"}).status_code == 303
    room.commit_content("After the reset")

    ends_with(pat, "session_expired", EXPIRED)
    never_received(pat, "After the reset")


def test_a_session_that_expires_while_its_stream_is_open_ends_it_then(room: Room) -> None:
    """No request arrives after the stream opens: the engine's own timer ends it at expiry."""
    lifetime = timedelta(minutes=2880)  # auth.session_lifetime_minutes' default

    def expire_soon() -> None:
        # The session began so long ago that it has two seconds left.
        started = utcnow() - lifetime + timedelta(seconds=2)
        UserSession.update(created_at=started).where(UserSession.user == room.uid("pat")).execute()

    room.server.db.write_sync(expire_soon)
    pat = room.listening("pat")

    ends_with(pat, "session_expired", EXPIRED)
    room.commit_content("After the expiry")
    never_received(pat, "After the expiry")
    assert room.server.run(lambda: room.server.engine.expiry_timers) == {}


def test_a_shorter_lifetime_setting_ends_an_open_stream_whose_session_it_expires(room: Room) -> None:
    """SPEC §4.1: the current lifetime applies, to open streams as much as to the next request."""

    def began_half_an_hour_ago() -> None:
        UserSession.update(created_at=utcnow() - timedelta(minutes=30)).where(UserSession.user == room.uid("pat")).execute()

    room.server.db.write_sync(began_half_an_hour_ago)
    pat = room.listening("pat")
    quinn = room.listening("quinn")

    room.server.call(room.server.app.state.services.settings.save("auth.session_lifetime_minutes", "15", None))  # type: ignore[union-attr]

    ends_with(pat, "session_expired", EXPIRED)
    room.commit_content("After the shorter lifetime")
    quinn.wait_for(lambda e: "After the shorter lifetime" in e.data, timeout=DEADLINE)  # a fresh session stays
