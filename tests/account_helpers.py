"""Reading pages and the database the way the account tests need (shared by several test modules)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
from bs4 import BeautifulSoup, Tag
from starlette.testclient import TestClient

from decidero.platform.db import Database
from decidero.platform.models import User, UserSession

T = TypeVar("T")


def soup(response: httpx.Response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


def field_error(response: httpx.Response, name: str) -> str | None:
    """The message shown right beside the form field ``name`` (None when the field has none)."""
    page = soup(response)
    control = page.find(attrs={"name": name}, id=True)
    assert isinstance(control, Tag), f"no field {name}"
    box = control.find_parent(class_="field")
    assert isinstance(box, Tag)
    error = box.select_one(".error")
    return error.get_text(" ", strip=True) if error else None


def field_value(response: httpx.Response, name: str) -> str | None:
    control = soup(response).find(attrs={"name": name}, id=True)
    assert isinstance(control, Tag), f"no field {name}"
    value = control.get("value") if control.name == "input" else control.get_text()
    return None if value is None else str(value)


def page_error(response: httpx.Response) -> str:
    """The form-level error or the error page's message."""
    node = soup(response).select_one(".form-error, .error-message")
    assert node is not None, response.text[:2000]
    return node.get_text(" ", strip=True)


def notice(response: httpx.Response) -> str:
    node = soup(response).select_one(".notice")
    return node.get_text(" ", strip=True) if node else ""


def database(client: TestClient) -> Database:
    return client.app.state.services.db  # type: ignore[attr-defined,no-any-return]


def user(client: TestClient, login: str) -> User | None:
    return database(client).read_sync(lambda: User.get_or_none(User.login == login))


def user_id(client: TestClient, login: str) -> str:
    found = user(client, login)
    assert found is not None, f"no user {login}"
    return str(found.id)


def logins(client: TestClient) -> list[str]:
    return database(client).read_sync(lambda: sorted(u.login for u in User.select() if u.login))


def live_sessions(client: TestClient, login: str) -> int:
    def count() -> int:
        return UserSession.select().join(User).where(User.login == login, UserSession.revoked == False).count()  # noqa: E712

    return database(client).read_sync(count)


def set_setting(client: TestClient, key: str, value: str) -> Any:
    """What an admin saving the setting does; it applies to the next request."""
    settings = client.app.state.services.settings  # type: ignore[attr-defined]
    return run_coroutine(settings.save(key, value, None))


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync test code, even while Playwright's loop is current."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
