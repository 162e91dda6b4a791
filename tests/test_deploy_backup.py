"""deploy/backup.sh, deploy/restore.sh and the cron line, run for real against temp files."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from caddy_helpers import needs_tool

from bench.postgres import TEMPLATE

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
BACKUP = DEPLOY / "backup.sh"
RESTORE = DEPLOY / "restore.sh"

pytestmark = needs_tool("sqlite3", "sqlite3")


def run_backup(db: Path, backup_dir: Path, keep: int = 14, timeout: float = 5) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if k != "DECIDERO_DATABASE_URL"},
        "DECIDERO_ENV_FILE": str(db.parent / "no-settings.env"),  # never this machine's service settings
        "DECIDERO_DB_PATH": str(db),
        "DECIDERO_BACKUP_DIR": str(backup_dir),
        "DECIDERO_BACKUP_KEEP": str(keep),
    }
    return subprocess.run([str(BACKUP)], env=env, capture_output=True, text=True, timeout=timeout)


def backups_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("decidero-*.db"))


def make_db(path: Path, rows: int, row_size: int = 100) -> None:
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE idea (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        db.executemany("INSERT INTO idea (body) VALUES (?)", (("x" * row_size,) for _ in range(rows)))
    db.close()


def integrity(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


class Writer(threading.Thread):
    """Commits one row at a time like Decidero's write path and records each acknowledged id."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.acknowledged = 0
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            while not self.stop.is_set():
                cursor = db.execute("INSERT INTO idea (body) VALUES (?)", ("y" * 200,))
                self.acknowledged = int(cursor.lastrowid or 0)
                # A commit every millisecond or so: a busy meeting, with margin.
                self.stop.wait(0.001)
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc
        finally:
            db.close()

    def wait_for_rows(self, count: int, deadline: float = 10) -> None:
        end = time.monotonic() + deadline
        while self.acknowledged < count:
            assert self.error is None, self.error
            assert time.monotonic() < end, f"writer acknowledged only {self.acknowledged} rows"
            time.sleep(0.01)


@pytest.fixture
def busy_db(tmp_path: Path) -> Iterator[tuple[Path, Writer]]:
    db = tmp_path / "decidero.db"
    # About 16 MB: big enough that an online backup which restarts on every commit would
    # not finish within the timeout under the writer below.
    make_db(db, rows=16000, row_size=1000)
    writer = Writer(db)
    writer.start()
    yield db, writer
    writer.stop.set()
    writer.join(timeout=10)
    assert writer.error is None, writer.error


def test_backup_under_load_holds_every_acknowledged_write(busy_db: tuple[Path, Writer], tmp_path: Path) -> None:
    db, writer = busy_db
    writer.wait_for_rows(16000 + 20)
    acknowledged_before = writer.acknowledged

    result = run_backup(db, tmp_path / "backups")

    assert result.returncode == 0, result.stderr
    writer.wait_for_rows(writer.acknowledged + 5)  # the writer kept committing throughout
    [name] = backups_in(tmp_path / "backups")
    copy = tmp_path / "backups" / name
    assert integrity(copy) == "ok"
    with sqlite3.connect(copy) as check:
        present = check.execute("SELECT count(*) FROM idea WHERE id <= ?", (acknowledged_before,)).fetchone()[0]
    check.close()
    assert present == acknowledged_before
    assert f"wrote {copy}" in result.stdout


def test_backup_names_copies_by_utc_time_and_keeps_them_private(tmp_path: Path) -> None:
    db = tmp_path / "decidero.db"
    make_db(db, rows=10)

    result = run_backup(db, tmp_path / "backups")

    assert result.returncode == 0, result.stderr
    [name] = backups_in(tmp_path / "backups")
    stamp = name.removeprefix("decidero-").removesuffix(".db")
    assert time.strftime("%Y%m%dT", time.gmtime()) in stamp and stamp.endswith("Z")
    assert (tmp_path / "backups" / name).stat().st_mode & 0o077 == 0
    assert [p.name for p in (tmp_path / "backups").iterdir()] == [name]  # no partial or -wal left over


def test_backup_prunes_to_the_newest_keep_copies(tmp_path: Path) -> None:
    db = tmp_path / "decidero.db"
    make_db(db, rows=10)
    backup_dir = tmp_path / "backups"
    backup_dir.mkdir()
    older = [f"decidero-2024010{day}T023000.000Z.db" for day in range(1, 6)]
    for name in older:
        shutil.copy(db, backup_dir / name)
    (backup_dir / "notes.txt").write_text("not a backup")

    result = run_backup(db, backup_dir, keep=3)

    assert result.returncode == 0, result.stderr
    kept = backups_in(backup_dir)
    assert len(kept) == 3
    assert kept[:2] == older[-2:]
    assert kept[2].startswith(time.strftime("decidero-%Y", time.gmtime()))
    assert (backup_dir / "notes.txt").exists()
    for name in older[:3]:
        assert f"pruned {backup_dir / name}" in result.stdout


def test_backup_flags_a_copy_that_fails_the_integrity_check(tmp_path: Path) -> None:
    db = tmp_path / "decidero.db"
    make_db(db, rows=2000, row_size=60)
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE INDEX idea_body ON idea (body)")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(db.read_bytes())
    middle = (len(data) // 4096 // 2) * 4096
    data[middle + 2000 : middle + 2100] = b"\xff" * 100  # scribble over b-tree cells
    db.write_bytes(bytes(data))
    backup_dir = tmp_path / "backups"
    backup_dir.mkdir()
    shutil.copy(tmp_path / "decidero.db", backup_dir / "decidero-20240101T023000.000Z.db")

    result = run_backup(db, backup_dir, keep=1)

    assert result.returncode != 0
    assert "integrity check of the new copy failed" in result.stderr
    assert backups_in(backup_dir) == ["decidero-20240101T023000.000Z.db"]  # nothing pruned
    assert len(list(backup_dir.glob("decidero-*.db.corrupt"))) == 1
    assert not list(backup_dir.glob(".*"))


def test_backup_of_postgres_follows_the_service_settings_and_restores(tmp_path: Path, postgres_server: Any) -> None:
    url = postgres_server.create_database(template=TEMPLATE)
    name = url.rsplit("/", 1)[1]
    postgres_server.sql("INSERT INTO runtime_setting (key, value, updated_at) VALUES ('marker', '\"kept\"', now())", name)
    # The service's settings file names the database, with a password (percent-escaped) as operators write it.
    with_password = url.replace("decidero@", "decidero:s3cret%40pw@")
    env_file = tmp_path / "decidero.env"
    env_file.write_text(f"DECIDERO_ENV=production\nDECIDERO_DATABASE_URL={with_password}\n")
    backup_dir = tmp_path / "backups"
    backup_dir.mkdir()
    older = [f"decidero-2024010{day}T023000.000Z.dump" for day in range(1, 4)]
    for old in [*older, "decidero-20240101T023000.000Z.db"]:
        (backup_dir / old).write_text("old copy")
    env = {k: v for k, v in os.environ.items() if k != "DECIDERO_DATABASE_URL"}

    result = subprocess.run(
        [str(BACKUP)],
        env={**env, "DECIDERO_ENV_FILE": str(env_file), "DECIDERO_BACKUP_DIR": str(backup_dir), "DECIDERO_BACKUP_KEEP": "2",
             "DECIDERO_DB_PATH": str(tmp_path / "absent.db")},
        capture_output=True, text=True, timeout=60,
    )

    assert result.returncode == 0, result.stderr
    dumps = sorted(p.name for p in backup_dir.glob("decidero-*.dump"))
    assert dumps[0] == older[-1] and len(dumps) == 2  # pruned to the newest 2 dumps
    assert (backup_dir / "decidero-20240101T023000.000Z.db").exists()  # SQLite copies are not its to prune
    fresh = backup_dir / dumps[1]
    assert fresh.stat().st_mode & 0o077 == 0
    assert "s3cret" not in result.stdout + result.stderr
    restored = postgres_server.create_database()
    subprocess.run(["pg_restore", "--no-owner", f"--dbname={restored}", str(fresh)], check=True, capture_output=True, timeout=60)
    assert postgres_server.sql("SELECT value FROM runtime_setting WHERE key = 'marker'", restored.rsplit("/", 1)[1]) == '"kept"'


def test_backup_refuses_a_missing_database_without_creating_one(tmp_path: Path) -> None:
    db = tmp_path / "decidero.db"

    result = run_backup(db, tmp_path / "backups")

    assert result.returncode != 0
    assert f"database {db} does not exist" in result.stderr
    assert not db.exists()


@pytest.mark.parametrize("keep", ["0", "many", "-3"])
def test_backup_rejects_a_bad_keep_value(tmp_path: Path, keep: str) -> None:
    db = tmp_path / "decidero.db"
    make_db(db, rows=1)
    env = {**os.environ, "DECIDERO_DB_PATH": str(db), "DECIDERO_BACKUP_DIR": str(tmp_path / "b")}
    env["DECIDERO_BACKUP_KEEP"] = keep

    result = subprocess.run([str(BACKUP)], env=env, capture_output=True, text=True, timeout=5)

    assert result.returncode != 0
    assert "DECIDERO_BACKUP_KEEP must be a whole number" in result.stderr


FAKE_SYSTEMCTL = """#!/bin/sh
# Records each call with the digest of the database file at that moment (without opening
# it through SQLite, which would tidy up -wal and -shm files).
digest=$(sha256sum < "$DECIDERO_DB_PATH" 2>/dev/null | cut -d' ' -f1)
echo "$* ${digest:-none}" >> "$SYSTEMCTL_LOG"
"""


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def marked_db(path: Path, marker: str) -> None:
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE marker (value TEXT)")
        db.execute("INSERT INTO marker VALUES (?)", (marker,))
    db.close()


@pytest.fixture
def restore_env(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    systemctl = bin_dir / "systemctl"
    systemctl.write_text(FAKE_SYSTEMCTL)
    systemctl.chmod(0o755)
    app = tmp_path / "app"
    app.mkdir()
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "SYSTEMCTL_LOG": str(tmp_path / "systemctl.log"),
        "DECIDERO_SERVICE": "decidero-test",
        "DECIDERO_DB_PATH": str(app / "decidero.db"),
        "DECIDERO_DB_OWNER": f"{os.getuid()}:{os.getgid()}",
        "DECIDERO_BACKUP_DIR": str(app / "backups"),
    }


def test_restore_stops_replaces_the_database_and_starts(tmp_path: Path, restore_env: dict[str, str]) -> None:
    db = Path(restore_env["DECIDERO_DB_PATH"])
    marked_db(db, "live")
    # Leftovers of an unclean stop must not be replayed onto the restored database.
    Path(f"{db}-wal").write_bytes(b"stale wal")
    Path(f"{db}-shm").write_bytes(b"stale shm")
    backup = tmp_path / "decidero-20240101T023000.000Z.db"
    marked_db(backup, "restored")
    live, restored = digest(db), digest(backup)

    result = subprocess.run([str(RESTORE), str(backup)], env=restore_env, capture_output=True, text=True, timeout=10)

    assert result.returncode == 0, result.stderr
    calls = Path(restore_env["SYSTEMCTL_LOG"]).read_text().splitlines()
    assert calls == [f"stop decidero-test {live}", f"start decidero-test {restored}"]
    assert not Path(f"{db}-wal").exists() and not Path(f"{db}-shm").exists()
    assert digest(db) == restored
    assert integrity(db) == "ok"
    [aside] = (db.parent / "backups").glob("before-restore-*Z.db")
    assert digest(aside) == live
    assert Path(f"{aside}-wal").read_bytes() == b"stale wal"
    assert (db.stat().st_uid, db.stat().st_gid) == (os.getuid(), os.getgid())
    assert db.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in db.parent.iterdir()) == ["backups", "decidero.db"]


def test_restore_of_a_bad_file_changes_nothing(tmp_path: Path, restore_env: dict[str, str]) -> None:
    db = Path(restore_env["DECIDERO_DB_PATH"])
    marked_db(db, "live")
    bad = tmp_path / "decidero-broken.db"
    bad.write_bytes(b"this is not a database" * 300)

    result = subprocess.run([str(RESTORE), str(bad)], env=restore_env, capture_output=True, text=True, timeout=10)

    assert result.returncode != 0
    assert "integrity check" in result.stderr and "nothing changed" in result.stderr
    assert not Path(restore_env["SYSTEMCTL_LOG"]).exists()  # the service was never stopped
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT value FROM marker").fetchone()[0] == "live"
    conn.close()
    assert sorted(p.name for p in db.parent.iterdir()) == ["decidero.db"]


def test_restore_needs_exactly_one_existing_backup(restore_env: dict[str, str], tmp_path: Path) -> None:
    for args in ([], [str(tmp_path / "missing.db")]):
        result = subprocess.run([str(RESTORE), *args], env=restore_env, capture_output=True, text=True, timeout=10)
        assert result.returncode != 0
        assert result.stderr.startswith("restore.sh: ")


def cron_job() -> list[str]:
    lines = (DEPLOY / "decidero.cron").read_text().splitlines()
    jobs = [line for line in lines if line.strip() and not line.startswith("#") and "=" not in line.split()[0]]
    assert len(jobs) == 1
    return jobs[0].split(maxsplit=6)


def test_cron_runs_the_backup_nightly_at_0230_as_decidero() -> None:
    minute, hour, day, month, weekday, user, command = cron_job()

    assert (minute, hour, day, month, weekday) == ("30", "2", "*", "*", "*")
    assert user == "decidero"
    assert command.startswith("/opt/decidero/app/deploy/backup.sh ")
    assert (DEPLOY / "decidero.cron").read_text().endswith("\n")  # cron ignores an unterminated last line


def test_cron_command_logs_a_failed_backup_as_an_error(tmp_path: Path) -> None:
    command = cron_job()[6]
    failing = tmp_path / "backup.sh"
    failing.write_text("#!/bin/sh\necho 'backup.sh: disk full' >&2\nexit 1\n")
    failing.chmod(0o755)
    logger = tmp_path / "logger"
    logger.write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/logger.calls\ncat >> {tmp_path}/logger.calls\n')
    logger.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}

    subprocess.run(
        ["bash", "-c", command.replace("/opt/decidero/app/deploy/backup.sh", str(failing))],
        env=env,
        check=True,
        timeout=10,
    )

    calls = (tmp_path / "logger.calls").read_text()
    assert "backup.sh: disk full" in calls
    assert "-p user.err -t decidero-backup backup FAILED" in calls
