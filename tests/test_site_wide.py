"""The whole site, for every role: no link or form leads nowhere (a crawl), no page has a serious
accessibility problem (axe-core in Chromium, desktop and phone widths), and no page uses glyphs that
stock Linux fonts draw as empty boxes. One server and one seeded showcase serve the whole module.

The crawl starts at the dashboard and the showcase meeting (every activity type, in several states,
a categorization board, a stopped brainstorm to transfer from, a round 2; guest join and the AI
designer on) and follows every same-site link, every GET form and every ``hx-get``; a POST form's
action (or a button's ``formaction``) must be a route that takes POST, and a GET of a form's action
must not fail. New pages are covered as soon as they are linked; the paged board (issue 19) has
more than a page of ideas, so "Show N earlier ideas" and the search are crawled and scanned too.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from bs4 import BeautifulSoup, Tag
from conftest import LiveServer, base_env, running_server
from fake_openai import running_fake_provider
from helpers_showcase import Showcase, configure_showcase, seed_showcase_file
from playwright.sync_api import Browser, expect
from starlette.routing import BaseRoute, Match, Route

from decidero.app import create_app

ROLES = ("root", "ada", "fay", "pia", "guest", None)  # super admin, admin, facilitator (owner), participant, guest, signed out
ROLE_IDS = ["super_admin", "admin", "facilitator", "participant", "guest", "signed_out"]
GLYPHS = "⏸🔒▶■✖✕↑↓⠿"  # drawn as boxes by a stock Debian Chromium; the icon macro draws these
BROKEN = (404, 405, 500, 502, 503)
MAX_PAGES = 400
SKIP = ("/events", "/logout", ".csv", ".md", "/static/")  # streams never end; sign-out would end the crawl; downloads are no pages
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
# Phones are scanned in dark mode (prefers-color-scheme), desktops in light: both palettes get checked.
SCHEMES = {"desktop": "light", "phone": "dark"}
SERIOUS = ("serious", "critical")


@dataclass
class Crawl:
    pages: dict[str, int] = field(default_factory=dict)  # url → status
    html: dict[str, str] = field(default_factory=dict)
    broken: list[str] = field(default_factory=list)
    post_actions: set[str] = field(default_factory=set)
    fragments: set[str] = field(default_factory=set)  # reached through hx-get: parts of a page


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Showcase]]:
    with running_fake_provider() as provider, running_server(tmp_path_factory.mktemp("site-wide")) as server:
        show = seed_showcase_file(server.cwd / "decidero.db")
        configure_showcase(server.url, show, provider)
        yield server, show


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> list[BaseRoute]:
    """The route table, read from an app built the way the server builds it."""
    directory = tmp_path_factory.mktemp("route-table")
    return list(create_app(base_env(directory), cwd=directory).routes)


def client_for(server: LiveServer, show: Showcase, login: str | None) -> httpx.Client:
    person = show.people[login] if login else None
    return httpx.Client(
        base_url=server.url,
        cookies=person.cookies if person else {},
        headers=person.headers if person else {},
        follow_redirects=False,
        timeout=10,
    )


def local(base: str, href: str) -> str | None:
    """A same-site path with its query (the flash notice dropped), or None."""
    if not href or href.startswith(("#", "mailto:", "javascript:", "data:")):
        return None
    url = urlsplit(urljoin(base, href))
    if url.scheme not in ("http", "https") or url.netloc != urlsplit(base).netloc:
        return None
    query = [(k, v) for k, v in parse_qsl(url.query, keep_blank_values=True) if k != "flash"]
    path = url.path + (f"?{urlencode(query)}" if query else "")
    return None if any(part in path for part in SKIP) else path


def form_query(form: Tag) -> str:
    fields = []
    for control in form.select("input[name], select[name]"):
        if control.name == "select":
            chosen = control.select_one("option[selected]") or control.select_one("option")
            value = str(chosen.get("value", chosen.get_text())) if chosen else ""
        elif control.get("type") in ("checkbox", "radio") and not control.has_attr("checked"):
            continue
        else:
            value = str(control.get("value", ""))
        fields.append((str(control["name"]), value))
    return urlencode(fields)


def posts_to_a_route(routes: list[BaseRoute], path: str) -> bool:
    scope = {"type": "http", "path": path, "method": "POST"}
    return any(isinstance(r, Route) and r.matches(scope)[0] == Match.FULL for r in routes)


def crawl(server: LiveServer, show: Showcase, login: str | None, routes: list[BaseRoute]) -> Crawl:
    found = Crawl()
    if login is None:
        starts = ["/", "/login", "/register", "/about", "/join", f"/join/{show.meeting}"]
    else:
        starts = [show.url] if login == "guest" else ["/dashboard", show.url]  # a guest has only the meeting
    queue: deque[tuple[str, str, bool]] = deque((url, "start", False) for url in starts)
    seen = set(starts)
    with client_for(server, show, login) as client:
        while queue and len(found.pages) < MAX_PAGES:
            url, source, fragment = queue.popleft()
            response = client.get(url, headers={"HX-Request": "true"} if fragment else {})
            found.pages[url] = response.status_code
            if fragment:
                found.fragments.add(url)
            if response.status_code in BROKEN:
                found.broken.append(f"{response.status_code} {url} (from {source})")
                continue
            targets: list[tuple[str, bool]] = []
            if response.is_redirect:
                targets.append((response.headers["location"], False))
            elif "text/html" in response.headers.get("content-type", ""):
                found.html[url] = response.text
                page = BeautifulSoup(response.text, "html.parser")
                targets += [(str(a["href"]), False) for a in page.select("a[href]")]
                targets += [(str(el["hx-get"]), True) for el in page.select("[hx-get]")]
                targets += [(str(img["src"]), False) for img in page.select("img[src]") if not str(img["src"]).startswith("data:")]
                # A board's one moderation form has no action: each row's button names its own.
                for button in page.select("[formaction]"):
                    path = urlsplit(urljoin(server.url + url, str(button["formaction"]))).path
                    found.post_actions.add(path)
                    if not posts_to_a_route(routes, path):
                        found.broken.append(f"POST button to {path}, which no route takes (on {url})")
                for form in page.select("form"):
                    action = str(form.get("action") or url)
                    if not form.get("action") and form.get("id") and page.select(f'[form="{form["id"]}"][formaction]'):
                        continue
                    if str(form.get("method", "get")).lower() == "post":
                        path = urlsplit(urljoin(server.url + url, action)).path
                        found.post_actions.add(path)
                        if not posts_to_a_route(routes, path):
                            found.broken.append(f"POST form to {path}, which no route takes (on {url})")
                        targets.append((path, False))  # a GET of it must not fail either (405 is fine there)
                    else:
                        query = form_query(form)
                        targets.append((action + ("&" if "?" in action else "?") + query if query else action, False))
            for href, is_fragment in targets:
                target = local(server.url + url, href)
                if target and target not in seen:
                    seen.add(target)
                    queue.append((target, url, is_fragment))
    # A GET of a POST-only action answers 405 by design: only link targets must not.
    found.broken = [b for b in found.broken if not (b.startswith("405 ") and b.split()[1] in found.post_actions)]
    return found


@pytest.fixture(scope="module")
def crawls(site: tuple[LiveServer, Showcase], routes: list[BaseRoute]) -> dict[str | None, Crawl]:
    server, show = site
    return {login: crawl(server, show, login, routes) for login in ROLES}


@pytest.mark.parametrize("login", ROLES, ids=ROLE_IDS)
def test_no_link_or_form_leads_to_a_missing_page_or_an_error(crawls: dict[str | None, Crawl], login: str | None) -> None:
    found = crawls[login]
    assert len(found.pages) > (5 if login in (None, "guest") else 15), f"the crawl saw too little: {sorted(found.pages)}"
    assert not found.broken, "\n".join(found.broken)


def test_the_crawl_reaches_every_activity_type_and_the_facilitator_tools(crawls: dict[str | None, Crawl], site: tuple[LiveServer, Showcase]) -> None:
    _, show = site
    facilitator = set(crawls["fay"].pages)
    for name in ("ideas", "vote", "rank"):
        assert any(url.startswith(show.activity_url(name)) for url in facilitator), name
    for tool in ("/invite", "/roster", "/log", "/settings"):
        assert show.url + tool in facilitator, tool
    assert any(url.startswith(f"/meeting/{show.archived}") for url in facilitator)
    # What issues 14 and 16 added: the board, Transfer Ideas, a round's results, settings, the designer.
    for page in (f"{show.url}?activity={show.activities['sort']}", show.activity_url("retro", "transfer"), show.activity_url("tally_2", "results"), "/settings", "/designer"):
        assert page in facilitator, page
    assert "Rounds side by side" in crawls["fay"].html[show.activity_url("tally_2", "results")]
    assert any(url.startswith("/settings?tab=") for url in crawls["ada"].pages)
    # Issue 19's paged board: the next page, as a link (no JavaScript) and as htmx's fragment.
    parked = show.activities["parked"]
    for login in ("fay", "pia"):
        assert any(url.startswith(f"{show.url}?activity={parked}&before=") for url in crawls[login].pages), login
        assert any(url.startswith(show.activity_url("parked", "ideas?before=")) for url in crawls[login].fragments), login
    assert f"{show.url}?activity={parked}&q=" in crawls["fay"].pages  # the search form, without JavaScript
    # Issue 15: the report for every member once something is published, the presenter view for facilitators.
    for tool in ("/report", "/present"):
        assert show.url + tool in facilitator, tool
    assert show.url + "/report" in crawls["pia"].pages and show.url + "/present" not in crawls["pia"].pages
    assert 'id="guest-join"' in crawls[None].html[f"/join/{show.meeting}"]
    assert show.url in crawls["guest"].html


@pytest.mark.parametrize("login", ROLES, ids=ROLE_IDS)
def test_no_page_uses_glyphs_that_render_as_boxes(crawls: dict[str | None, Crawl], login: str | None) -> None:
    offending = {url: [g for g in GLYPHS if g in html] for url, html in crawls[login].html.items()}
    assert not {url: g for url, g in offending.items() if g}


# -- accessibility --------------------------------------------------------------------------------


def one_per_route(urls: list[str], routes: list[BaseRoute]) -> list[str]:
    """One page per route (and per ``activity=`` of the room, which shows another activity's panel,
    and per activity for results and Transfer Ideas, which each type draws its own way)."""
    chosen: dict[str, str] = {}
    for url in sorted(urls, key=len):
        parts = urlsplit(url)
        scope = {"type": "http", "path": parts.path, "method": "GET"}
        route = next((r for r in routes if isinstance(r, Route) and r.matches(scope)[0] == Match.FULL), None)
        if route is None:
            continue
        query = dict(parse_qsl(parts.query))
        key = route.path + "|" + ",".join(sorted(k for k in query if k not in ("sort", "dir", "q", "status", "before")))
        if route.path == "/meeting/{mid}":
            key += "|" + query.get("activity", "") + parts.path
        if route.path in ("/meeting/{mid}/activities/{aid}/results", "/meeting/{mid}/activities/{aid}/transfer"):
            key += "|" + parts.path
        chosen.setdefault(key, url)
    return sorted(chosen.values())


def scan(browser: Browser, server: LiveServer, show: Showcase, login: str | None, urls: list[str], width: str) -> dict[str, list[str]]:
    axe = Axe()
    context = browser.new_context(base_url=server.url, viewport=WIDTHS[width], color_scheme=SCHEMES[width])  # type: ignore[arg-type]
    context.set_default_timeout(8000)
    if login:
        context.add_cookies([{"name": "decidero_session", "value": show.people[login].cookie, "url": server.url}])
    problems: dict[str, list[str]] = {}
    rules: set[str] = set()
    try:
        page = context.new_page()
        for url in urls:
            page.goto(url)
            if page.locator("#live-pill").count():
                expect(page.locator("#live-pill")).to_have_text("Connected")
            result = axe.run(page).response
            rules.update(r["id"] for r in result["passes"] + result["violations"] + result["incomplete"])
            serious = [f"{v['id']} ({v['impact']}): {v['nodes'][0]['target']}" for v in result["violations"] if v["impact"] in SERIOUS]
            if serious:
                problems[url] = serious
    finally:
        context.close()
    assert len(rules) > 20, "axe ran too few rules"
    return problems


def pages_of(crawls: dict[str | None, Crawl], login: str | None, routes: list[BaseRoute]) -> list[str]:
    found = crawls[login]
    urls = [url for url, status in found.pages.items() if status == 200 and url in found.html and url not in found.fragments]
    return [u for u in one_per_route(urls, routes) if "/invite?present=1" not in u or login == "fay"]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("login", ["fay", "pia", "guest"], ids=["facilitator", "participant", "guest"])
def test_no_serious_accessibility_violations_on_any_page(
    browser: Browser, site: tuple[LiveServer, Showcase], crawls: dict[str | None, Crawl], routes: list[BaseRoute], login: str, width: str
) -> None:
    server, show = site
    urls = pages_of(crawls, login, routes)
    # The room's main live states: a running brainstorm, an open ballot, published results.
    urls += [f"{show.url}?activity={show.activities['ideas']}", f"{show.url}?activity={show.activities['vote']}"]
    # A paged board (issue 19): its first page with "Show N earlier ideas", and the next page.
    earlier = [u for u in crawls[login].pages if u.startswith(f"{show.url}?activity={show.activities['parked']}&before=")]
    urls += [f"{show.url}?activity={show.activities['parked']}", *earlier[:1]]
    urls += show.unlinked.get(login, [])  # the designer's generated agenda
    problems = scan(browser, server, show, login, sorted(set(urls)), width)
    assert not problems, problems


@pytest.mark.parametrize("login", ["root", None], ids=["super_admin", "signed_out"])
def test_admin_and_signed_out_pages_have_no_serious_accessibility_violations(
    browser: Browser, site: tuple[LiveServer, Showcase], crawls: dict[str | None, Crawl], routes: list[BaseRoute], login: str | None
) -> None:
    server, show = site
    urls = [u for u in pages_of(crawls, login, routes) if not u.startswith("/meeting/")]
    for width in WIDTHS:
        problems = scan(browser, server, show, login, urls, width)
        assert not problems, (width, problems)
