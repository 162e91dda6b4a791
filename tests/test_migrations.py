"""Startup upgrades an older decidero.db without losing data (SPEC §3.3)."""

from __future__ import annotations

import logging
from pathlib import Path

from conftest import PASSWORD, base_env, register, sign_in
from starlette.testclient import TestClient

from decidero.app import create_app
from decidero.platform.accounts import create_user
from decidero.platform.db import Database
from decidero.platform.migrations import current_version
from decidero.platform.models import User
from decidero.platform.passwords import hash_password
from decidero.schema import LATEST, migrate


def _version(database: Database) -> int:
    return database.read_sync(lambda: current_version(database.peewee))


def _tables(database: Database) -> dict[str, list[str]]:
    db = database.peewee
    return database.read_sync(lambda: {t: [c.name for c in db.get_columns(t)] for t in sorted(db.get_tables())})


def test_a_version_1_database_is_upgraded_at_startup_and_keeps_its_users(tmp_path: Path) -> None:
    database = Database(tmp_path / "decidero.db")
    assert migrate(database, target=1) == 1
    password_hash = hash_password(PASSWORD)
    database.write_sync(lambda: create_user(login="veteran", password_hash=password_hash, role="super_admin"))
    database.close()

    app = create_app(base_env(tmp_path, LOG_LEVEL="INFO"), cwd=tmp_path)
    with TestClient(app, follow_redirects=False) as client:
        assert _version(app.state.services.db) == LATEST
        assert sign_in(client, "veteran").status_code == 303
        assert client.get("/dashboard").status_code == 200
        users = app.state.services.db.read_sync(lambda: [u.login for u in User.select()])
        assert users == ["veteran"]
    app_log = (tmp_path / "logs" / "app.log").read_text()
    assert "Applying schema step 2 (" in app_log
    assert "Applying schema step 1 (" not in app_log  # "step 10" is a later step, not step 1


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_migrating_twice_changes_nothing(tmp_path: Path) -> None:
    database = Database(tmp_path / "decidero.db")
    logger, collect = logging.getLogger("decidero.migrations"), _Collect()
    try:
        assert migrate(database) == LATEST
        database.write_sync(lambda: create_user(login="keeper", password_hash=None))
        tables = _tables(database)
        logger.addHandler(collect)
        logger.setLevel(logging.INFO)
        assert migrate(database) == LATEST
        assert not [m for m in collect.messages if "Applying schema step" in m]
        assert _tables(database) == tables
        assert database.read_sync(lambda: [u.login for u in User.select()]) == ["keeper"]
    finally:
        logger.removeHandler(collect)
        logger.setLevel(logging.NOTSET)
        database.close()


def test_restarting_on_an_up_to_date_database_keeps_everything(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    with TestClient(create_app(env, cwd=tmp_path), follow_redirects=False) as client:
        assert register(client, "boss").status_code == 303
    app = create_app(env, cwd=tmp_path)
    with TestClient(app, follow_redirects=False) as client:
        assert sign_in(client, "boss").status_code == 303
        assert _version(app.state.services.db) == LATEST
