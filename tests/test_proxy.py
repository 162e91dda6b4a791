"""The real app behind the shipped Caddyfile (SPEC §3.9; issue 3's reverse-proxy test).

uvicorn runs ``decidero.main:app`` as a separate process exactly as the systemd unit starts it, and
Caddy runs deploy/Caddyfile with only the site address and the upstream port changed. Everything
below goes through Caddy: health checks, compression of pages, sign-in, and a live event that must
reach a participant's event stream within one second of the facilitator's action.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass

import httpx
import pytest
from caddy_helpers import needs_caddy, running_caddy
from conftest import CSRF_PATTERN, PASSWORD, ROOT, LiveServer, base_env
from helpers_live import open_stream
from helpers_meetings import SeededMeeting, add_people, on_file, seed_meeting

from decidero.platform.sessions import SESSION_COOKIE

pytestmark = needs_caddy
EVENT_BOUND_SECONDS = 1.0


@dataclass
class Proxied:
    url: str
    server: LiveServer
    meeting: SeededMeeting

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, follow_redirects=False, timeout=10)


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    """A meeting with a facilitator and a participant, on a real server behind Caddy (one per module)."""
    tmp_path = tmp_path_factory.mktemp("proxied")

    def seed(db):  # type: ignore[no-untyped-def]
        add_people(db, {"boss": "super_admin", "fran": "facilitator", "pat": "participant"})
        return seed_meeting(db, "fran", participants=["pat"], activities=[("Warm-up talk", {})])

    meeting = on_file(tmp_path / "decidero.db", seed)
    server = LiveServer(cwd=tmp_path, env=base_env(tmp_path, LOG_LEVEL="INFO"))
    server.start()
    try:
        with running_caddy(tmp_path, server.port) as url:
            yield Proxied(url, server, meeting)
    finally:
        server.stop()


def sign_in_through(proxy: Proxied, login: str) -> httpx.Client:
    """The login form, as a browser submits it through the proxy."""
    client = proxy.client()
    page = client.get("/login")
    token = CSRF_PATTERN.search(page.text)
    assert page.status_code == 200 and token, page.text[:500]
    response = client.post("/login", data={"login": login, "password": PASSWORD, "csrf_token": token.group(1)})
    assert response.status_code == 303, response.text[:500]
    assert SESSION_COOKIE in client.cookies
    return client


def test_health_answers_get_and_head_through_caddy(proxied: Proxied) -> None:
    with proxied.client() as client:
        got = client.get("/health")
        head = client.head("/health")

    assert got.status_code == 200
    assert got.json() == {"status": "healthy", "database": "connected"}
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"] == "application/json"
    assert "caddy" in got.headers.get("server", "").lower()  # really answered through the proxy


def test_pages_are_gzip_encoded_when_the_browser_asks(proxied: Proxied) -> None:
    with proxied.client() as client:
        asked = client.get("/login", headers={"Accept-Encoding": "gzip"})
        plain = client.get("/login", headers={"Accept-Encoding": "identity"})
        with client.stream("GET", "/login", headers={"Accept-Encoding": "gzip"}) as raw:
            wire = b"".join(raw.iter_raw())

    assert asked.status_code == plain.status_code == 200
    assert asked.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert asked.text == plain.text and 'name="csrf_token"' in asked.text
    assert gzip.decompress(wire).decode() == plain.text
    assert len(wire) < len(plain.content) / 2


def test_a_meeting_event_reaches_an_sse_client_through_caddy_within_a_second(proxied: Proxied) -> None:
    meeting = proxied.meeting
    with closing(sign_in_through(proxied, "fran")) as fran, closing(sign_in_through(proxied, "pat")) as pat:
        room = fran.get(meeting.url, headers={"Accept-Encoding": "gzip"})
        assert room.status_code == 200
        assert room.headers["content-encoding"] == "gzip"  # a signed-in page is compressed too
        token = CSRF_PATTERN.search(room.text)
        assert token

        # A browser's EventSource also accepts gzip: the stream must still not be compressed.
        stream = open_stream(
            proxied.url,
            f"{meeting.url}/events",
            cookie=pat.cookies[SESSION_COOKIE],
            headers={"Accept-Encoding": "gzip, deflate, br, zstd"},
        )
        try:
            assert stream.status == 200
            assert stream.response_headers["content-type"].startswith("text/event-stream")
            assert "content-encoding" not in stream.response_headers
            stream.wait_event("hello", timeout=EVENT_BOUND_SECONDS)
            seen = len(stream.events)

            control = f"{meeting.activity_url(0)}/control"
            sent = time.monotonic()
            response = fran.post(control, data={"action": "start", "csrf_token": token.group(1)})
            event = stream.wait_event("activity_state", timeout=EVENT_BOUND_SECONDS, start=seen)
            delay = time.monotonic() - sent
        finally:
            stream.close()

    assert response.status_code == 303, response.text[:500]
    assert delay < EVENT_BOUND_SECONDS, f"activity_state took {delay:.3f}s through Caddy"
    assert f'id="row-{meeting.activities[0]}"' in event.data and "Running" in event.data
    print(f"activity_state reached the SSE client through Caddy {delay * 1000:.0f} ms after the POST was sent")


def smoke(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    script = ROOT / "deploy" / "smoke.sh"
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=60, env={**os.environ, **env})


def test_the_smoke_check_passes_against_the_real_app_through_caddy(proxied: Proxied) -> None:
    result = smoke(proxied.url, "fran", PASSWORD, SMOKE_MEETING_ID=proxied.meeting.id, SMOKE_STREAM_SECONDS="2")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "smoke: 5 passed, 0 failed" in result.stdout
    assert f"ok    event stream of meeting {proxied.meeting.id} delivers its first frame" in result.stdout


def test_the_smoke_check_signs_in_a_throwaway_account_on_the_real_app(proxied: Proxied) -> None:
    result = smoke(proxied.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "smoke: 5 passed, 0 failed" in result.stdout
    assert "ok    event stream endpoint refuses an unknown meeting promptly (HTTP 404)" in result.stdout


def test_the_smoke_check_fails_on_a_wrong_password_against_the_real_app(proxied: Proxied) -> None:
    result = smoke(proxied.url, "fran", "Wrong-Passw0rd!")

    assert result.returncode == 1
    assert "FAIL  sign in as fran: HTTP 401 without a decidero_session cookie" in result.stdout
