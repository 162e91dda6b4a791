"""The operator kit in deploy/: systemd unit, Caddyfile, env template and smoke check.

Nothing here needs Decidero itself: Caddy and smoke.sh run against a small stand-in that
speaks the parts of the operator contract they touch (SPEC §3).
"""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from caddy_helpers import CADDYFILE, caddy_env, free_port, needs_caddy, needs_tool, running_caddy

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNIT = DEPLOY / "decidero.service"
WORKER_UNIT = DEPLOY / "decidero@.service"
ENV_EXAMPLE = DEPLOY / "decidero.env.example"
SMOKE = DEPLOY / "smoke.sh"
HOSTING = DEPLOY / "HOSTING.md"

# SPEC §3.2, in order.
SPEC_VARIABLES = [
    "DECIDERO_ENV",
    "DECIDERO_JWT_SECRET_KEY",
    "DECIDERO_JWT_ISSUER",
    "DECIDERO_SECURE_COOKIES",
    "GRAB_ENABLED",
    "LOG_LEVEL",
    "LOG_MAX_BYTES",
    "LOG_BACKUP_COUNT",
    "DECIDERO_DATABASE_URL",
]
# SPEC §3.3, word for word.
STARTUP_FAILURES = [
    "Missing DECIDERO_JWT_SECRET_KEY while DECIDERO_ENV is set to production",
    "DECIDERO_JWT_SECRET_KEY must be at least 32 characters long",
    "GRAB_ENABLED must be false when DECIDERO_ENV is set to production",
    "Cannot open database",
]


# -- systemd unit -------------------------------------------------------------------------------


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if line.strip() and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def systemd_root(tmp_path: Path, unit_text: str, name: str = "decidero.service") -> Path:
    """A file-system root holding the unit, its ExecStart binary and the stock system units."""
    root = tmp_path / "root"
    system_units = next(p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")) if p.is_dir())
    shutil.copytree(system_units, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "etc/systemd/system" / name).write_text(unit_text)
    uvicorn = root / "opt/decidero/venv/bin/uvicorn"
    uvicorn.parent.mkdir(parents=True)
    uvicorn.write_text("#!/bin/sh\n")
    uvicorn.chmod(0o755)
    return root


OTHER_UNIT = re.compile(r"^(/\S+/)?(?!decidero\.)[\w@.\\-]+\.(service|socket|target|mount|timer|path|slice|scope|swap):")


def verify(root: Path, name: str = "decidero.service") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", f"--root={root}", f"/etc/systemd/system/{name}"],
        capture_output=True,
        text=True,
        timeout=30,
    )


needs_systemd_analyze = needs_tool("systemd-analyze", "systemd")


@needs_systemd_analyze
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    result = verify(systemd_root(tmp_path, UNIT.read_text()))

    # Any output is a warning, except one about a stock unit of the host copied into the root.
    lines = (result.stdout + result.stderr).splitlines()
    complaints = [line for line in lines if line.strip() and not OTHER_UNIT.match(line)]
    assert complaints == []
    assert result.returncode == 0, result.stdout + result.stderr


@needs_systemd_analyze
def test_worker_template_passes_systemd_analyze_verify_as_an_instance(tmp_path: Path) -> None:
    result = verify(systemd_root(tmp_path, WORKER_UNIT.read_text(), "decidero@.service"), "decidero@8001.service")

    lines = (result.stdout + result.stderr).splitlines()
    assert [line for line in lines if line.strip() and not OTHER_UNIT.match(line)] == []
    assert result.returncode == 0, result.stdout + result.stderr


def test_worker_template_is_the_unit_with_a_port_per_instance() -> None:
    """Several workers run the same sandbox, limits and shutdown as one: only these lines differ."""
    ours = [line for line in WORKER_UNIT.read_text().splitlines() if not line.startswith("#")]
    single = [line for line in UNIT.read_text().splitlines() if not line.startswith("#")]
    changed = {
        "Description=Decidero group decision support (uvicorn)": "Description=Decidero group decision support (uvicorn worker on port %i)",
        "After=network-online.target": "After=network-online.target redis-server.service",
        "ExecStart=/opt/decidero/venv/bin/uvicorn decidero.main:app --host 127.0.0.1 --port 8000": (
            "ExecStart=/opt/decidero/venv/bin/uvicorn decidero.main:app --host 127.0.0.1 --port %i"
        ),
    }

    assert ours == [changed.get(line, line) for line in single]


@needs_systemd_analyze
def test_verify_would_catch_a_broken_unit(tmp_path: Path) -> None:
    broken = UNIT.read_text().replace("KillSignal=SIGINT", "KillSignal=SIGINT\nProtectSystem=sometimes")
    root = systemd_root(tmp_path, broken.replace("RestartSec=3", "RestartSecs=3"))
    (root / "opt/decidero/venv/bin/uvicorn").unlink()

    output = verify(root).stderr

    assert "Unknown key 'RestartSecs'" in output
    assert "sometimes" in output
    assert "/opt/decidero/venv/bin/uvicorn is not executable" in output


def test_unit_follows_the_operator_contract() -> None:
    unit = unit_settings()

    assert unit["ExecStart"] == ["/opt/decidero/venv/bin/uvicorn decidero.main:app --host 127.0.0.1 --port 8000"]
    expected = {
        "User": "decidero",
        "Group": "decidero",
        "WorkingDirectory": "/opt/decidero/app",
        "EnvironmentFile": "/etc/decidero/decidero.env",
        "Restart": "always",
        "RestartSec": "3",
        "KillSignal": "SIGINT",
        "TimeoutStopSec": "30",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
    }
    assert {key: unit[key] for key in expected} == {key: [value] for key, value in expected.items()}
    # The database, its -wal/-shm files, logs/ and backups/ all live in the checkout.
    assert "/opt/decidero/app" in " ".join(unit["ReadWritePaths"]).split()
    # One socket per open event stream; 1,000 participants need more than the default 1024.
    assert int(unit["LimitNOFILE"][0]) >= 10_000


# -- Caddy --------------------------------------------------------------------------------------

def enable_block_register(text: str) -> str:
    assert text.count("# respond @block_register 403") == 1
    return text.replace("# respond @block_register 403", "respond @block_register 403")


def validate(path: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["caddy", "validate", "--adapter", "caddyfile", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        env=caddy_env(tmp_path),
    )


@needs_caddy
def test_caddyfile_validates(tmp_path: Path) -> None:
    result = validate(CADDYFILE, tmp_path)

    assert result.returncode == 0, result.stderr
    assert "Valid configuration" in result.stdout + result.stderr


@needs_caddy
def test_caddyfile_validates_with_registration_blocked(tmp_path: Path) -> None:
    blocked = tmp_path / "Caddyfile"
    blocked.write_text(enable_block_register(CADDYFILE.read_text()))

    result = validate(blocked, tmp_path)

    assert result.returncode == 0, result.stderr


# -- a stand-in for Decidero --------------------------------------------------------------------

MEETING = "MTG20250101-AB12"
LOGIN_PAGE = """<!doctype html><html><head><title>Sign in</title></head><body>{banner}
<form method="post" action="/login"><input type="hidden" name="csrf_token" value="{token}">
<input name="login"><input name="password" type="password"><button>Sign in</button></form>
{filler}</body></html>"""


@dataclass
class FakeDecidero:
    """Just enough of Decidero's HTTP surface for Caddy and smoke.sh (SPEC §3.5, §3.6, §4.1, §4.14)."""

    users: dict[str, str] = field(default_factory=dict)
    has_admin: bool = True
    secure_cookies: bool = False
    sessions: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)
    stream_closed: threading.Event = field(default_factory=threading.Event)
    port: int = 0


def fake_handler(state: FakeDecidero) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def cookies(self) -> dict[str, str]:
            pairs = (part.strip().partition("=") for part in self.headers.get("Cookie", "").split(";"))
            return {name: value for name, _, value in pairs if name}

        def reply(
            self, status: int, body: bytes = b"", content_type: str = "text/html; charset=utf-8", **headers: str
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def form_page(self) -> None:
            token = os.urandom(8).hex()
            banner = "" if state.has_admin else "<p>FIRST-TIME SETUP REQUIRED</p>"
            page = LOGIN_PAGE.format(banner=banner, token=token, filler="<p>filler</p>" * 100)
            self.reply(200, page.encode(), Set_Cookie=self.cookie(f"pre={token}; HttpOnly; SameSite=Lax; Path=/"))

        def cookie(self, text: str) -> str:
            return f"{text}; Secure" if state.secure_cookies else text

        def form(self) -> dict[str, str] | None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            fields = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
            return fields if fields.get("csrf_token") == self.cookies().get("pre") else None

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            state.requests.append(f"{self.command} {self.path}")
            if self.path == "/health":
                self.reply(200, b'{"status":"healthy","database":"connected"}', "application/json")
            elif self.path in ("/login", "/register"):
                self.form_page()
            elif match := re.fullmatch(r"/meeting/([^/]+)/events", self.path):
                self.events(match.group(1))
            else:
                self.reply(404, b"Not found")

        def do_POST(self) -> None:
            state.requests.append(f"POST {self.path}")
            fields = self.form()
            if fields is None:
                self.reply(403, b"Your form expired. Please reload the page and try again.")
            elif self.path in ("/register", "/api/auth/register"):
                ok = fields.get("password") == fields.get("confirm_password")
                if ok:
                    state.users[fields["login"]] = fields["password"]
                    state.registered.append(fields["login"])
                self.reply(303 if ok else 200, Location="/login")
            elif self.path == "/login" and state.users.get(fields.get("login", "")) == fields.get("password"):
                session = os.urandom(16).hex()
                state.sessions.add(session)
                cookie = f"decidero_session={session}; HttpOnly; SameSite=Lax; Path=/; Max-Age=172800"
                self.reply(303, Location="/dashboard", Set_Cookie=self.cookie(cookie))
            else:
                self.reply(401, b"Incorrect username or password")

        def events(self, meeting: str) -> None:
            if self.cookies().get("decidero_session") not in state.sessions:
                self.reply(401, b"Sign in first")
                return
            if meeting != MEETING:
                self.reply(404, b"Not found")
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache, no-transform")
            self.send_header("X-Accel-Buffering", "no")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            # Over 512 bytes, so a compressor in the path would take it on (and hold it).
            frame = b"retry: 3000\n\nevent: hello\ndata: " + b"p" * 1500 + b"\n\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            self.wfile.flush()
            # Hold the stream open until the other side hangs up, as Decidero does.
            readable, _, _ = select.select([self.connection], [], [], 15)
            if readable:
                state.stream_closed.set()
            self.close_connection = True

    return Handler


@pytest.fixture
def fake_decidero() -> Iterator[FakeDecidero]:
    state = FakeDecidero(users={"dana": "Passw0rd!"})
    server = ThreadingHTTPServer(("127.0.0.1", 0), fake_handler(state))
    server.daemon_threads = True
    state.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def start_caddy(tmp_path: Path, fake_decidero: FakeDecidero) -> Iterator[Callable[[str], str]]:
    """Runs a Caddyfile text in front of the stand-in; returns the base URL."""
    with ExitStack() as stack:
        yield lambda text: stack.enter_context(running_caddy(tmp_path, fake_decidero.port, text))


@pytest.fixture
def caddy(start_caddy: Callable[[str], str]) -> str:
    return start_caddy(CADDYFILE.read_text())


def signed_in(base: str, client: httpx.Client) -> None:
    page = client.get(f"{base}/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    response = client.post(
        f"{base}/login", data={"login": "dana", "password": "Passw0rd!", "csrf_token": token.group(1)}
    )
    assert response.status_code == 303 and "decidero_session" in client.cookies


@needs_caddy
def test_caddy_compresses_pages(caddy: str) -> None:
    response = httpx.get(f"{caddy}/login", headers={"Accept-Encoding": "gzip, zstd"})

    assert response.status_code == 200
    assert response.headers.get("Content-Encoding") in ("gzip", "zstd")
    assert "csrf_token" in response.text


@needs_caddy
def test_caddy_streams_events_uncompressed_and_at_once(caddy: str, fake_decidero: FakeDecidero) -> None:
    with httpx.Client(timeout=5) as client:
        signed_in(caddy, client)
        headers = {"Accept": "text/event-stream", "Accept-Encoding": "gzip, zstd"}
        with client.stream("GET", f"{caddy}/meeting/{MEETING}/events", headers=headers) as response:
            assert response.status_code == 200
            assert "Content-Encoding" not in response.headers
            received = b""
            # The stand-in never ends the stream, so this only passes if Caddy passes the
            # first frame on by itself (a 5 s read timeout fails the test otherwise).
            for chunk in response.iter_raw():
                received += chunk
                if b"event: hello" in received:
                    break
        assert received.startswith(b"retry: 3000\n\nevent: hello\n")


@needs_caddy
def test_caddy_closes_the_upstream_stream_when_the_browser_leaves(caddy: str, fake_decidero: FakeDecidero) -> None:
    with httpx.Client(timeout=5) as client:
        signed_in(caddy, client)
        with client.stream("GET", f"{caddy}/meeting/{MEETING}/events") as response:
            chunks = response.iter_raw()  # held: dropping the iterator closes the connection
            next(chunks)
            assert not fake_decidero.stream_closed.wait(timeout=0.5)

    # Decidero must learn at once that the browser is gone (presence, stream limits);
    # `flush_interval -1` would keep the upstream stream open until its next write fails.
    assert fake_decidero.stream_closed.wait(timeout=5)


@needs_caddy
def test_caddy_without_the_snippet_lets_registration_through(caddy: str, fake_decidero: FakeDecidero) -> None:
    response = httpx.get(f"{caddy}/register")

    assert response.status_code == 200
    assert "GET /register" in fake_decidero.requests


@needs_caddy
def test_block_register_snippet_closes_both_registration_paths(
    start_caddy: Callable[[str], str], fake_decidero: FakeDecidero
) -> None:
    caddy = start_caddy(enable_block_register(CADDYFILE.read_text()))

    for path in ("/register", "/api/auth/register"):
        assert httpx.get(f"{caddy}{path}").status_code == 403
        assert httpx.post(f"{caddy}{path}", data={"login": "eve"}).status_code == 403
    assert httpx.get(f"{caddy}/login").status_code == 200
    assert [r for r in fake_decidero.requests if "register" in r] == []


# -- env template -------------------------------------------------------------------------------


def env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            assert re.fullmatch(r"[A-Z_]+=\S*", line), f"not a plain KEY=value line: {line!r}"
            key, _, value = line.partition("=")
            values[key] = value
    return values


def test_env_example_sets_every_spec_variable_with_a_comment() -> None:
    lines = ENV_EXAMPLE.read_text().splitlines()

    assert list(env_example()) == SPEC_VARIABLES
    for name in SPEC_VARIABLES:
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{name}="))
        assert lines[index - 1].startswith("#"), f"{name} has no comment"


def test_env_example_is_production_and_has_no_usable_secret() -> None:
    values = env_example()

    assert values["DECIDERO_ENV"] == "production"
    assert values["GRAB_ENABLED"] == "false"
    # Left empty, Decidero refuses to start until the operator generates a secret.
    assert values["DECIDERO_JWT_SECRET_KEY"] == ""
    assert "openssl rand -hex 48" in ENV_EXAMPLE.read_text()


def test_env_example_documents_every_setting_decidero_reads() -> None:
    config = pytest.importorskip("decidero.platform.config")
    text = ENV_EXAMPLE.read_text()

    for setting in config.SETTINGS:
        assert setting.name in text


# -- smoke.sh -----------------------------------------------------------------------------------


def smoke(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # The timeout turns a hanging check into a failure; an operator runs this after every change.
    return subprocess.run([str(SMOKE), *args], capture_output=True, text=True, timeout=30, env={**os.environ, **env})


def test_smoke_reports_each_failed_check_against_a_dead_port() -> None:
    result = smoke(f"http://127.0.0.1:{free_port()}")

    assert result.returncode != 0
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert [line.split(":")[0] for line in failures] == [
        "FAIL  GET /health",
        "FAIL  HEAD /health",
        "FAIL  GET /login",
        "FAIL  sign in",
        "FAIL  GET /meeting/none/events",
    ]
    assert "smoke: 0 passed, 5 failed" in result.stdout


def test_smoke_passes_with_an_account_and_a_meeting(fake_decidero: FakeDecidero) -> None:
    # As on the server itself: production cookies are Secure, and curl still keeps them
    # for http://127.0.0.1.
    fake_decidero.secure_cookies = True
    base = f"http://127.0.0.1:{fake_decidero.port}"

    result = smoke(base, "dana", "Passw0rd!", SMOKE_MEETING_ID=MEETING, SMOKE_STREAM_SECONDS="1")

    assert result.returncode == 0, result.stdout
    assert "smoke: 5 passed, 0 failed" in result.stdout
    assert f"ok    event stream of meeting {MEETING} delivers its first frame" in result.stdout
    assert fake_decidero.registered == []


def test_smoke_registers_a_throwaway_account_when_none_is_given(fake_decidero: FakeDecidero) -> None:
    result = smoke(f"http://127.0.0.1:{fake_decidero.port}/")

    assert result.returncode == 0, result.stdout
    [login] = fake_decidero.registered
    assert re.fullmatch(r"smoke-[0-9a-f]{12}", login)
    assert f"ok    sign in as {login} sets the decidero_session cookie" in result.stdout
    assert "ok    event stream endpoint refuses an unknown meeting promptly (HTTP 404)" in result.stdout


def test_smoke_never_claims_the_first_admin_account(fake_decidero: FakeDecidero) -> None:
    fake_decidero.has_admin = False

    result = smoke(f"http://127.0.0.1:{fake_decidero.port}")

    assert result.returncode != 0
    assert "FAIL  sign in: no admin exists yet" in result.stdout
    assert fake_decidero.registered == []


def test_smoke_reports_a_wrong_password(fake_decidero: FakeDecidero) -> None:
    result = smoke(f"http://127.0.0.1:{fake_decidero.port}", "dana", "wrong")

    assert result.returncode != 0
    assert "FAIL  sign in as dana: HTTP 401 without a decidero_session cookie" in result.stdout
    assert "smoke: 4 passed, 1 failed" in result.stdout


@needs_caddy
def test_smoke_passes_through_the_shipped_caddyfile(caddy: str) -> None:
    result = smoke(caddy, "dana", "Passw0rd!", SMOKE_MEETING_ID=MEETING, SMOKE_STREAM_SECONDS="2")

    assert result.returncode == 0, result.stdout
    assert "smoke: 5 passed, 0 failed" in result.stdout


# -- HOSTING.md ---------------------------------------------------------------------------------


def test_hosting_guide_quotes_every_startup_failure_and_variable() -> None:
    guide = HOSTING.read_text()

    for text in [*STARTUP_FAILURES, *SPEC_VARIABLES, "openssl rand -hex 48", "FIRST-TIME SETUP REQUIRED"]:
        assert text in guide, text


def test_hosting_guide_only_points_at_files_that_exist() -> None:
    mentioned = set(re.findall(r"deploy/[\w.@-]+", HOSTING.read_text()))

    assert mentioned
    assert [name for name in sorted(mentioned) if not (DEPLOY.parent / name).exists()] == []
