"""Size-based rotation of logs/app.log and logs/error.log (SPEC §3.2, §3.7; issue 3).

test_logging.py covers levels, formats, redaction and the in-process rotation of app.log. Here:
a real uvicorn server started as the service starts it, with leftovers from an earlier, larger
LOG_BACKUP_COUNT in logs/; errors rotating error.log; and LOG_BACKUP_COUNT=0.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from conftest import LiveServer, base_env
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from decidero.app import create_app

TINY = {"LOG_LEVEL": "INFO", "LOG_MAX_BYTES": "1024", "LOG_BACKUP_COUNT": "2"}
LEFTOVER = "left over from LOG_BACKUP_COUNT=9\n"


def names(logs: Path, stem: str) -> list[str]:
    return sorted(path.name for path in logs.glob(f"{stem}*"))


def contents(logs: Path, stem: str) -> str:
    return "".join(path.read_text() for path in sorted(logs.glob(f"{stem}*")))


def leave_old_rotations(logs: Path) -> None:
    logs.mkdir()
    for stem, count in (("app.log", 6), ("error.log", 9)):
        for n in range(1, count + 1):
            (logs / f"{stem}.{n}").write_text(LEFTOVER)
    (logs / "app.log.bak").write_text("an operator's own copy\n")  # not a rotation: kept


def test_a_real_server_prunes_old_rotations_at_startup_and_keeps_rotating(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    leave_old_rotations(logs)
    server = LiveServer(cwd=tmp_path, env=base_env(tmp_path, **TINY))
    server.start()
    try:
        # Pruned before the first request: only LOG_BACKUP_COUNT rotated files per log remain.
        assert names(logs, "app.log.") == ["app.log.1", "app.log.2", "app.log.bak"]
        assert names(logs, "error.log.") == ["error.log.1", "error.log.2"]

        with server.client() as client:
            for n in range(40):
                assert client.get(f"/login?n={n}").status_code == 200
    finally:
        server.stop()

    assert names(logs, "app.log") == ["app.log", "app.log.1", "app.log.2", "app.log.bak"]
    assert names(logs, "error.log") == ["error.log", "error.log.1", "error.log.2"]
    for name in ("app.log", "app.log.1", "app.log.2"):
        assert 0 < (logs / name).stat().st_size <= 1024, name
    # Enough rotations happened that the leftovers are gone and only recent requests remain.
    assert LEFTOVER not in contents(logs, "app.log.")
    assert "GET /login 200" in (logs / "app.log.2").read_text()
    kept = contents(logs, "app.log")
    assert "Decidero stopped" in (logs / "app.log").read_text()
    assert "n=39" not in kept  # query strings are never logged; paths are
    assert len(re.findall(r"GET /login 200", kept)) < 40
    # Nothing below ERROR reaches error.log.
    assert "INFO" not in (logs / "error.log").read_text()


def _boom(request: Request) -> Response:
    raise RuntimeError(f"boom number {request.query_params['n']}")


def app_with_errors(tmp_path: Path, **env: str) -> Iterator[TestClient]:
    app = create_app(base_env(tmp_path, **env), cwd=tmp_path)
    app.router.routes.insert(0, Route("/boom", _boom))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_errors_land_in_error_log_which_rotates_and_keeps_its_backup_count(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    for client in app_with_errors(tmp_path, **TINY):
        for n in range(1, 7):
            assert client.get(f"/boom?n={n}").status_code == 500
        assert client.get("/login").status_code == 200

    assert names(logs, "error.log") == ["error.log", "error.log.1", "error.log.2"]
    errors = contents(logs, "error.log")
    # Each traceback is over LOG_MAX_BYTES, so every error starts a new file: the newest three are kept.
    assert "RuntimeError: boom number 6" in (logs / "error.log").read_text()
    assert "RuntimeError: boom number 5" in (logs / "error.log.1").read_text()
    assert "RuntimeError: boom number 4" in (logs / "error.log.2").read_text()
    assert "boom number 3" not in errors
    assert "Traceback (most recent call last)" in (logs / "error.log").read_text()
    assert re.search(r" - decidero - ERROR - Unhandled error \(error id \w+\) on GET /boom", errors)
    assert " - INFO - " not in errors


def test_zero_backups_still_caps_the_file_size(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    for client in app_with_errors(tmp_path, LOG_LEVEL="INFO", LOG_MAX_BYTES="1024", LOG_BACKUP_COUNT="0"):
        for n in range(40):
            client.get(f"/login?n={n}")
        client.get("/boom?n=1")
        client.get("/boom?n=2")

    assert names(logs, "app.log") == ["app.log"]
    assert names(logs, "error.log") == ["error.log"]
    assert (logs / "app.log").stat().st_size <= 1024 + 2048  # at most the limit plus one traceback
    error_log = (logs / "error.log").read_text()
    assert "boom number 2" in error_log and "boom number 1" not in error_log

