"""Bad input never produces a 500 (SPEC §5.1; issue 12): bodies that cannot be parsed, and a sweep of
every POST route in the app's route table with malformed, oversized and hostile requests."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from account_helpers import page_error
from bs4 import BeautifulSoup
from conftest import base_env, csrf_token
from helpers_meetings import add_people, seed_meeting
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from decidero.app import create_app
from decidero.meetings import agenda, run_control
from decidero.meetings.activity_types import get_type
from decidero.meetings.models import Meeting
from decidero.platform.db import Database
from decidero.platform.models import User
from decidero.platform.runtime_settings import KEYS, RuntimeKey


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[TestClient]:
    """An app whose unexpected errors come back as 500 pages (as a browser would see them)."""
    app = create_app(base_env(tmp_path), cwd=tmp_path)
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as test_client:
        yield test_client


def error_log(tmp_path: Path) -> str:
    path = tmp_path / "logs" / "error.log"
    return path.read_text() if path.exists() else ""


def multipart(fields: int, boundary: str = "zz") -> bytes:
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="f{n}"\r\n\r\nv\r\n' for n in range(fields)]
    return ("".join(parts) + f"--{boundary}--\r\n").encode()


MALFORMED_MULTIPART = {
    "no boundary": ("multipart/form-data", b"x"),
    "wrong boundary": ("multipart/form-data; boundary=zz", b"x"),
    "1,100 fields": ("multipart/form-data; boundary=zz", multipart(1100)),
}


@pytest.mark.parametrize("case", list(MALFORMED_MULTIPART))
def test_a_malformed_multipart_body_gets_a_400_with_a_message_and_logs_no_error(
    app_client: TestClient, tmp_path: Path, case: str
) -> None:
    content_type, body = MALFORMED_MULTIPART[case]

    response = app_client.post("/login", content=body, headers={"Content-Type": content_type})

    assert response.status_code == 400
    assert page_error(response) == "The form could not be read. Please reload the page and try again."
    assert error_log(tmp_path) == ""


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"login": ' * 50_000, b"{not json"])
def test_json_that_cannot_be_parsed_gets_a_400_and_logs_no_error(app_client: TestClient, tmp_path: Path, body: bytes) -> None:
    response = app_client.post("/login", content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert page_error(response) == "The request body is not valid JSON."
    assert error_log(tmp_path) == ""


def test_a_json_field_that_is_not_text_is_refused_not_stored_as_its_repr(app_client: TestClient) -> None:
    token = csrf_token(app_client, "/register")
    body = {"login": ["a", {"b": 1}], "password": "Passw0rd!", "confirm_password": "Passw0rd!"}

    response = app_client.post("/api/auth/register", json=body, headers={"X-CSRF-Token": token})

    assert response.status_code == 400
    assert response.json() == {"error": "The field “login” must be text."}


NUMERIC_SETTINGS = [k for k in KEYS if isinstance(k.default, int | float) and not isinstance(k.default, bool)]
# Digits int() and float() read as ASCII ones: "٥٠٠" is 500 to them.
OTHER_DIGITS = {"Arabic-Indic": str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"), "full-width": str.maketrans("0123456789", "０１２３４５６７８９")}


@pytest.mark.parametrize("key", NUMERIC_SETTINGS, ids=lambda k: k.key)
@pytest.mark.parametrize("script", list(OTHER_DIGITS))
def test_numeric_settings_refuse_their_default_in_other_digits(key: RuntimeKey, script: str) -> None:
    written = str(key.default).translate(OTHER_DIGITS[script])
    assert key.parse(str(key.default)) == key.default  # the same value in ASCII is fine

    with pytest.raises(ValueError, match="Must be a"):
        key.parse(written)


# -- the sweep: every POST route in the route table -------------------------------------------------

UNICODE_DIGITS = ("²", "٣", "３")  # superscript (isdigit but not int), Arabic-Indic, full-width
# Ids nobody has, in ASCII and in digits that str.isdigit accepts.
UNKNOWN_IDS = (
    {"mid": "MTG19990101-ZZZZ", "aid": "MTG19990101-ZZZZ-BRAINS-0001", "uid": "USR-NOBODYX-001", "n": "999", "key": "no.such_key"},
    {"mid": "٣", "aid": "²", "uid": "٣", "n": "²", "key": "٣"},
)
# Routes whose effect would end the sweep early (the session, the seeded people) go last.
LAST = ("/logout", "/delete", "/deactivate", "/reset-password", "/role")
PEOPLE = {"boss": "super_admin", "fac": "facilitator", "pat": "participant", "victim": "participant"}


@dataclass
class Site:
    """The app (GRAB on, so its route is swept too), seeded with every activity type running."""

    client: TestClient
    directory: Path
    known: list[dict[str, str]]  # path parameters that exist: one set per activity

    def as_(self, login: str) -> TestClient:
        """A browser signed in afresh: a swept /logout or password change ends the session it hits."""
        db: Database = self.client.app.state.services.db  # type: ignore[attr-defined]
        person = add_people(db, {login: PEOPLE[login]})[login]
        return TestClient(
            self.client.app,
            follow_redirects=False,
            raise_server_exceptions=False,
            cookies=person.cookies,
            headers=person.headers,  # the CSRF header: a body the middleware can read reaches the handler
        )


def post_routes(app: Starlette) -> list[Route]:
    """Every POST route of the app, in table order with the disruptive ones last."""
    routes = [r for r in app.routes if isinstance(r, Route) and "POST" in (r.methods or ())]
    return sorted(routes, key=lambda r: (r.path == "/logout", r.path.endswith(LAST)))


def fill(route: Route, ids: dict[str, str]) -> str:
    return route.path.format(**{name: ids[name] for name in route.param_convertors})


@dataclass(frozen=True)
class CrawledForm:
    """A POST form as a page renders it: its first value per field, which fields hold a number,
    and the submit buttons whose value is ``verb:N`` (agenda rows ↑/↓, directory pages)."""

    action: str
    fields: tuple[tuple[str, str], ...]
    numbers: frozenset[str]
    steps: tuple[tuple[str, str], ...]

    def with_digits(self, digits: str) -> dict[str, str]:
        data = {name: (digits if name in self.numbers else value) for name, value in self.fields}
        data.update((name, f"{verb}:{digits}") for name, verb in self.steps)
        return data


def crawl_forms(html: str) -> list[CrawledForm]:
    found = []
    for form in BeautifulSoup(html, "html.parser").select("form"):
        action = str(form.get("hx-post") or (form.get("action") if str(form.get("method", "")).lower() == "post" else ""))
        if not action:
            continue
        fields: dict[str, str] = {}
        numbers: set[str] = set()
        steps: dict[str, str] = {}
        for node in form.select("input[name], textarea[name], select[name], button[name]"):
            name = str(node["name"])
            if node.name == "button":
                step = re.fullmatch(r"(\w+):\d+", str(node.get("value", "")))
                if step:
                    steps[name] = step.group(1)
                continue
            if node.name == "select":
                option = node.select_one("option")
                value = str(option.get("value", option.get_text())) if option else ""
            else:
                value = node.get_text() if node.name == "textarea" else str(node.get("value", ""))
            fields.setdefault(name, value)
            if node.get("type") == "number" or (value.isascii() and value.isdigit()):
                numbers.add(name)
        if numbers or steps:
            found.append(CrawledForm(action, tuple(fields.items()), frozenset(numbers), tuple(steps.items())))
    return found


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    directory = tmp_path_factory.mktemp("sweep")
    app = create_app(base_env(directory, GRAB_ENABLED="true"), cwd=directory)
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        db: Database = app.state.services.db
        people = add_people(db, PEOPLE)
        meeting = seed_meeting(db, "fac", ["pat", "victim"], activities=[])
        configs = {
            "discussion": {},
            "brainstorming": {"allow_comments": True},
            "voting": {"options": ["A", "B", "C"]},
            "rank_order_voting": {"ideas": ["X", "Y", "Z"]},
            "categorization": {"items": ["One", "Two"], "buckets": ["Cost"]},
        }

        def add_and_start() -> list[str]:
            row, owner = Meeting.get_by_id(meeting.id), User.get(User.login == "fac")
            ids = []
            for type_name, config in configs.items():
                common = {"title": type_name.title(), "instructions": "", "time_limit_minutes": 5, "auto_stop": False}
                full = {**get_type(type_name).default_config(app.state.services.settings), **config}
                activity, _ = agenda.add_activity(row, type_name, common, full, owner.id)
                run_control.control(activity, "start", owner, exclusivity=False)
                ids.append(activity.id)
            return ids

        activities = db.write_sync(add_and_start)
        built = Site(client, directory, [])
        idea = built.as_("pat").post(f"/meeting/{meeting.id}/activities/{activities[1]}/ideas", data={"content": "An idea", "client_token": "sweep-idea"})
        assert idea.status_code == 303
        victim = people["victim"].user_id
        known = {"uid": victim, "n": "1", "key": "brainstorming.max_ideas_per_user"}
        built.known = [{"mid": meeting.id, "aid": aid, **known} for aid in activities]
        yield built


def sweep(site: Site, send: Callable[[TestClient, str], httpx.Response], ids: list[dict[str, str]] | None = None) -> list[str]:
    """``send`` to every POST route as every person, with each set of ids; what answered 5xx."""
    failures = []
    for route in post_routes(site.client.app):  # type: ignore[arg-type]
        paths = dict.fromkeys(fill(route, i) for i in (ids or site.known))
        for login in ("pat", "fac", "boss"):
            browser = site.as_(login)
            for path in paths:
                response = send(browser, path)
                if response.status_code >= 500:
                    failures.append(f"{login} POST {path}: {response.status_code}")
    return failures


def posting(data: dict[str, str]) -> Callable[[TestClient, str], httpx.Response]:
    return lambda browser, path: browser.post(path, data=data)


@pytest.fixture
def log_start(site: Site) -> int:
    """Where logs/error.log ends before a sweep test: each test answers for its own lines."""
    return len(error_log(site.directory))


def assert_clean(site: Site, failures: list[str], log_start: int) -> None:
    assert failures == []
    log = error_log(site.directory)[log_start:]
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]


def test_the_sweep_covers_the_whole_post_route_table(site: Site) -> None:
    paths = {r.path for r in post_routes(site.client.app)}  # type: ignore[arg-type]

    assert {"/login", "/meeting/{mid}/roster/add", "/meeting/{mid}/activities/{aid}/votes", "/__grab"} <= paths
    assert all(set(r.param_convertors) <= set(site.known[0]) for r in post_routes(site.client.app))  # type: ignore[arg-type]


@pytest.mark.parametrize("case", list(MALFORMED_MULTIPART))
def test_sweep_malformed_multipart_bodies(site: Site, log_start: int, case: str) -> None:
    content_type, body = MALFORMED_MULTIPART[case]

    failures = sweep(site, lambda browser, path: browser.post(path, content=body, headers={"Content-Type": content_type}))

    assert_clean(site, failures, log_start)


BAD_JSON = {
    "deeply nested": b"[" * 100_000,
    "not json": b"{not json",
    "not text": json.dumps({"title": ["x"], "content": {"a": 1}, "login": 5, "identifiers": None}).encode(),
    "not an object": b'["a", "b"]',
}


@pytest.mark.parametrize("case", list(BAD_JSON))
def test_sweep_bad_json_bodies(site: Site, log_start: int, case: str) -> None:
    body = BAD_JSON[case]

    failures = sweep(site, lambda browser, path: browser.post(path, content=body, headers={"Content-Type": "application/json"}))

    assert_clean(site, failures, log_start)


def test_sweep_ten_megabyte_bodies(site: Site, log_start: int) -> None:
    body = b"x=" + b"y" * (10 * 1024 * 1024)
    upload = b"x=" + b"y" * (21 * 1024 * 1024)  # an import may be 20 MiB (SPEC §4.0)
    statuses: set[int] = set()

    def send(browser: TestClient, path: str) -> httpx.Response:
        sent = upload if path == "/meeting/import" else body
        response = browser.post(path, content=sent, headers={"Content-Type": "application/x-www-form-urlencoded"})
        statuses.add(response.status_code)
        return response

    failures = sweep(site, send, site.known[:1])

    assert_clean(site, failures, log_start)
    assert statuses == {413}


def test_sweep_unknown_ids(site: Site, log_start: int) -> None:
    crawled = {field: value for form in crawled_forms(site) for field, value in form.fields}

    failures = sweep(site, posting(crawled), list(UNKNOWN_IDS))

    assert_clean(site, failures, log_start)


def pages(site: Site) -> list[Route]:
    """Every GET route but the event stream, which never ends."""
    routes: list[Route] = [r for r in site.client.app.routes if isinstance(r, Route) and "GET" in (r.methods or ())]  # type: ignore[attr-defined]
    return [r for r in routes if not r.path.endswith("/events")]


def crawled_forms(site: Site) -> list[CrawledForm]:
    """The POST forms with a number in them, on every page the app serves."""
    forms: dict[CrawledForm, None] = {}
    for login in ("pat", "fac", "boss"):
        browser = site.as_(login)
        for route in pages(site):
            for path in dict.fromkeys(fill(route, ids) for ids in site.known):
                response = browser.get(path)
                if response.headers.get("content-type", "").startswith("text/html"):
                    forms.update(dict.fromkeys(crawl_forms(response.text)))
    return list(forms)


def test_sweep_unicode_digits_in_every_number_field(site: Site, log_start: int) -> None:
    forms = crawled_forms(site)
    numbers = {name for form in forms for name in form.numbers}
    # The crawl must find the number fields a user can type or choose, or it proves nothing.
    assert {"time_limit_minutes", "max_votes", "max_per_option", "duration_minutes", "minutes", "opt-1"} <= numbers
    failures = []
    for digits in UNICODE_DIGITS:
        for form in forms:  # as the page rendered it, with every number replaced
            for login in ("pat", "fac", "boss"):
                response = site.as_(login).post(form.action, data=form.with_digits(digits))
                if response.status_code >= 500:
                    failures.append(f"{login} POST {form.action} {digits}: {response.status_code}")
        everywhere = dict.fromkeys(numbers | {"position"}, digits)  # every number field at every POST route
        # ("position": read by the add-activity route, rendered by no form)
        failures += sweep(site, posting(everywhere))

    assert_clean(site, failures, log_start)


@pytest.mark.parametrize("digits", UNICODE_DIGITS)
def test_sweep_unicode_digits_in_query_numbers(site: Site, log_start: int, digits: str) -> None:
    query = urlencode(dict.fromkeys(("page", "since", "before"), digits)) + "&q=sweep"
    failures = []
    for login in ("pat", "fac", "boss"):
        browser = site.as_(login)
        for route in pages(site):
            for path in dict.fromkeys(fill(route, ids) for ids in site.known):
                response = browser.get(f"{path}?{query}")
                if response.status_code >= 500:
                    failures.append(f"{login} GET {path}: {response.status_code}")

    assert_clean(site, failures, log_start)
