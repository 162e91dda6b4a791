"""Moving an existing SQLite install to Postgres (issue 18; deploy/HOSTING.md, "Moving to Postgres")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import ROOT, base_env, post_form, running_server, sign_in
from helpers_brainstorming import board_rows, control, seed_brainstorm
from helpers_meetings import add_people, second_handle
from starlette.testclient import TestClient

from bench.postgres import TEMPLATE
from decidero.app import create_app
from decidero.meetings import event_log
from decidero.platform.db import PostgresDatabase

PEOPLE = {"owner": "facilitator", "pat": "participant", "quinn": "participant"}


def move(source: Path, *target: str) -> subprocess.CompletedProcess[str]:
    """The command as operators run it; ``target``: ``--to URL`` or ``--env-file PATH``."""
    env = {k: v for k, v in os.environ.items() if k != "DECIDERO_DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "decidero.move_to_postgres", "--from", str(source), *target],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def seeded_sqlite(tmp_path: Path) -> tuple[Path, str, str]:
    """An install used through the app: accounts, a meeting, ideas submitted over HTTP, a reply."""
    with TestClient(create_app(base_env(tmp_path), cwd=tmp_path), follow_redirects=False) as client:
        db = client.app.state.services.db  # type: ignore[attr-defined]
        people = add_people(db, PEOPLE)
        meeting = seed_brainstorm(db, "owner", ["pat", "quinn"], rounds=[("Ideas", {"allow_comments": True})])
        control(db, meeting.activities[0], "start")
        url = f"{meeting.url}/activities/{meeting.activities[0]}/ideas"
        pat = TestClient(client.app, follow_redirects=False, cookies=people["pat"].cookies, headers=people["pat"].headers)
        for n in range(3):
            assert pat.post(url, data={"content": f"Moved idea {n}", "client_token": f"k{n}"}).status_code == 303
        assert pat.post(url, data={"content": "A reply", "client_token": "r", "parent": "1"}).status_code == 303
    return tmp_path / "decidero.db", meeting.id, meeting.activities[0]


def test_an_install_moves_to_postgres_and_the_app_serves_it_there(tmp_path: Path, postgres_server: Any) -> None:
    source, meeting_id, activity_id = seeded_sqlite(tmp_path / "old")
    with second_handle(source) as old:
        events_before = old.read_sync(lambda: event_log.latest_id(meeting_id))
    url = postgres_server.create_database()
    # The service's settings already name the new database; the command takes the URL from there.
    settings = tmp_path / "decidero.env"
    settings.write_text(f"DECIDERO_ENV=production\nDECIDERO_DATABASE_URL={url}\n")

    done = move(source, "--env-file", str(settings))

    assert done.returncode == 0, done.stderr
    assert "counts match" in done.stdout
    assert "idea " in done.stdout and "meeting_event" in done.stdout
    (tmp_path / "new").mkdir()
    with running_server(tmp_path / "new", url) as server, server.client() as browser:
        assert sign_in(browser, "pat").status_code == 303  # the password hash came along
        page = browser.get(f"/meeting/{meeting_id}")
        assert page.status_code == 200
        rows = [(r.label, r.text) for r in board_rows(page, activity_id)]
        assert rows == [("3", "Moved idea 2"), ("2", "Moved idea 1"), ("1", "Moved idea 0"), ("1.1", "A reply")]
        # New rows continue after the copied ids: a new idea and its event get fresh ones.
        ideas = f"/meeting/{meeting_id}/activities/{activity_id}/ideas"
        answer = post_form(browser, ideas, {"content": "After the move", "client_token": "new"}, page=f"/meeting/{meeting_id}")
        assert answer.status_code == 303, answer.text[:300]
        assert ("4", "After the move") in [(r.label, r.text) for r in board_rows(browser.get(f"/meeting/{meeting_id}"), activity_id)]
    moved = PostgresDatabase(url)
    try:
        newest = moved.read_sync(lambda: event_log.latest_id(meeting_id))
    finally:
        moved.close()
    assert newest > events_before


def test_a_target_that_is_not_empty_is_refused_and_left_as_it_was(tmp_path: Path, postgres_server: Any) -> None:
    source, _, _ = seeded_sqlite(tmp_path)
    url = postgres_server.create_database(template=TEMPLATE)  # already holds a schema
    name = url.rsplit("/", 1)[1]
    tables = postgres_server.sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", name)

    done = move(source, "--to", url)

    assert done.returncode == 1
    assert "Move refused: The target database" in done.stderr and "is not empty" in done.stderr
    assert postgres_server.sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", name) == tables
    assert postgres_server.sql('SELECT count(*) FROM "user"', name) == "0"


def test_a_missing_source_or_a_sqlite_target_is_refused_with_a_message(tmp_path: Path, postgres_server: Any) -> None:
    missing = move(tmp_path / "nothing.db", "--to", postgres_server.create_database())
    assert missing.returncode == 1
    assert f"Move refused: No SQLite database at {tmp_path / 'nothing.db'}" in missing.stderr

    wrong = move(tmp_path / "nothing.db", "--to", f"sqlite:///{tmp_path / 'other.db'}")
    assert wrong.returncode == 1
    assert "Move refused: --to must be a postgresql:// URL" in wrong.stderr
