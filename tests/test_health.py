"""GET/HEAD /health as the operator's checks and Caddy see it (SPEC §3.5, S21.1)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from conftest import LiveServer, base_env
from starlette.testclient import TestClient

HEALTHY = {"status": "healthy", "database": "connected"}


@contextmanager
def _database_file_gone(path: Path) -> Iterator[None]:
    """The database file disappears (unmounted volume, deleted file), then comes back."""
    hidden = path.with_name("moved-away.db")
    path.rename(hidden)
    try:
        yield
    finally:
        hidden.rename(path)


def _raw_head(url: str) -> bytes:
    """HEAD over a plain socket, so nothing hides a body the server might send."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"HEAD /health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_health_reports_healthy_without_signing_in(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == HEALTHY
    assert response.text == json.dumps(HEALTHY, separators=(",", ":"))


def test_head_health_answers_the_same_status_without_a_body(client: TestClient) -> None:
    get, head = client.get("/health"), client.head("/health")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]


def test_health_answers_503_while_the_database_is_unreachable(client: TestClient, tmp_path: Path) -> None:
    with _database_file_gone(tmp_path / "decidero.db"):
        for response in (client.get("/health"), client.head("/health")):
            assert response.status_code == 503
            assert response.headers["retry-after"] == "5"
        body = client.get("/health").json()
        assert body["status"] == "unhealthy"
        assert body["database"] == "unreachable"
        assert body["detail"]
        assert set(body) == {"status", "database", "detail"}
    assert client.get("/health").json() == HEALTHY


def test_live_server_health_over_real_http_and_quiet_at_info(tmp_path: Path) -> None:
    server = LiveServer(cwd=tmp_path, env=base_env(tmp_path, LOG_LEVEL="INFO"))
    server.start()
    try:
        with server.client() as http:
            for _ in range(3):
                assert http.get("/health").json() == HEALTHY
            head = _raw_head(server.url)
            assert head.startswith(b"HTTP/1.1 200 ")
            assert head.endswith(b"\r\n\r\n")
            with _database_file_gone(tmp_path / "decidero.db"):
                assert http.get("/health").status_code == 503
                assert _raw_head(server.url).startswith(b"HTTP/1.1 503 ")
            assert http.get("/health").status_code == 200
            assert http.get("/login").status_code == 200
    finally:
        server.stop()
    logged = (tmp_path / "logs" / "app.log").read_text() + (tmp_path / "server.out").read_text()
    assert "GET /login" in logged
    assert "/health" not in logged


def test_health_is_not_logged_even_when_unhealthy(client: TestClient, tmp_path: Path) -> None:
    with _database_file_gone(tmp_path / "decidero.db"):
        assert client.get("/health").status_code == 503
    assert "/health" not in (tmp_path / "logs" / "app.log").read_text()


def test_health_is_served_on_a_fresh_database(tmp_path: Path) -> None:
    server = LiveServer(cwd=tmp_path, env=base_env(tmp_path))
    server.start()
    try:
        assert httpx.head(server.url + "/health").status_code == 200
    finally:
        server.stop()
