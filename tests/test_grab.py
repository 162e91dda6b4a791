"""GRAB developer aid (SPEC §3.3, §3.8; issue 3 item 7).

Off (the default): no markers and ``/__grab`` is 404 for everyone. On in development: rendered
template blocks, includes and whole templates carry ``<!--grab data-grab="name:line"-->`` markers —
in full pages, in blocks rendered alone for htmx, in out-of-band fragments and in SSE fragments — and
admins can fetch the source around a marker. On in production: the app refuses to start.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helpers_live
import httpx
import pytest
from bs4 import BeautifulSoup, Comment, Tag
from conftest import ROOT, LiveServer, base_env, csrf_token
from helpers_live import ThreadedServer, open_stream
from helpers_meetings import Person, SeededMeeting, add_people, on_file, seed_meeting
from playwright.sync_api import Browser, BrowserContext, expect
from starlette.testclient import TestClient

from decidero.app import create_app
from decidero.platform.config import ConfigError

TEMPLATES = ROOT / "templates"
GRAB_IN_PRODUCTION = "GRAB_ENABLED must be false when DECIDERO_ENV is set to production"
MARKER = re.compile(r'^(/?)grab data-grab="([^"]+):(\d+)"$')
ROLES = {"boss": "admin", "fran": "facilitator", "pat": "participant"}


@dataclasses.dataclass
class Site:
    client: TestClient
    people: dict[str, Person]
    meeting: SeededMeeting

    def as_(self, login: str, **headers: str) -> TestClient:
        person = self.people[login]
        return TestClient(
            self.client.app, follow_redirects=False, cookies=person.cookies, headers={**person.headers, **headers}
        )

    def grab(self, login: str, items: Any, **headers: str) -> httpx.Response:
        return self.as_(login, **headers).post("/__grab", json={"items": items})


def make_site(tmp_path: Path, **env: str) -> Iterator[Site]:
    with TestClient(create_app(base_env(tmp_path, **env), cwd=tmp_path), follow_redirects=False) as client:
        db = client.app.state.services.db  # type: ignore[attr-defined]
        people = add_people(db, ROLES)
        meeting = seed_meeting(db, "fran", participants=["pat"], activities=[("Talk", {}), ("Vote", {})])
        yield Site(client, people, meeting)


@pytest.fixture
def grab_on(tmp_path: Path) -> Iterator[Site]:
    yield from make_site(tmp_path, GRAB_ENABLED="true")


@pytest.fixture
def grab_off(tmp_path: Path) -> Iterator[Site]:
    yield from make_site(tmp_path)


# -- reading markers ------------------------------------------------------------------------------


@dataclasses.dataclass
class Marked:
    """One marker pair: where it points and the top-level nodes between its comments."""

    template: str
    line: int
    inner: list[Any]

    @property
    def location(self) -> str:
        return f"{self.template}:{self.line}"

    def tags(self) -> list[Tag]:
        return [node for node in self.inner if isinstance(node, Tag)]


def markers(html: str) -> list[Marked]:
    """Every marker pair in document order; fails unless opens and closes nest properly."""
    page = BeautifulSoup(html, "html.parser")
    found: list[Marked] = []
    stack: list[tuple[str, int, Comment]] = []
    for comment in page.find_all(string=lambda s: isinstance(s, Comment)):
        match = MARKER.match(str(comment))
        if not match:
            continue
        closing, template, line = match.group(1), match.group(2), int(match.group(3))
        if not closing:
            stack.append((template, line, comment))
            continue
        assert stack, f"close marker without an open one: {comment}"
        opened = stack.pop()
        assert opened[:2] == (template, line), f"{opened[:2]} closed by {(template, line)}"
        inner = []
        for node in opened[2].next_siblings:
            if node is comment:
                break
            inner.append(node)
        else:
            raise AssertionError(f"markers of {template}:{line} are not siblings")
        found.append(Marked(template, line, inner))
    assert not stack, f"unclosed markers: {[s[:2] for s in stack]}"
    return found


def locations(html: str) -> set[str]:
    return {m.location for m in markers(html)}


def block_lines(template: str) -> dict[str, int]:
    """``{% block name %}`` → the line it starts on, read from the template file itself."""
    lines = (TEMPLATES / template).read_text().splitlines()
    return {
        match.group(1): number
        for number, text in enumerate(lines, 1)
        for match in re.finditer(r"{%-?\s*block\s+(\w+)", text)
    }


def only(html: str, location: str) -> Marked:
    [found] = [m for m in markers(html) if m.location == location]
    return found


# -- GRAB off --------------------------------------------------------------------------------------


def test_off_by_default_nothing_is_served(grab_off: Site) -> None:
    boss = grab_off.as_("boss")
    items = [{"template": "meeting.html", "line": 1}]

    assert boss.post("/__grab", json={"items": items}).status_code == 404
    assert boss.get("/__grab").status_code == 404
    # Not even a CSRF refusal for a signed-out caller without a token: the path does not exist.
    assert TestClient(grab_off.client.app).post("/__grab", json={"items": items}).status_code == 404
    for login, path in [("fran", grab_off.meeting.url), ("boss", "/admin/users"), ("pat", "/dashboard")]:
        page = grab_off.as_(login).get(path)
        assert page.status_code == 200
        assert "grab" not in page.text
    assert "grab" not in TestClient(grab_off.client.app).get("/login").text
    env = grab_off.client.app.state.services.templates  # type: ignore[attr-defined]
    assert not [name for name in env.extensions if "grab" in name.lower()]


# -- markers ----------------------------------------------------------------------------------------


def test_every_block_of_a_page_is_annotated_with_its_template_and_line(grab_on: Site) -> None:
    response = grab_on.as_("fran").get(grab_on.meeting.url)
    assert response.status_code == 200
    html = response.text

    found = locations(html)
    blocks = block_lines("meeting.html")
    assert f"meeting.html:{blocks['content']}" in found
    # Every block except the one inside <title>, where a comment would show up as text.
    for name, line in blocks.items():
        assert (f"meeting.html:{line}" in found) == (name != "title"), name
    page = BeautifulSoup(html, "html.parser")
    assert page.title is not None and "grab" not in str(page.title)
    assert html.lower().startswith("<!doctype html>")
    # The whole page, and each included partial around exactly what it renders.
    assert "meeting.html:1" in found
    agenda = only(html, "_partials/agenda.html:1").tags()
    assert [(t.name, t.get("id")) for t in agenda] == [("section", "agenda")]
    content = only(html, f"meeting.html:{blocks['content']}")
    assert any(isinstance(node, Tag) and node.select_one("#agenda") for node in content.inner)


def test_a_block_rendered_alone_for_htmx_carries_its_marker(grab_on: Site) -> None:
    fragment = grab_on.as_("boss", **{"HX-Request": "true"}).get("/admin/users?q=pa")
    assert fragment.status_code == 200

    line = block_lines("admin_users.html")["user_rows"]
    text = fragment.text.strip()
    assert text.startswith(f'<!--grab data-grab="admin_users.html:{line}"-->')
    assert text.endswith(f'<!--/grab data-grab="admin_users.html:{line}"-->')
    assert "<html" not in text
    assert "pat" in fragment.text


def test_out_of_band_fragments_keep_their_roots(grab_on: Site) -> None:
    control = f"{grab_on.meeting.activity_url(0)}/control"
    response = grab_on.as_("fran", **{"HX-Request": "true"}).post(control, data={"action": "start"})
    assert response.status_code == 200, response.text[:500]

    roots = [node for node in BeautifulSoup(response.text, "html.parser").contents if isinstance(node, Tag)]
    assert roots, response.text[:500]
    # htmx swaps out-of-band only the top-level elements that carry hx-swap-oob.
    assert all(root.get("hx-swap-oob") for root in roots), [root.name for root in roots]
    found = locations(response.text)
    assert {"_partials/room_regions.html:1", "_partials/agenda.html:1", "_partials/panel.html:1"} <= found


def test_sse_fragments_are_annotated_and_keep_their_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(helpers_live, "base_env", lambda directory: base_env(directory, GRAB_ENABLED="true"))
    server = ThreadedServer(tmp_path).start()
    try:
        people = add_people(server.db, ROLES)
        meeting = seed_meeting(server.db, "fran", participants=["pat"])
        stream = open_stream(server.url, f"{meeting.url}/events", cookie=people["pat"].cookie)
        try:
            stream.wait_event("hello")
            control = f"{meeting.activity_url(0)}/control"
            with httpx.Client(base_url=server.url, cookies=people["fran"].cookies) as fran:
                response = fran.post(control, data={"action": "start"}, headers=people["fran"].headers)
            assert response.status_code == 303
            event = stream.wait_event("activity_state")
        finally:
            stream.close()
    finally:
        server.stop()

    roots = [node for node in BeautifulSoup(event.data, "html.parser").contents if isinstance(node, Tag)]
    assert roots and all(root.get("hx-swap-oob") for root in roots)
    found = locations(event.data)
    assert {"_partials/agenda.html:1", "_partials/panel.html:1"} <= found
    assert only(event.data, "_partials/agenda.html:1").tags()[0].get("id") == "agenda"


# -- POST /__grab ----------------------------------------------------------------------------------


def test_admins_get_a_numbered_excerpt_around_each_marker(grab_on: Site) -> None:
    page = grab_on.as_("fran").get(grab_on.meeting.url).text
    wanted = [m for m in markers(page) if m.template in ("meeting.html", "_partials/agenda.html")]
    assert len(wanted) >= 2

    response = grab_on.grab("boss", [{"template": m.template, "line": m.line} for m in wanted])

    assert response.status_code == 200, response.text[:500]
    answers = response.json()["items"]
    assert [(a["template"], a["line"]) for a in answers] == [(m.template, m.line) for m in wanted]
    for answer in answers:
        source = (TEMPLATES / answer["template"]).read_text().splitlines()
        lines = answer["excerpt"].split("\n")
        assert len(lines) == min(24, len(source))
        assert answer["end"] - answer["start"] + 1 == len(lines)
        assert answer["start"] <= answer["line"] <= answer["end"]
        numbers = [int(re.match(r"^[> ]\s*(\d+) \| ", line).group(1)) for line in lines]  # type: ignore[union-attr]
        assert numbers == list(range(answer["start"], answer["end"] + 1))
        for line, number in zip(lines, numbers, strict=True):
            assert line.split(" | ", 1)[1] == source[number - 1]
            assert line.startswith(">") == (number == answer["line"])
    content_line = block_lines("meeting.html")["content"]
    [content] = [a for a in answers if (a["template"], a["line"]) == ("meeting.html", content_line)]
    assert "{% block content %}" in content["excerpt"].split("\n")[content_line - content["start"]]


def test_a_long_template_gets_24_lines_centred_on_the_line(grab_on: Site) -> None:
    source = (TEMPLATES / "base.html").read_text().splitlines()
    line = len(source) // 2
    [answer] = grab_on.grab("boss", [{"template": "base.html", "line": line}]).json()["items"]
    if len(source) >= 24:
        assert answer["end"] - answer["start"] == 23
    assert answer["start"] <= line <= answer["end"]


def test_only_admins_may_grab(grab_on: Site) -> None:
    items = [{"template": "meeting.html", "line": 1}]

    assert grab_on.grab("pat", items).status_code == 403
    assert grab_on.grab("fran", items).status_code == 403
    assert grab_on.grab("boss", items).status_code == 200

    visitor = TestClient(grab_on.client.app, follow_redirects=False)
    token = csrf_token(visitor, "/login")
    signed_out = visitor.post("/__grab", json={"items": items}, headers={"X-CSRF-Token": token})
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/login")
    htmx = visitor.post("/__grab", json={"items": items}, headers={"X-CSRF-Token": token, "HX-Request": "true"})
    assert htmx.status_code == 401 and htmx.headers["HX-Redirect"].startswith("/login")
    # Like every POST, it needs the CSRF token.
    no_token = TestClient(grab_on.client.app, cookies=grab_on.people["boss"].cookies)
    assert no_token.post("/__grab", json={"items": items}).status_code == 403


OUTSIDE = [
    "../decidero/config.py",
    "_partials/../../README.md",
    "/etc/passwd",
    str(TEMPLATES / "meeting.html"),
    "..",
    "..\\decidero\\config.py",
    "meeting.html\x00.txt",
    "",
]


def test_paths_outside_templates_are_refused(grab_on: Site) -> None:
    for template in OUTSIDE:
        items = [{"template": "meeting.html", "line": 1}, {"template": template, "line": 1}]
        response = grab_on.grab("boss", items)

        assert response.status_code == 403, template
        assert "DECIDERO_ENV" not in response.text and "root:" not in response.text


def test_symlinks_out_of_templates_are_refused(grab_on: Site, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    (templates / "inner").mkdir(parents=True)
    (templates / "page.html").write_text("<p>one</p>\n<p>two</p>\n")
    (templates / "inner" / "part.html").write_text("<p>part</p>\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.html").write_text("TOP SECRET\n")
    (templates / "alias.html").symlink_to(templates / "page.html")
    (templates / "leak.html").symlink_to(outside / "secret.html")
    (templates / "escape").symlink_to(outside, target_is_directory=True)
    services = grab_on.client.app.state.services  # type: ignore[attr-defined]
    services.config = dataclasses.replace(services.config, templates_dir=templates)

    def grab(name: str) -> httpx.Response:
        return grab_on.grab("boss", [{"template": name, "line": 1}])

    assert grab("page.html").json()["items"][0]["excerpt"] == "> 1 | <p>one</p>\n  2 | <p>two</p>"
    assert grab("inner/part.html").status_code == 200
    assert grab("alias.html").status_code == 200  # a link that stays inside templates/ is fine
    for name in ("leak.html", "escape/secret.html"):
        response = grab(name)
        assert response.status_code == 403, name
        assert "TOP SECRET" not in response.text


INVALID = [
    ({"items": []}, 422),
    ({"items": [{"template": "meeting.html", "line": 1}] * 21}, 422),
    ({"items": [{"template": "meeting.html", "line": 1}] * 20}, 200),
    ({"items": [{"template": "meeting.html"}]}, 422),
    ({"items": [{"template": "meeting.html", "line": "3"}]}, 422),
    ({"items": [{"template": "meeting.html", "line": 10_000}]}, 422),
    ({"items": [{"template": "meeting.html", "line": 0}]}, 422),
    ({"items": [{"template": "nope.html", "line": 1}]}, 404),
    ({"items": [{"template": "_partials", "line": 1}]}, 404),
    ({"template": "meeting.html", "line": 1}, 422),
    ([], 422),
]


def test_requests_are_validated(grab_on: Site) -> None:
    boss = grab_on.as_("boss", **{"Content-Type": "application/json"})
    for body, status in INVALID:
        response = boss.post("/__grab", content=json.dumps(body))

        assert response.status_code == status, (body, response.text[:300])
    # Unparseable JSON is refused for every route by the middleware, before GRAB reads it (issue 12).
    assert boss.post("/__grab", content=b"{not json").status_code == 400


# -- production ------------------------------------------------------------------------------------


def test_production_refuses_to_start_with_grab(tmp_path: Path) -> None:
    env = base_env(tmp_path, DECIDERO_ENV="production", GRAB_ENABLED="true")
    with pytest.raises(ConfigError) as raised:
        create_app(env, cwd=tmp_path)
    assert str(raised.value) == GRAB_IN_PRODUCTION


# -- in a real browser ---------------------------------------------------------------------------------


GRAB_FROM_CONSOLE = """() => fetch("/__grab", {method: "POST", headers: {"Content-Type": "application/json",
  "X-CSRF-Token": JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRF-Token"]},
  body: JSON.stringify({items: [{template: "meeting.html", line: 3}]})}).then(r => r.json())"""


def test_htmx_and_live_updates_still_work_in_a_browser_with_markers(tmp_path: Path, browser: Browser) -> None:
    """The out-of-band answer to the clicking admin and the participant's SSE fragment both swap in place."""

    def seed(db):  # type: ignore[no-untyped-def]
        return add_people(db, ROLES), seed_meeting(db, "fran", participants=["pat"], activities=[("Talk", {})])

    people, meeting = on_file(tmp_path / "decidero.db", seed)
    server = LiveServer(cwd=tmp_path, env=base_env(tmp_path, GRAB_ENABLED="true"))
    server.start()
    contexts: list[BrowserContext] = []
    try:
        pages = {}
        for login in ("boss", "pat"):  # an admin sees the facilitator's controls in any meeting
            context = browser.new_context(base_url=server.url)
            context.set_default_timeout(5000)
            contexts.append(context)
            context.add_cookies([{"name": "decidero_session", "value": people[login].cookie, "url": server.url}])
            pages[login] = context.new_page()
            pages[login].goto(meeting.url)
            expect(pages[login].locator("#live-pill")).to_have_text("Connected")
            pages[login].evaluate("window.__sameDocument = true")
        row = f"#row-{meeting.activities[0]}"

        pages["boss"].locator(row).get_by_role("button", name="Start", exact=True).click()

        for page in pages.values():
            expect(page.locator(f"{row} .badge.state")).to_have_text("Running", timeout=1000)
            assert page.evaluate("window.__sameDocument === true")
            assert page.locator("#agenda").count() == 1
            assert "grab" not in page.title()
        expect(pages["boss"].locator(row).get_by_role("button", name="Stop", exact=True)).to_be_visible()
        expect(pages["pat"].locator(f"#panel-{meeting.activities[0]}")).to_be_visible()
        html = pages["pat"].content()
        assert '<!--grab data-grab="_partials/agenda.html:1"-->' in html

        # The README's console snippet, in the admin's page: the page's own CSRF header is enough.
        answer = pages["boss"].evaluate(GRAB_FROM_CONSOLE)
        assert re.search(r"^>\s*3 \| ", answer["items"][0]["excerpt"], re.MULTILINE), answer
    finally:
        for context in contexts:
            context.close()
        server.stop()
