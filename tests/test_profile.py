"""Own profile and password changes (SPEC §4.3, S18.3)."""

from __future__ import annotations

import httpx
import pytest
from account_helpers import field_error, live_sessions, notice, user
from conftest import PASSWORD, csrf_token, sign_in, sign_up_and_in
from starlette.testclient import TestClient

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
