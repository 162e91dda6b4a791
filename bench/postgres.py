"""A throwaway Postgres for the tests and ``just bench --backend postgres``: Debian's ``postgresql``
package, ``initdb`` and ``pg_ctl`` in a temporary directory, on a free loopback port, stopped
afterwards.

Postgres refuses to run as root, so when the tests run as root the cluster belongs to the
``postgres`` system user (the package creates it) and every command runs through ``runuser``.
Each test gets its own database, copied from a template that already holds the whole schema, so a
test starts in milliseconds instead of replaying every migration.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

from .server import free_port

BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
SYSTEM_USER = "postgres"
ROLE = "decidero"
TEMPLATE = "decidero_template"


def pg_binary(name: str) -> str | None:
    """``initdb``/``pg_ctl`` from the newest installed server (Debian keeps them off PATH)."""
    for directory in BIN_DIRS:
        if (directory / name).exists():
            return str(directory / name)
    return shutil.which(name)


def available() -> bool:
    return pg_binary("initdb") is not None and pg_binary("pg_ctl") is not None


@dataclass
class PostgresServer:
    """One running cluster; ``url(name)`` is a database on it for the ``decidero`` role."""

    directory: Path
    port: int
    _names: Iterator[int] = field(default_factory=lambda: count(1))

    def url(self, database: str) -> str:
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{database}"

    @property
    def pid(self) -> int:
        """The postmaster's: every connection's backend is a child of it."""
        return int((self.directory / "data" / "postmaster.pid").read_text().split("\n", 1)[0])

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one statement as the cluster's superuser; returns psql's unaligned output."""
        done = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port),
             "-U", SYSTEM_USER, "-d", database, "-c", statement],
            capture_output=True, text=True, check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def restart(self) -> None:
        """Stop the server (ending every connection, as an upgrade or a crash would) and start it again."""
        pg_ctl = pg_binary("pg_ctl")
        assert pg_ctl is not None
        # The new server must not inherit pipes, or waiting for the command would wait for the server.
        subprocess.run(
            _as_owner([pg_ctl, "-D", str(self.directory / "data"), "-m", "fast", "-w", "-t", "60", "restart"]),
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.directory,
        )

    def create_database(self, template: str = "template0") -> str:
        """A new empty database (or a copy of ``template``) owned by the app's role; returns its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self.sql(f'CREATE DATABASE "{name}" OWNER {ROLE} TEMPLATE "{template}"')
        return self.url(name)


def _as_owner(command: list[str]) -> list[str]:
    return ["runuser", "-u", SYSTEM_USER, "--", *command] if os.geteuid() == 0 else command


@contextmanager
def running_postgres(durable: bool = False) -> Iterator[PostgresServer]:
    """Start a cluster in a temporary directory; stop it and delete the directory afterwards.
    Without ``durable`` (the tests), commits skip the disk flush: the data lives for one session."""
    initdb, pg_ctl = pg_binary("initdb"), pg_binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise RuntimeError("Postgres is not installed (apt install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="decidero-pg-"))
    data = root / "data"
    port = free_port()
    if os.geteuid() == 0:
        shutil.chown(root, SYSTEM_USER, SYSTEM_USER)
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    subprocess.run(
        _as_owner([initdb, "-D", str(data), "-U", SYSTEM_USER, "-A", "trust", "-E", "UTF8", "--no-sync"]),
        check=True, capture_output=True, env=env, cwd=root,
    )
    # Sockets in the temp dir, not /run.
    options = f"-p {port} -h 127.0.0.1 -k {root}"
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    subprocess.run(
        _as_owner([pg_ctl, "-D", str(data), "-l", str(root / "server.log"), "-o", options, "-w", "-t", "60", "start"]),
        check=True, capture_output=True, env=env, cwd=root,
    )
    server = PostgresServer(root, port)
    try:
        server.sql(f"CREATE ROLE {ROLE} LOGIN CREATEDB")
        yield server
    finally:
        subprocess.run(
            _as_owner([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
            check=False, capture_output=True, env=env, cwd=root,
        )
        shutil.rmtree(root, ignore_errors=True)

