"""/metrics without Redis, in process: who may read it, and labels that name routes, not paths.

The two-worker tests (test_workers.py) cover it behind Caddy, with the token and with Redis.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import base_env
from starlette.testclient import TestClient

from decidero.app import create_app

TOKEN = "a-metrics-token-long-enough-0123456789"


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(base_env(tmp_path, DECIDERO_METRICS_TOKEN=TOKEN), cwd=tmp_path)
    with TestClient(app, follow_redirects=False, client=("127.0.0.1", 50000)) as client:
        yield client


def counts(text: str) -> dict[str, float]:
    prefix = "decidero_http_request_duration_seconds_count{"
    return {line[len(prefix) - 1 : line.rindex(" ")]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)}


def test_request_latency_is_labelled_by_route_template_never_by_raw_path(app_client: TestClient) -> None:
    app_client.get("/meeting/MTG20260101-AAAA")
    app_client.get("/meeting/MTG20260101-BBBB")
    app_client.get("/no/such/page/1")
    app_client.get("/no/such/page/2")
    app_client.get("/static/css/app.css")

    seen = counts(app_client.get("/metrics").text)

    assert seen['{method="GET",route="/meeting/{mid}",status="303"}'] == 2  # signed out: to /login
    assert seen['{method="GET",route="unmatched",status="404"}'] == 2
    assert seen['{method="GET",route="/static/{path}",status="200"}'] == 1
    assert not any("MTG2026" in labels or "/no/such" in labels for labels in seen)


def test_metrics_refuse_a_client_that_is_not_loopback_unless_it_holds_the_token(tmp_path: Path) -> None:
    app = create_app(base_env(tmp_path, DECIDERO_METRICS_TOKEN=TOKEN), cwd=tmp_path)
    with TestClient(app, client=("203.0.113.7", 40000)) as remote:
        refused = remote.get("/metrics")
        allowed = remote.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        lowercase = remote.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"})
        wrong = remote.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"})

    assert refused.status_code == wrong.status_code == 403
    assert "DECIDERO_METRICS_TOKEN" in refused.text
    assert allowed.status_code == lowercase.status_code == 200
    assert "decidero_redis_connected 1.0" in allowed.text  # no Redis configured: nothing to miss


@pytest.mark.parametrize(
    ("peer", "headers", "status"),
    [
        ("::1", {}, 200),
        ("127.0.0.1", {"Forwarded": "for=198.51.100.4"}, 403),  # came through a proxy
        ("10.0.0.2", {"Authorization": "Bearer "}, 403),  # no token set: an empty one opens nothing
    ],
)
def test_without_a_token_loopback_is_the_only_way_in(tmp_path: Path, peer: str, headers: dict[str, str], status: int) -> None:
    with TestClient(create_app(base_env(tmp_path), cwd=tmp_path), client=(peer, 40000)) as client:
        assert client.get("/metrics", headers=headers).status_code == status


@pytest.mark.both_backends
def test_a_scrape_reports_the_write_queue_and_write_conflicts_on_either_backend(app_env: dict[str, str], tmp_path: Path) -> None:
    with TestClient(create_app(app_env, cwd=tmp_path), client=("127.0.0.1", 40000)) as client:
        scraped = client.get("/metrics")

    assert scraped.status_code == 200
    assert "decidero_db_write_queue 0.0" in scraped.text  # nothing waits once the app has started
    assert "# TYPE decidero_db_write_conflicts_total counter" in scraped.text
    assert "decidero_db_write_conflicts_total 0.0" in scraped.text  # nothing has collided yet
