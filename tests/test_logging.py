"""What lands in logs/app.log and logs/error.log (SPEC §3.7, §5.1, S21.3)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from bs4 import BeautifulSoup
from conftest import SECRET, LiveServer, base_env, csrf_token, post_form, register, sign_in, sign_up_and_in
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from decidero.app import create_app
from decidero.platform.config import DEV_SECRET_WARNING
from decidero.platform.models import User


def _app_client(tmp_path: Path, **env: str) -> TestClient:
    return TestClient(create_app(base_env(tmp_path, **env), cwd=tmp_path), follow_redirects=False)


def _levels(log_file: Path) -> set[str]:
    return set(re.findall(r" - (DEBUG|INFO|WARNING|ERROR|CRITICAL) - ", log_file.read_text()))


def _user_id(client: TestClient, login: str) -> str:
    db = client.app.state.services.db  # type: ignore[attr-defined]
    return str(db.read_sync(lambda: User.get(User.login == login).id))


def _sign_in_and_browse(client: TestClient | httpx.Client) -> None:
    sign_up_and_in(client, "boss")
    assert client.get("/dashboard").status_code == 200


def test_warning_level_keeps_info_out_of_app_log(tmp_path: Path) -> None:
    with _app_client(tmp_path, LOG_LEVEL="WARNING") as client:
        _sign_in_and_browse(client)
    levels = _levels(tmp_path / "logs" / "app.log")
    assert not levels & {"DEBUG", "INFO"}


def test_info_level_logs_requests_but_no_debug_lines(tmp_path: Path) -> None:
    with _app_client(tmp_path, LOG_LEVEL="info") as client:
        _sign_in_and_browse(client)
    app_log = (tmp_path / "logs" / "app.log").read_text()
    assert re.search(r"decidero\.access - INFO - GET /dashboard 200 ", app_log)
    assert "DEBUG" not in _levels(tmp_path / "logs" / "app.log")


def test_debug_level_adds_debug_lines(tmp_path: Path) -> None:
    with _app_client(tmp_path, LOG_LEVEL="DEBUG") as client:
        _sign_in_and_browse(client)
    assert {"DEBUG", "INFO"} <= _levels(tmp_path / "logs" / "app.log")


def _console_and_app_log_of_a_real_server(tmp_path: Path, **env: str) -> tuple[str, str]:
    """uvicorn started as the systemd unit does; its console is what journald would receive."""
    server = LiveServer(cwd=tmp_path, env=base_env(tmp_path, **env))
    server.start()
    try:
        with server.client() as browser:
            _sign_in_and_browse(browser)
    finally:
        server.stop()
    return (tmp_path / "server.out").read_text(), (tmp_path / "logs" / "app.log").read_text()


def test_log_level_warning_quiets_the_console_and_app_log_of_a_real_server(tmp_path: Path) -> None:
    # No secret in development: the one WARNING Decidero writes at startup must still get through.
    console, app_log = _console_and_app_log_of_a_real_server(tmp_path, LOG_LEVEL="warning", DECIDERO_JWT_SECRET_KEY="")
    for text in (console, app_log):
        assert f"decidero - WARNING - {DEV_SECRET_WARNING}" in text
        assert not re.search(r" - (INFO|DEBUG) - |^(INFO|DEBUG):", text, re.MULTILINE), text[-2000:]


def test_log_level_debug_reaches_the_console_and_app_log_of_a_real_server(tmp_path: Path) -> None:
    console, app_log = _console_and_app_log_of_a_real_server(tmp_path, LOG_LEVEL="DEBUG")
    for text in (console, app_log):
        assert " - decidero.db - DEBUG - " in text
        assert re.search(r"decidero\.access - INFO - GET /dashboard 200 ", text)
        assert "uvicorn.error - INFO - Started server process" in text


def test_error_log_holds_only_errors(tmp_path: Path) -> None:
    with _app_client(tmp_path, LOG_LEVEL="DEBUG") as client:
        _sign_in_and_browse(client)
    assert (tmp_path / "logs" / "error.log").read_text() == ""


def test_rotation_keeps_log_backup_count_files_and_prunes_extra_ones(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    for n in (1, 2, 3, 7):
        (logs / f"app.log.{n}").write_text("left over from a larger LOG_BACKUP_COUNT\n")
    with _app_client(tmp_path, LOG_LEVEL="INFO", LOG_MAX_BYTES="1024", LOG_BACKUP_COUNT="2") as client:
        assert sorted(p.name for p in logs.glob("app.log.*")) == ["app.log.1", "app.log.2"]
        for _ in range(40):
            client.get("/login")
    assert sorted(p.name for p in logs.iterdir()) == ["app.log", "app.log.1", "app.log.2", "error.log"]
    assert all(p.stat().st_size <= 1024 for p in logs.iterdir())
    assert "GET /login 200" in (logs / "app.log.1").read_text()


def test_an_unhandled_error_shows_its_id_and_logs_the_traceback_under_it(tmp_path: Path) -> None:
    async def boom(request: Request) -> Response:
        raise RuntimeError("kaboom-internal-detail")

    app = create_app(base_env(tmp_path), cwd=tmp_path)
    app.router.routes.insert(0, Route("/boom", boom))
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    message = BeautifulSoup(response.text, "html.parser").select_one(".error-message")
    assert message is not None
    match = re.fullmatch(r"Something went wrong\. The error has been logged\. Error id: (\w+)", message.text.strip())
    assert match, message.text
    assert "kaboom-internal-detail" not in response.text
    assert "Traceback" not in response.text
    error_log = (tmp_path / "logs" / "error.log").read_text()
    assert f"error id {match.group(1)}" in error_log
    assert "Traceback (most recent call last)" in error_log
    assert "RuntimeError: kaboom-internal-detail" in error_log


def test_admin_posts_are_audited_with_secret_fields_masked(tmp_path: Path) -> None:
    with _app_client(tmp_path, LOG_LEVEL="INFO") as client:
        register(client, "boss")
        register(client, "pat")
        sign_in(client, "boss")
        pat = _user_id(client, "pat")
        response = post_form(client, f"/admin/users/{pat}/reset-password", {"password": "Fresh-Passw0rd!"})
        assert response.status_code == 303
    app_log = (tmp_path / "logs" / "app.log").read_text()
    line = next(line for line in app_log.splitlines() if " - audit - " in line and "reset-password" in line)
    assert f"POST /admin/users/{pat}/reset-password 303 user=boss role=super_admin" in line
    assert "'password': '***'" in line
    assert "'csrf_token': '***'" in line
    assert "Fresh-Passw0rd!" not in app_log


def test_no_password_cookie_or_secret_reaches_any_log(tmp_path: Path) -> None:
    server = LiveServer(cwd=tmp_path, env=base_env(tmp_path, LOG_LEVEL="DEBUG"))
    server.start()
    passwords = ["Boss-Passw0rd!", "Pat-Passw0rd!", "Reset-Passw0rd!", "Chosen-Passw0rd!"]
    seen_values: list[str] = []
    try:
        with server.client() as admin, server.client() as pat:
            assert register(admin, "boss", passwords[0]).status_code == 303
            assert register(pat, "pat", passwords[1]).status_code == 303
            assert sign_in(admin, "boss", passwords[0]).status_code == 303
            assert sign_in(pat, "pat", passwords[1]).status_code == 303
            seen_values += [admin.cookies["decidero_session"], pat.cookies["decidero_session"]]
            seen_values += [admin.cookies["decidero_presession"], csrf_token(admin, "/dashboard")]
            page = BeautifulSoup(admin.get("/admin/users").text, "html.parser")
            row = page.select_one('tr[data-login="pat"]')
            assert row is not None
            pat_id = str(row["id"]).removeprefix("user-")
            reset = post_form(admin, f"/admin/users/{pat_id}/reset-password", {"password": passwords[2]})
            assert reset.status_code == 303
            assert sign_in(pat, "pat", passwords[2]).status_code == 303
            change = post_form(
                pat,
                "/profile/password",
                {"current_password": passwords[2], "new_password": passwords[3], "confirm_password": passwords[3]},
                page="/profile/password",
            )
            assert change.status_code == 303
            assert sign_in(admin, "boss", "Wrong-Passw0rd!").status_code == 401
            assert sign_in(admin, "boss", passwords[0]).status_code == 303
            post_form(admin, "/admin/users/batch/pattern", {"prefix": "p", "start": "1", "end": "2", "password": "Batch-Passw0rd!", "role": "participant"})
    finally:
        server.stop()
    logs = {path.name: path.read_text() for path in (tmp_path / "logs").iterdir()}
    logs["console"] = (tmp_path / "server.out").read_text()
    assert " - DEBUG - " in logs["app.log"]
    for name, text in logs.items():
        for value in [*passwords, "Wrong-Passw0rd!", "Batch-Passw0rd!", SECRET, *seen_values]:
            assert value not in text, f"{value!r} appears in {name}"
