"""Shared fixtures: apps on temp databases (SQLite, or Postgres for tests marked ``both_backends``),
a real uvicorn server, Debian Chromium for Playwright."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext
from starlette.testclient import TestClient

from bench import postgres
from bench.server import free_port, wait_until_healthy
from decidero.app import create_app
from decidero.platform.db import Database, PostgresDatabase, connect
from decidero.schema import migrate

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-secret-key-that-is-long-enough-0123456789"
PASSWORD = "Passw0rd!"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
CSRF_PATTERN = re.compile(r'name="csrf_token" value="([^"]+)"')


def base_env(directory: Path, **extra: str) -> dict[str, str]:
    return {
        "DECIDERO_DATABASE_URL": f"sqlite:///{directory / 'decidero.db'}",
        "DECIDERO_JWT_SECRET_KEY": SECRET,
        "LOG_LEVEL": "WARNING",
        **extra,
    }


# -- the database: SQLite by default, each backend for tests marked both_backends ----------------

BACKENDS = ("sqlite", "postgres")
# `just test` installs every tool first and sets this: there a missing tool is a failure, not a skip.
TOOLS_REQUIRED = os.environ.get("DECIDERO_TEST_REQUIRE_TOOLS") == "1"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_url" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_backends"):
        metafunc.parametrize("database_url", BACKENDS, indirect=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[postgres.PostgresServer]:
    """A throwaway Postgres for the whole session, with a template database holding the schema."""
    if not postgres.available():
        if TOOLS_REQUIRED:
            pytest.fail("Postgres is not installed (apt install postgresql; `just test` installs it)")
        pytest.skip("Postgres is not installed (apt install postgresql; `just test` does)")
    with postgres.running_postgres() as server:
        template = server.create_database()
        database = PostgresDatabase(template)
        try:
            migrate(database)
        finally:
            database.close()
        server.sql(f'ALTER DATABASE "{template.rsplit("/", 1)[1]}" RENAME TO "{postgres.TEMPLATE}"')
        yield server


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite in the test's directory, or (parametrized "postgres") a fresh database with the schema."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return f"sqlite:///{tmp_path / 'decidero.db'}"
    server: postgres.PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database(template=postgres.TEMPLATE)


@contextmanager
def database_at(database_url: str) -> Iterator[Database]:
    """The test process's own handle on the database at ``database_url`` (migrated), closed afterwards."""
    path = Path(database_url.removeprefix("sqlite:///")) if database_url.startswith("sqlite:") else None
    database = connect(database_url, path)
    try:
        migrate(database)
        yield database
    finally:
        database.close()


# -- in-process apps ----------------------------------------------------------------------------


@pytest.fixture
def app_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return base_env(tmp_path, DECIDERO_DATABASE_URL=database_url)


@pytest.fixture
def client(app_env: dict[str, str], tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(app_env, cwd=tmp_path), follow_redirects=False) as test_client:
        yield test_client


def csrf_token(client: TestClient | httpx.Client, path: str = "/login") -> str:
    """The token a page embeds for its forms (and htmx's header)."""
    match = CSRF_PATTERN.search(client.get(path).text)
    assert match, f"no csrf_token on {path}"
    return match.group(1)


def register(client: TestClient | httpx.Client, login: str, password: str = PASSWORD, **fields: str) -> httpx.Response:
    token = csrf_token(client, "/register")
    data = {"login": login, "password": password, "confirm_password": password, "csrf_token": token, **fields}
    return client.post("/register", data=data)


def sign_in(client: TestClient | httpx.Client, login: str, password: str = PASSWORD) -> httpx.Response:
    client.cookies.delete("decidero_session")
    token = csrf_token(client, "/login")
    return client.post("/login", data={"login": login, "password": password, "csrf_token": token})


def sign_up_and_in(client: TestClient | httpx.Client, login: str, password: str = PASSWORD) -> None:
    register(client, login, password)
    response = sign_in(client, login, password)
    assert response.status_code == 303, response.text


def post_form(client: TestClient | httpx.Client, path: str, data: dict[str, str] | None = None, page: str = "/dashboard", **kwargs: object) -> httpx.Response:
    """POST with the CSRF token of ``page`` (the page the user would submit from)."""
    payload = {"csrf_token": csrf_token(client, page), **(data or {})}
    return client.post(path, data=payload, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def admin_client(client: TestClient) -> TestClient:
    """Signed in as the first account, which is the super admin."""
    sign_up_and_in(client, "boss")
    return client


# -- a real server ------------------------------------------------------------------------------


def wait_until(predicate, timeout: float = 15.0, interval: float = 0.05, message: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}")


@dataclass
class LiveServer:
    """uvicorn running ``decidero.main:app`` as operators start it, in a temp working directory."""

    cwd: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, **self.env, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "decidero.main:app", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=self.cwd,
            env=env,
            stdout=open(self.cwd / "server.out", "ab"),
            stderr=subprocess.STDOUT,
        )
        wait_until_healthy(self.url, self.process, self.cwd / "server.out", 20)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, follow_redirects=False, timeout=10)


@contextmanager
def running_server(directory: Path, database_url: str | None = None) -> Iterator[LiveServer]:
    """A started server in ``directory`` with the default test settings (and the database at
    ``database_url``, default SQLite in ``directory``), stopped afterwards."""
    extra = {"DECIDERO_DATABASE_URL": database_url} if database_url else {}
    server = LiveServer(cwd=directory, env=base_env(directory, **extra))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    with running_server(tmp_path) as server:
        yield server


# -- Playwright on Debian's Chromium ------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:  # type: ignore[type-arg]
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS, "headless": True}


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    """Browser contexts a test opens (one per person), closed after it."""
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        context.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "page" in getattr(item, "fixturenames", ()) or "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process apps hash with a lower scrypt cost (stored in each hash, so verifying still works).

    The production cost (~60-100 ms) would dominate the suite's time; uvicorn subprocesses keep it.
    """
    monkeypatch.setattr("decidero.platform.passwords.SCRYPT_N", 2**10)
