"""Bad input never produces a 500 (SPEC §5.1; issue 12): bodies that cannot be parsed, and a sweep of
every POST route in the app's route table with malformed, oversized and hostile requests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from account_helpers import page_error
from conftest import base_env, csrf_token
from starlette.testclient import TestClient

from decidero.app import create_app
from decidero.runtime_settings import BY_KEY, KEYS


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


NUMERIC_SETTINGS = [k.key for k in KEYS if isinstance(k.default, int | float) and not isinstance(k.default, bool)]


@pytest.mark.parametrize("key", NUMERIC_SETTINGS)
@pytest.mark.parametrize("digits", ["٣٠", "３０", "²"])
def test_numeric_settings_refuse_unicode_digits(key: str, digits: str) -> None:
    with pytest.raises(ValueError, match="Must be a"):
        BY_KEY[key].parse(digits)
