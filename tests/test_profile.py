"""Own profile, avatar and password changes (SPEC §4.3, S18)."""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest
from account_helpers import field_error, live_sessions, notice, page_error, soup, user
from bs4 import Tag
from conftest import PASSWORD, csrf_token, register, sign_in, sign_up_and_in
from starlette.testclient import TestClient

from decidero.platform.profile import COLOR_HIGH, COLOR_LOW, EMOJI_CATALOG, avatar_ink, emoji_for

NEW = "Newer-Passw0rd!"


@pytest.fixture
def alice(client: TestClient) -> TestClient:
    sign_up_and_in(client, "alice")
    return client


def _change(client: TestClient, current: str, new: str, confirm: str | None = None) -> httpx.Response:
    data = {
        "csrf_token": csrf_token(client, "/profile/password"),
        "current_password": current,
        "new_password": new,
        "confirm_password": new if confirm is None else confirm,
    }
    return client.post("/profile/password", data=data)


def test_a_wrong_current_password_is_refused(alice: TestClient) -> None:
    response = _change(alice, "Wrong-Passw0rd!", NEW)
    assert response.status_code == 422
    assert field_error(response, "current_password") == "Current password is incorrect."
    assert NEW not in response.text and "Wrong-Passw0rd!" not in response.text


def test_the_new_password_must_differ_from_the_current_one(alice: TestClient) -> None:
    response = _change(alice, PASSWORD, PASSWORD)
    assert response.status_code == 422
    assert field_error(response, "new_password") == "New password must be different from the current password."


def test_the_new_password_must_follow_the_rules_and_match(alice: TestClient) -> None:
    weak = _change(alice, PASSWORD, "NoSpecial11")
    assert weak.status_code == 422
    assert field_error(weak, "new_password") == "Password must contain at least one special character"
    mismatch = _change(alice, PASSWORD, NEW, "Other-Passw0rd!")
    assert mismatch.status_code == 422
    assert field_error(mismatch, "confirm_password") == "Passwords do not match."
    sign_in(alice, "alice", PASSWORD)
    assert alice.get("/dashboard").status_code == 200


def test_a_password_change_keeps_this_session_and_ends_the_others(alice: TestClient) -> None:
    other = TestClient(alice.app, follow_redirects=False)
    assert sign_in(other, "alice").status_code == 303
    assert live_sessions(alice, "alice") == 2
    response = _change(alice, PASSWORD, NEW)
    assert response.status_code == 303
    assert notice(alice.get(response.headers["location"])) == "Password changed."
    assert alice.get("/dashboard").status_code == 200
    ended = other.get("/dashboard")
    assert ended.status_code == 303
    assert "message=session_expired" in ended.headers["location"]
    assert live_sessions(alice, "alice") == 1
    assert sign_in(other, "alice", PASSWORD).status_code == 401
    assert sign_in(other, "alice", NEW).status_code == 303


def test_profile_edits_are_saved_and_validated(alice: TestClient) -> None:
    token = csrf_token(alice, "/profile")
    saved = alice.post("/profile", data={"csrf_token": token, "display_name": "  Pat ", "organisation": "ACME", "about": "Hi"})
    assert saved.status_code == 303
    page = alice.get(saved.headers["location"])
    assert notice(page) == "Profile saved."
    assert user(alice, "alice").display_name == "Pat"  # type: ignore[union-attr]
    refused = alice.post("/profile", data={"csrf_token": token, "display_name": " ", "organisation": "O" * 201})
    assert refused.status_code == 422
    assert field_error(refused, "display_name") == "Display name must be 1–100 characters."
    assert field_error(refused, "organisation") == "Organisation must be at most 200 characters."
    assert user(alice, "alice").display_name == "Pat"  # type: ignore[union-attr]


@pytest.mark.parametrize("mark", ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"])
def test_bidi_override_marks_are_stripped_from_a_display_name(alice: TestClient, mark: str) -> None:
    token = csrf_token(alice, "/profile")

    saved = alice.post("/profile", data={"csrf_token": token, "display_name": f"Pat{mark}exe.txt", "organisation": f"{mark}ACME"})

    assert saved.status_code == 303
    stored = user(alice, "alice")
    assert stored is not None and (stored.display_name, stored.organisation) == ("Patexe.txt", "ACME")


# -- avatar (SPEC §4.3, S18.2) --------------------------------------------------------------------


def _style(node: Tag) -> dict[str, str]:
    return dict((part.split(":")[0].strip(), part.split(":")[1].strip()) for part in str(node["style"]).split(";") if part.strip())


def _header_avatar(client: TestClient) -> tuple[str, str]:
    """The avatar in the page header after a fresh load: (its text, its colour)."""
    node = soup(client.get("/dashboard")).select_one("header .me .avatar")
    assert node is not None
    return node.get_text(strip=True), _style(node)["background"]


def _contrast(one: str, other: str) -> float:
    def luminance(color: str) -> float:
        r, g, b = ((c / 255 / 12.92 if c / 255 <= 0.03928 else ((c / 255 + 0.055) / 1.055) ** 2.4) for c in _channels(color))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(one), luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _avatar_post(client: TestClient, action: str, **data: str) -> httpx.Response:
    return client.post(f"/profile/avatar/{action}", data={"csrf_token": csrf_token(client, "/profile"), **data})


def _channels(color: str) -> list[int]:
    assert re.fullmatch(r"#[0-9a-f]{6}", color), color
    return [int(color[i : i + 2], 16) for i in (1, 3, 5)]


def test_a_new_account_shows_initials_on_its_own_readable_colour(client: TestClient) -> None:
    register(client, "alice", first_name="Alice Beth")
    register(client, "bob")
    alice, bob = user(client, "alice"), user(client, "bob")
    assert alice is not None and bob is not None
    expected = "#" + "".join(f"{40 + b % 176:02x}" for b in hashlib.sha256(alice.id.encode()).digest()[:3])
    assert alice.avatar_color == expected  # derived from sha256(user id)
    assert alice.avatar_color != bob.avatar_color
    assert all(40 <= c <= 215 for c in _channels(alice.avatar_color))
    sign_in(client, "alice")
    assert _header_avatar(client) == ("AB", alice.avatar_color)


def test_initials_read_on_every_avatar_colour(alice: TestClient) -> None:
    """Pale colours get dark initials, dark ones white: at least 4.5:1 (WCAG AA) on every colour the
    profile can pick, and on the one the page shows."""
    steps = range(COLOR_LOW, COLOR_HIGH + 1, 5)
    for color in (f"#{r:02x}{g:02x}{b:02x}" for r in steps for g in steps for b in steps):
        assert _contrast(color, avatar_ink(color)) >= 4.5, color
    node = soup(alice.get("/dashboard")).select_one("header .me .avatar")
    assert node is not None
    assert _contrast(_style(node)["background"], _style(node)["color"]) >= 4.5


def test_generate_new_avatar_steps_through_the_catalog_and_persists(alice: TestClient) -> None:
    me = user(alice, "alice")
    assert me is not None
    first = _avatar_post(alice, "regenerate")
    assert (first.status_code, first.headers["location"]) == (303, "/profile#avatar")
    assert _header_avatar(alice)[0] == emoji_for(me.id, 1)
    assert _avatar_post(alice, "regenerate").status_code == 303
    again = user(alice, "alice")
    assert again is not None and (again.avatar_seed, again.avatar_emoji) == (2, emoji_for(me.id, 2))
    assert again.avatar_emoji in EMOJI_CATALOG.values()
    assert _header_avatar(alice) == (emoji_for(me.id, 2), me.avatar_color)


def test_use_initials_switches_back(alice: TestClient) -> None:
    _avatar_post(alice, "regenerate")
    assert _avatar_post(alice, "initials").status_code == 303
    assert user(alice, "alice").avatar_emoji is None  # type: ignore[union-attr]
    assert _header_avatar(alice)[0] == "A"


def test_generate_new_color_picks_another_readable_colour(alice: TestClient) -> None:
    before = _header_avatar(alice)[1]
    for _ in range(3):
        assert _avatar_post(alice, "color").status_code == 303
        after = _header_avatar(alice)[1]
        assert after != before
        assert all(40 <= c <= 215 for c in _channels(after))
        assert user(alice, "alice").avatar_color == after  # type: ignore[union-attr]
        before = after


def test_an_emoji_can_be_chosen_by_key_and_an_unknown_key_is_refused(alice: TestClient) -> None:
    assert _avatar_post(alice, "regenerate", key="rocket").status_code == 303
    assert _header_avatar(alice)[0] == EMOJI_CATALOG["rocket"]
    refused = _avatar_post(alice, "regenerate", key="not-in-the-catalog")
    assert refused.status_code == 400
    assert page_error(refused) == "Invalid avatar key"
    assert _header_avatar(alice)[0] == EMOJI_CATALOG["rocket"]


def test_the_profile_page_offers_the_avatar_actions(alice: TestClient) -> None:
    page = soup(alice.get("/profile"))
    buttons = [b.get_text(strip=True) for b in page.select("#avatar button")]
    assert buttons == ["Generate new avatar", "Generate new color", "Use this emoji"]
    assert len(page.select("#avatar select[name=key] option")) == len(EMOJI_CATALOG) >= 100
    _avatar_post(alice, "regenerate")
    assert "Use initials" in [b.get_text(strip=True) for b in soup(alice.get("/profile")).select("#avatar button")]


def test_avatar_actions_need_a_session_and_answer_htmx_with_a_redirect(alice: TestClient) -> None:
    token = csrf_token(alice, "/profile")
    swapped = alice.post("/profile/avatar/color", data={"csrf_token": token}, headers={"HX-Request": "true"})
    assert (swapped.status_code, swapped.headers["hx-redirect"]) == (204, "/profile#avatar")
    alice.cookies.delete("decidero_session")
    signed_out = alice.post("/profile/avatar/regenerate", data={"csrf_token": token})
    assert signed_out.status_code == 303
    assert signed_out.headers["location"].startswith("/login?")
