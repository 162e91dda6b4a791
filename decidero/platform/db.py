"""SQLite access: one writer thread, a small pool of reader threads, schema migrations.

SQLite allows one writer at a time, so every write goes through ``Database.write``: a single thread
runs queued write functions inside ``BEGIN IMMEDIATE``. Jobs that queue up while a transaction runs
are committed together (each in its own savepoint), which keeps commits cheap under bursts without
changing what any caller sees. Reads run on worker threads, each with its own Peewee connection, so
the event loop never waits on the database.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from peewee import DatabaseProxy, Model, OperationalError, SqliteDatabase

log = logging.getLogger("decidero.db")

T = TypeVar("T")

PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "full",
    "foreign_keys": 1,
    "busy_timeout": 30000,
}
READ_THREADS = 8
MAX_BATCH = 64
BUSY_RETRIES = 5
BUSY_STEP_SECONDS = 0.2
WRITER_THREAD = "db-writer"

database_proxy = DatabaseProxy()


class BaseModel(Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False


class Busy(Exception):
    """The database stayed locked through every retry; the caller answers 503."""


class Database:
    """The process's only handle on SQLite. Create one per app; ``close()`` on shutdown."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.peewee = SqliteDatabase(str(path), pragmas=PRAGMAS, timeout=30, check_same_thread=False)
        database_proxy.initialize(self.peewee)
        self._reads = ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="db-read")
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_loop, name=WRITER_THREAD, daemon=True)
        self._writer.start()
        log.debug("Opened SQLite database %s", path)

    # -- public API -------------------------------------------------------------------------

    async def write(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in a write transaction on the writer thread; its exception propagates.

        ``fn`` must only touch the database: it may run again if the commit hits a lock.
        """
        return await asyncio.wrap_future(self.submit_write(fn))

    async def read(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on a reader thread inside a read transaction (one consistent snapshot)."""
        return await asyncio.wrap_future(self._reads.submit(self._run_read, fn))

    def submit_write(self, fn: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        self._jobs.put((fn, future))
        return future

    def write_sync(self, fn: Callable[[], T]) -> T:
        """Blocking form of ``write`` for scripts, migrations and tests (never on the event loop)."""
        return self.submit_write(fn).result()

    def read_sync(self, fn: Callable[[], T]) -> T:
        return self._reads.submit(self._run_read, fn).result()

    def pending_writes(self) -> int:
        """Write jobs waiting for the writer thread (the /metrics queue depth)."""
        return self._jobs.qsize()

    def ping(self) -> None:
        self.read_sync(lambda: self.peewee.execute_sql("SELECT 1").fetchone())

    def probe(self, timeout: float) -> None:
        """Read the schema on a fresh connection, as a restart would; raises when the file is unusable.

        The pooled connections keep working on a deleted or replaced file, so they cannot tell. The
        file is opened read-write without being created, and waits at most ``timeout`` for locks.
        """
        uri = f"file:{self.path}?mode=rw"
        connection = sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)
        try:
            connection.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone()
        finally:
            connection.close()

    def close(self) -> None:
        """Stop the threads and close every connection so SQLite checkpoints and drops the WAL."""
        self._jobs.put(None)
        self._writer.join(timeout=10)
        barrier = threading.Barrier(READ_THREADS)
        closers = [self._reads.submit(self._close_in_thread, barrier) for _ in range(READ_THREADS)]
        for closer in closers:
            closer.result(timeout=10)
        self._reads.shutdown(wait=True)

    # -- threads ----------------------------------------------------------------------------

    def _run_read(self, fn: Callable[[], T]) -> T:
        with self.peewee.atomic():
            return fn()

    def _close_in_thread(self, barrier: threading.Barrier) -> None:
        # Peewee keeps one connection per thread; the barrier makes each pool thread close its own.
        barrier.wait(timeout=10)
        self.peewee.close()

    def _write_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                break
            batch = [job]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._jobs.put(None)
                    break
                batch.append(more)
            self._run_batch(batch)
        self.peewee.close()

    def _run_batch(self, batch: list[tuple[Callable[[], Any], Future[Any]]]) -> None:
        for attempt in range(1, BUSY_RETRIES + 1):
            try:
                outcomes = self._commit_batch(batch)
            except OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                log.warning("Database busy on write (attempt %d): %s", attempt, exc)
                time.sleep(BUSY_STEP_SECONDS * attempt)
                continue
            except Exception as exc:
                log.exception("Write batch failed")
                for _, future in batch:
                    future.set_exception(exc)
                return
            log.debug("Committed a write transaction of %d job(s)", len(batch))
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
            return
        for _, future in batch:
            future.set_exception(Busy("database is locked"))

    def _commit_batch(self, batch: list[tuple[Callable[[], Any], Future[Any]]]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        with self.peewee.atomic(lock_type="IMMEDIATE"):
            for fn, _ in batch:
                try:
                    with self.peewee.atomic():
                        outcomes.append((True, fn()))
                except OperationalError as exc:
                    if "locked" in str(exc) or "busy" in str(exc):
                        raise
                    outcomes.append((False, exc))
                except Exception as exc:  # noqa: BLE001 - handed to the awaiting caller
                    outcomes.append((False, exc))
        return outcomes
