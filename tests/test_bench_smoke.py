"""The load benchmark's driver works end to end: five people against a real server for a few seconds.

Only correctness is asserted (no errors, nothing lost or duplicated, figures present); timings are
what ``just bench`` reports, never what a test checks.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TOOLS_REQUIRED
from redis_helpers import needs_redis

from bench import metrics, postgres, submits
from bench.__main__ import run_once
from bench.driver import Options

NO_POSTGRES = pytest.mark.skipif(not postgres.available() and not TOOLS_REQUIRED, reason="Postgres is not installed")


@pytest.mark.parametrize(
    ("backend", "workers"),
    [
        ("sqlite", 1),
        pytest.param("postgres", 1, marks=NO_POSTGRES),
        pytest.param("sqlite", 2, marks=needs_redis),
        pytest.param("postgres", 2, marks=[NO_POSTGRES, needs_redis]),
    ],
)
def test_bench_driver_runs_five_people_without_errors_or_lost_events(tmp_path: Path, backend: str, workers: int) -> None:
    """With two workers (and a redis-server) every stream is on the other worker than its person's
    requests, so every delivery crossed between them."""
    options = Options(profile="burst", participants=5, duration=8.0, vote_window=4.0, ramp=1.0, seed=7)

    result = run_once(options, backend=backend, workers=workers)
    json_path, md_path = metrics.write(result, tmp_path)
    saved = json.loads(json_path.read_text())

    assert saved["errors_total"] == 0, (saved["errors_by_status"], saved["notes"])
    assert saved["streams"]["connected"] == saved["streams"]["expected"] == 6
    assert saved["events"]["lost"] == 0, saved["events"]["worst_receiver"]
    assert saved["events"]["duplicated"] == 0
    assert saved["events"]["delivered"] > 0
    for kind in ("login", "page", "stream"):
        assert saved["requests"][kind]["count"] > 0
        assert saved["requests"][kind]["p95"] >= 0
    writes = "idea" if saved["mode"] == "ideas" else "control"
    assert saved["requests"][writes]["count"] > 0
    assert saved["fanout_ms"]["count"] > 0 and "p95" in saved["fanout_ms"]
    assert saved["delivery_ms"]["count"] > 0
    assert saved["server"]["samples"] and saved["driver"]["cpu_seconds"] >= 0
    assert saved["server"]["accept_queue_max"] is not None  # every worker's listener was found and read
    assert "| Accept queue max" in md_path.read_text()
    # How fast and how busy the machine was, so a slow run can be told from a slow build.
    machine = saved["machine"]
    assert 0 < machine["busy_percent"] <= 100 and 0 <= machine["steal_percent"] <= 100
    assert all(ms > 0 for ms in machine["cpu_check_ms"]) and len(machine["cpu_check_ms"]) == 2
    assert "| Machine (all cores" in md_path.read_text()
    assert "| Request |" in md_path.read_text()
    assert saved["backend"] == backend
    assert saved["server"]["workers"] == workers and saved["server"]["redis"] == (workers > 1)
    # What a submission costs in every process it passes through, not only in the servers.
    helpers = saved["helpers"]
    assert set(helpers) == {name for name, used in (("Postgres", backend == "postgres"), ("Redis", workers > 1)) if used}
    if "Postgres" in helpers:  # its backends, one process per connection, are counted with it
        assert helpers["Postgres"]["cpu_percent_mean_measured"] > 0
    named = " / ".join(["server", *sorted(helpers), "driver"])
    assert f"| CPU while measuring ({named}), in % of a core and in ms per submission" in md_path.read_text()


@pytest.mark.parametrize(
    ("backend", "workers", "meetings"),
    [("sqlite", 1, 1), pytest.param("postgres", 2, 2, marks=[NO_POSTGRES, needs_redis])],
)
def test_the_write_ceiling_benchmark_stores_every_submission_once(backend: str, workers: int, meetings: int) -> None:
    """``python -m bench.submits --at-once``: participants submitting without pause, spread over the
    workers and shared out over the meetings; every submission is answered and logged once."""
    figures = submits.measure(backend, count=40, at_once=6, workers=workers, meetings=meetings)

    logged = figures["logged"]
    assert len(logged) == meetings and all(n > 0 for n in logged)
    assert sum(logged) == 40 + submits.WARM_UP
    assert figures["per_second"] > 0 and 0 < figures["p50"] <= figures["p95"] <= figures["p99"]
