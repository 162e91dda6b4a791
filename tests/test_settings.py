"""The settings page (SPEC §4.15, S17): declared keys, tabs, locks, override dots, reset, validation,
write-only secrets, and every save applying to the very next request."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from account_helpers import field_value, run_coroutine, soup
from bs4 import Tag
from conftest import ROOT, SECRET, base_env, csrf_token
from helpers_brainstorming import control, form_error, seed_brainstorm
from helpers_meetings import Person, add_people, text_of
from starlette.testclient import TestClient

from decidero.app import create_app
from decidero.platform.db import Database
from decidero.platform.models import RuntimeSetting
from decidero.platform.runtime_settings import BY_KEY, KEYS, TABS, RuntimeSettings

# SPEC §4.15's table as the contract: key | default | editable by.
SPEC_TABLE = """
| `brainstorming.idea_character_limit` | 500 | facilitator+ |
| `brainstorming.max_ideas_per_user` | 50 | facilitator+ |
| `brainstorming.default_maintain_anonymity` | false | facilitator+ |
| `brainstorming.default_allow_subcomments` | false | facilitator+ |
| `brainstorming.default_auto_jump_new_ideas` | true | facilitator+ |
| `meetings.activity_participant_exclusivity` | false | admin+ |
| `meetings.allow_guest_join` | false | admin+ |
| `meetings.max_participants` | 2000 | admin+ |
| `users.default_password` | `TempPass123!` | admin+ |
| `auth.allow_self_registration` | true | admin+ |
| `auth.session_lifetime_minutes` | 2880 | admin+ |
| `security.login_rate_limit_enabled` | true | admin+ |
| `security.login_rate_limit_window_seconds` | 60 | admin+ |
| `security.login_rate_limit_max_failures_per_username` | 8 | admin+ |
| `security.login_rate_limit_max_failures_per_ip` | 40 | admin+ |
| `security.login_rate_limit_lockout_seconds` | 60 | admin+ |
| `ai.endpoint_url` | empty | admin+ |
| `ai.api_key` | empty | admin+ |
| `ai.model` | empty | admin+ |
| `ai.max_tokens` | 2048 | admin+ |
| `ai.temperature` | 0.7 | admin+ |
"""
SPEC_ROW = re.compile(r"^\|\s*`([a-z_]+\.[a-z_]+)`\s*\|\s*([^|]+?)\s*\|(?:[^|]*\|)?\s*(facilitator\+|admin\+)\s*\|$", re.M)
SPEC_FILE = ROOT.parent / "shared" / "SPEC.md"
TAB_TITLES = ["Brainstorming", "Meetings & Users", "Security", "AI"]
LOCKED = "Locked: administrators only"
API_KEY = "sk-test-WriteOnly-9f8e7d6c5b4a"


def spec_rows(text: str) -> dict[str, tuple[str, str]]:
    return {key: (default.strip("`"), editor) for key, default, editor in SPEC_ROW.findall(text)}


def shown_default(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "empty" if value == "" else str(value)


# -- declarations against the SPEC, and against the page ----------------------------------------


def test_every_spec_key_is_declared_with_its_default_and_who_may_edit_it() -> None:
    expected = spec_rows(SPEC_TABLE)
    assert len(expected) == 21
    declared = {k.key: (shown_default(k.default), "admin+" if k.admin_only else "facilitator+") for k in KEYS}
    assert declared == expected
    assert all(k.help for k in KEYS)


@pytest.mark.skipif(not SPEC_FILE.exists(), reason="the shared SPEC is not beside this checkout")
def test_the_contract_above_is_the_spec_table() -> None:
    section = SPEC_FILE.read_text(encoding="utf-8").split("### 4.15", 1)[1].split("### 4.16", 1)[0]
    assert spec_rows(section) == spec_rows(SPEC_TABLE)


@pytest.fixture
def people(client: TestClient) -> dict[str, Person]:
    db: Database = client.app.state.services.db  # type: ignore[attr-defined]
    return add_people(db, {"boss": "super_admin", "fac": "facilitator", "pat": "participant"})


def as_(client: TestClient, person: Person) -> TestClient:
    return TestClient(client.app, follow_redirects=False, cookies=person.cookies, headers=person.headers)


def tab_page(client: TestClient, person: Person, tab: str) -> httpx.Response:
    response = as_(client, person).get(f"/settings?tab={tab}")
    assert response.status_code == 200
    return response


def form_values(response: httpx.Response) -> dict[str, str]:
    """What the settings form would submit as shown: each input's value, each select's choice."""
    values = {}
    for control_ in soup(response).select("#settings-form [name]"):
        if control_.name == "select":
            chosen = control_.select_one("option[selected]") or control_.select_one("option")
            values[str(control_["name"])] = str(chosen["value"]) if chosen else ""
        else:
            values[str(control_["name"])] = str(control_.get("value", ""))
    return values


def setting_box(response: httpx.Response, key: str) -> Tag:
    box = soup(response).select_one(f'#settings .setting[data-key="{key}"]')
    assert isinstance(box, Tag), f"no field for {key}"
    return box


def test_every_declared_key_has_a_labelled_field_with_its_help_on_its_tab(client: TestClient, people: dict[str, Person]) -> None:
    for tab, title, _ in TABS:
        page = tab_page(client, people["boss"], tab)
        assert [text_of(a) for a in soup(page).select("nav.tabs a")] == TAB_TITLES
        assert text_of(soup(page).select_one("nav.tabs a[aria-current=page]")) == title
        for key in (k for k in KEYS if k.tab == tab):
            box = setting_box(page, key.key)
            control_ = box.select_one(f'[name="{key.key}"]')
            assert control_ is not None and not control_.has_attr("disabled"), key.key
            assert box.select_one(f'label[for="{control_["id"]}"]') is not None
            assert key.help in text_of(box)
            assert LOCKED not in text_of(box)


def test_a_facilitator_reads_every_tab_and_may_edit_only_brainstorming(client: TestClient, people: dict[str, Person]) -> None:
    for tab, _, _ in TABS:
        page = tab_page(client, people["fac"], tab)
        for key in (k for k in KEYS if k.tab == tab):
            box = setting_box(page, key.key)
            locked = box.select_one(f'[name="{key.key}"]').has_attr("disabled")  # type: ignore[union-attr]
            assert locked == key.admin_only, key.key
            assert (LOCKED in text_of(box.select_one("label"))) == key.admin_only
        has_save = soup(page).select_one("#settings-form button.primary") is not None
        assert has_save == (tab == "brainstorming")


def test_a_participant_is_sent_to_the_dashboard(client: TestClient, people: dict[str, Person]) -> None:
    pat = as_(client, people["pat"])
    assert pat.get("/settings").headers["location"] == "/dashboard"
    response = pat.post("/settings", data={"brainstorming.idea_character_limit": "100"})
    assert response.headers["location"] == "/dashboard"
    assert not client.app.state.services.settings.is_overridden("brainstorming.idea_character_limit")  # type: ignore[attr-defined]


def test_signed_out_visitors_are_sent_to_sign_in(client: TestClient) -> None:
    assert client.get("/settings").headers["location"] == "/login?next=%2Fsettings&message=login_required"


# -- saving takes effect on the next request (S17) ----------------------------------------------


def save(client: TestClient, person: Person, tab: str, **values: str) -> httpx.Response:
    data = {"tab": tab, **{k.replace("__", "."): v for k, v in values.items()}}
    return as_(client, person).post("/settings", data=data)


def test_lowering_the_idea_limit_refuses_the_next_longer_idea(client: TestClient, people: dict[str, Person]) -> None:
    db: Database = client.app.state.services.db  # type: ignore[attr-defined]
    meeting = seed_brainstorm(db, "fac", ["pat"])
    control(db, meeting.activities[0], "start", actor="fac")
    ideas = f"{meeting.url}/activities/{meeting.activities[0]}/ideas"

    response = save(client, people["boss"], "brainstorming", brainstorming__idea_character_limit="100")

    assert response.status_code == 303
    refused = as_(client, people["pat"]).post(ideas, data={"content": "x" * 150, "client_token": "t1"})
    assert refused.status_code == 422
    assert form_error(refused) == "Ideas are limited to 100 characters."
    textarea = soup(as_(client, people["pat"]).get(meeting.url)).select_one("textarea[name=content]")
    assert textarea is not None and textarea["maxlength"] == "100"


def test_a_saved_key_shows_the_override_dot_and_reset_removes_it(client: TestClient, people: dict[str, Person]) -> None:
    key = "brainstorming.idea_character_limit"
    save(client, people["fac"], "brainstorming", brainstorming__idea_character_limit="100")
    page = tab_page(client, people["fac"], "brainstorming")
    assert "Changed from the default" in text_of(setting_box(page, key).select_one("label"))
    assert field_value(page, key) == "100"

    response = as_(client, people["fac"]).post(f"/settings/{key}/reset", data={})

    assert response.headers["location"] == "/settings?tab=brainstorming&message=setting_reset"
    page = tab_page(client, people["fac"], "brainstorming")
    assert field_value(page, key) == "500"
    assert "Changed from the default" not in text_of(setting_box(page, key))
    assert setting_box(page, key).select_one("button") is None  # no Reset without an override


def test_saving_an_unchanged_tab_creates_no_overrides(client: TestClient, people: dict[str, Person]) -> None:
    for tab, _, _ in TABS:
        values = form_values(tab_page(client, people["boss"], tab))
        assert set(values) == {"csrf_token", "tab", *(k.key for k in KEYS if k.tab == tab)}

        response = as_(client, people["boss"]).post("/settings", data=values)

        assert response.headers["location"] == f"/settings?tab={tab}&message=settings_unchanged"

    assert stored_keys(client) == set()


def test_a_session_lifetime_change_applies_to_the_next_request(client: TestClient, people: dict[str, Person]) -> None:
    save(client, people["boss"], "security", auth__session_lifetime_minutes="15")

    def backdate() -> None:
        from datetime import timedelta

        from decidero.platform.models import User, UserSession, utcnow

        pat = User.get(User.login == "pat")
        UserSession.update(created_at=utcnow() - timedelta(minutes=20)).where(UserSession.user == pat.id).execute()

    client.app.state.services.db.write_sync(backdate)  # type: ignore[attr-defined]
    assert as_(client, people["pat"]).get("/dashboard").headers["location"].startswith("/login")


# -- bad input: the message beside the field, the value kept, nothing saved ---------------------

BAD_VALUES = [
    ("brainstorming.idea_character_limit", "49", "Must be a whole number between 50 and 5000."),
    ("brainstorming.idea_character_limit", "5001", "Must be a whole number between 50 and 5000."),
    ("brainstorming.idea_character_limit", "٥٠٠", "Must be a whole number between 50 and 5000."),
    ("brainstorming.idea_character_limit", "５００", "Must be a whole number between 50 and 5000."),
    ("brainstorming.idea_character_limit", "²", "Must be a whole number between 50 and 5000."),
    ("brainstorming.idea_character_limit", "100.5", "Must be a whole number between 50 and 5000."),
    ("brainstorming.idea_character_limit", "", "Must be a whole number between 50 and 5000."),
    ("brainstorming.max_ideas_per_user", "0", "Must be a whole number between 1 and 1000."),
    ("brainstorming.default_allow_subcomments", "maybe", "Must be true or false."),
    ("meetings.max_participants", "100001", "Must be a whole number between 1 and 100000."),
    ("users.default_password", "short", "Password must be at least 8 characters long"),
    ("users.default_password", "alllowercase1!", "Password must contain at least one uppercase letter"),
    ("auth.session_lifetime_minutes", "14", "Must be a whole number between 15 and 43200."),
    ("security.login_rate_limit_window_seconds", "-5", "Must be a whole number between 10 and 3600."),
    ("security.login_rate_limit_lockout_seconds", "86401", "Must be a whole number between 1 and 86400."),
    ("ai.endpoint_url", "ftp://models.example/v1", "Must be an http(s) URL."),
    ("ai.endpoint_url", "http://", "Must be an http(s) URL."),
    ("ai.endpoint_url", "http://[::1", "Must be an http(s) URL."),
    ("ai.endpoint_url", "not a url", "Must be an http(s) URL."),
    ("ai.model", "", "Must be 1 to 200 characters."),
    ("ai.model", "m" * 201, "Must be 1 to 200 characters."),
    ("ai.max_tokens", "63", "Must be a whole number between 64 and 16384."),
    ("ai.temperature", "2.1", "Must be a number between 0 and 2."),
    ("ai.temperature", "nan", "Must be a number between 0 and 2."),
    ("ai.temperature", "٠٫٥", "Must be a number between 0 and 2."),
]


def stored_keys(client: TestClient) -> set[str]:
    db: Database = client.app.state.services.db  # type: ignore[attr-defined]
    return db.read_sync(lambda: {r.key for r in RuntimeSetting.select()})


@pytest.mark.parametrize(("key", "value", "message"), BAD_VALUES, ids=[f"{k}={v[:12]!r}" for k, v, _ in BAD_VALUES])
def test_a_bad_value_is_refused_beside_its_field_and_nothing_is_saved(
    client: TestClient, people: dict[str, Person], key: str, value: str, message: str
) -> None:
    tab = BY_KEY[key].tab
    if key == "ai.model":  # a blank model is "unchanged" until one is set
        run_coroutine(client.app.state.services.settings.save(key, "set-model", None))  # type: ignore[attr-defined]
    good = {"ai": ("ai.max_tokens", "1024"), "brainstorming": ("brainstorming.max_ideas_per_user", "7")}.get(tab)
    data = {"tab": tab, key: value, **(dict([good]) if good and good[0] != key else {})}

    response = as_(client, people["boss"]).post("/settings", data=data)

    assert response.status_code == 422
    box = setting_box(response, key)
    assert text_of(box.select_one(".error")) == message
    if BY_KEY[key].kind in ("text", "number"):
        assert field_value(response, key) == value  # kept as typed
    assert stored_keys(client) == ({"ai.model"} if key == "ai.model" else set())  # nor the valid field beside it


def test_an_unknown_key_is_refused_with_its_name(client: TestClient, people: dict[str, Person]) -> None:
    boss = as_(client, people["boss"])

    for response in (boss.post("/settings", data={"tab": "ai", "ai.colour": "blue"}), boss.post("/settings/ai.colour/reset", data={})):
        assert response.status_code == 400
        assert "Unknown setting: ai.colour" in text_of(soup(response).select_one(".error-message"))
    assert stored_keys(client) == set()


def test_a_facilitator_writing_an_admin_key_gets_403_and_nothing_changes(client: TestClient, people: dict[str, Person]) -> None:
    fac = as_(client, people["fac"])
    run_coroutine(client.app.state.services.settings.save("meetings.max_participants", "30", None))  # type: ignore[attr-defined]
    attempts = [
        fac.post("/settings", data={"tab": "brainstorming", "brainstorming.max_ideas_per_user": "9", "meetings.allow_guest_join": "true"}),
        fac.post("/settings/meetings.max_participants/reset", data={}),
    ]

    for response in attempts:
        assert response.status_code == 403
        assert text_of(soup(response).select_one(".error-message")) == "Only administrators can change this setting."
    settings = client.app.state.services.settings  # type: ignore[attr-defined]
    assert (settings.get("meetings.allow_guest_join"), settings.get("meetings.max_participants")) == (False, 30)
    assert settings.get("brainstorming.max_ideas_per_user") == 50
    assert stored_keys(client) == {"meetings.max_participants"}


def test_an_htmx_save_error_swaps_the_page_with_the_messages(client: TestClient, people: dict[str, Person]) -> None:
    response = as_(client, people["boss"]).post(
        "/settings",
        data={"tab": "meetings", "meetings.max_participants": "0"},
        headers={"HX-Request": "true", "HX-Boosted": "true"},
    )
    assert response.status_code == 422
    assert text_of(setting_box(response, "meetings.max_participants").select_one(".error")) == "Must be a whole number between 1 and 100000."


# -- secrets ------------------------------------------------------------------------------------


def test_the_api_key_is_write_only_and_a_blank_submit_keeps_it(client: TestClient, people: dict[str, Person], tmp_path: Path) -> None:
    boss = as_(client, people["boss"])
    assert save(client, people["boss"], "ai", ai__api_key=API_KEY).status_code == 303

    page = tab_page(client, people["boss"], "ai")
    assert API_KEY not in page.text
    assert text_of(setting_box(page, "ai.api_key").select_one(".secret-hint")) == "●●●●" + API_KEY[-4:]
    assert field_value(page, "ai.api_key") == ""
    assert boss.post("/settings", data={"tab": "ai", "ai.api_key": "", "ai.max_tokens": "1000"}).status_code == 303
    assert client.app.state.services.settings.get("ai.api_key") == API_KEY  # type: ignore[attr-defined]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert API_KEY.encode() not in path.read_bytes(), path.name


def test_the_default_password_is_masked_on_the_settings_page(client: TestClient, people: dict[str, Person]) -> None:
    page = tab_page(client, people["boss"], "meetings")

    assert "TempPass123!" not in page.text
    assert text_of(setting_box(page, "users.default_password").select_one(".secret-hint")) == "●●●●"
    assert save(client, people["boss"], "meetings", users__default_password="NewTemp456!").status_code == 303
    assert client.app.state.services.settings.get("users.default_password") == "NewTemp456!"  # type: ignore[attr-defined]


def test_the_api_key_survives_a_restart_and_is_unset_under_another_secret(tmp_path: Path) -> None:
    database = Database(tmp_path / "decidero.db")
    try:
        from decidero.schema import migrate

        migrate(database)
        run_coroutine(RuntimeSettings(database, SECRET).save("ai.api_key", API_KEY, None))
        again = RuntimeSettings(database, SECRET)
        again.load()
        other = RuntimeSettings(database, SECRET + "-rotated")
        other.load()
    finally:
        database.close()
    assert again.get("ai.api_key") == API_KEY
    assert other.get("ai.api_key") == "" and not other.is_overridden("ai.api_key")


def test_the_csrf_token_is_required(client: TestClient, people: dict[str, Person]) -> None:
    response = TestClient(client.app, follow_redirects=False, cookies=people["boss"].cookies).post(
        "/settings", data={"tab": "ai", "ai.model": "m"}
    )
    assert response.status_code == 403
    assert csrf_token(client, "/login")  # the app still answers
    assert not client.app.state.services.settings.is_overridden("ai.model")  # type: ignore[attr-defined]


def test_the_app_starts_with_a_stored_key_in_a_new_process(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    with TestClient(create_app(env, cwd=tmp_path)) as first:
        run_coroutine(first.app.state.services.settings.save("ai.api_key", API_KEY, None))  # type: ignore[attr-defined]
    with TestClient(create_app(env, cwd=tmp_path)) as second:
        assert second.app.state.services.settings.get("ai.api_key") == API_KEY  # type: ignore[attr-defined]


def test_turning_exclusivity_on_refuses_the_next_overlapping_start(client: TestClient, people: dict[str, Person]) -> None:
    from helpers_meetings import seed_meeting, snapshot

    db: Database = client.app.state.services.db  # type: ignore[attr-defined]
    meeting = seed_meeting(db, "fac", ["pat"], activities=[("Talk", {}), ("Vote", {})])
    fac = as_(client, people["fac"])
    assert fac.post(meeting.activity_url(0, "control"), data={"action": "start"}).status_code == 303
    assert save(client, people["boss"], "meetings", meetings__activity_participant_exclusivity="true").status_code == 303
    before = snapshot(db, meeting.id)

    refused = fac.post(meeting.activity_url(1, "control"), data={"action": "start"})

    assert refused.status_code == 409
    collision = soup(refused).select_one(".collision")
    assert collision is not None and text_of(collision.select_one("strong")) == "Participant Collision Detected!"
    assert [text_of(li) for li in collision.select("li")] == ["pat is already in “Talk”"]
    cancel = collision.select_one("a")
    assert cancel is not None and (text_of(cancel), cancel["href"]) == ("Cancel", meeting.url)
    assert snapshot(db, meeting.id) == before


def test_with_exclusivity_off_two_activities_run_together_and_a_participant_uses_both(client: TestClient, people: dict[str, Person]) -> None:
    db: Database = client.app.state.services.db  # type: ignore[attr-defined]
    meeting = seed_brainstorm(db, "fac", ["pat"], rounds=[("Ideas", {}), ("More ideas", {})])
    fac, pat = as_(client, people["fac"]), as_(client, people["pat"])
    for index in (0, 1):
        assert fac.post(meeting.activity_url(index, "control"), data={"action": "start"}).status_code == 303

    submitted = [pat.post(meeting.activity_url(i, "ideas"), data={"content": f"idea {i}", "client_token": f"k{i}"}) for i in (0, 1)]

    assert [r.status_code for r in submitted] == [303, 303]
    summary = text_of(soup(fac.get(meeting.url)).select_one("#agenda-summary"))
    assert summary == "Agenda · 2 activities · 2 active"
