"""The servers a benchmark starts: N uvicorn workers on one fresh database (a SQLite file, or a
throwaway Postgres with durability on, as an operator's would be), with a throwaway Redis when
there is more than one worker or when asked for."""

from __future__ import annotations

import secrets
from contextlib import ExitStack
from pathlib import Path

from . import postgres
from .redis_server import RedisServer
from .server import BenchServer


def fresh_servers(
    stack: ExitStack, root: Path, workers: int = 1, backend: str = "sqlite", redis: bool = False
) -> tuple[list[BenchServer], RedisServer | None, Path | str, dict[str, int]]:
    """Not yet started servers, the running Redis (or None), the database they share (a path or
    a Postgres URL) and the running helpers' process ids by name ("Postgres", "Redis"), whose CPU
    a benchmark reports beside the servers'; ``stack`` stops Redis and Postgres afterwards."""
    broker = RedisServer(root) if redis or workers > 1 else None
    helpers: dict[str, int] = {}
    if broker is not None:
        broker.start()
        stack.callback(broker.stop)
        assert broker.process is not None
        helpers["Redis"] = broker.process.pid
    secret = secrets.token_urlsafe(48)  # one signing secret: a session from one worker is valid on all
    database: Path | str = (root / "decidero.db").resolve()
    servers = [BenchServer(root / f"worker-{n}", secret=secret, database=root / "decidero.db") for n in range(workers)]
    if backend == "postgres":
        cluster = stack.enter_context(postgres.running_postgres(durable=True))
        database, helpers["Postgres"] = cluster.create_database(), cluster.pid
    for server in servers:
        server.workdir.mkdir()
        server.redis_url = broker.url if broker is not None else ""
        server.database_url = database if isinstance(database, str) else None
    return servers, broker, database, helpers
