"""Database access: SQLite (the default) or Postgres, behind one interface of writes and reads.

Every write goes through ``Database.write``, every read through ``Database.read``; both run on worker
threads, each with its own Peewee connection, so the event loop never waits on the database.

- SQLite allows one writer at a time: a single thread runs queued write functions inside ``BEGIN
  IMMEDIATE``. Jobs that queue up while a transaction runs are committed together (each in its own
  savepoint), which keeps commits cheap under bursts without changing what any caller sees.
- Postgres takes writers in parallel, from several threads and several processes, so every
  check-then-write rule (an idempotency key, a dot budget) must hold as it does under SQLite's
  single writer. Writes that carry the same order key (``write_order``: a meeting's) are committed
  together by one writer, each in its own savepoint, and queue behind that key's writers in other
  processes: holding the key from before BEGIN, such a batch runs alone among its meeting's
  writers and sees all they committed, so REPEATABLE READ is enough. Other writes run SERIALIZABLE.
  A transaction that loses a conflict is rolled back and run again. Reads see one REPEATABLE READ
  snapshot.

What differs in SQL between the two stays in this module: ``serialize_on`` (commit order where
ids must follow it), ``replace`` (SQLite's INSERT OR REPLACE), ``contains`` (substring search) and
``is_postgres`` for the schema steps that need their own DDL.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import queue
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar, cast

import psycopg
from peewee import (
    Database as PeeweeDatabase,
)
from peewee import (
    DatabaseProxy,
    Expression,
    Model,
    OperationalError,
    PostgresqlDatabase,
    SqliteDatabase,
    fn,
)

log = logging.getLogger("decidero.db")

T = TypeVar("T")

PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "full",
    "foreign_keys": 1,
    "busy_timeout": 30000,
}
READ_THREADS = 8
# Reads that load a whole room for one viewer (a page, a stream's opening and replay) run on threads
# of their own, this many at a time. A read is Python work that needs the interpreter lock, and
# each thread waiting for the lock makes the event loop wait for it too, at every I/O callback.
# With a crowd joining on all eight readers, the loop got a quarter of a core and new connections
# waited up to 30 s to be accepted (viewers N = 5,000, README); now joins queue here, and the small
# reads every request makes (its session) keep the other threads. On Postgres room loads share the
# readers: they wait on the network outside the lock, and two threads of their own queued a crowd's
# pages for 16 s, while 4 or 8 more threads left the loop waiting for the lock (viewers N = 5,000,
# two workers, README).
ROOM_READ_THREADS = 2
MAX_BATCH = 64
BUSY_RETRIES = 5
BUSY_STEP_SECONDS = 0.2
WRITER_THREAD = "db-writer"
# Postgres: writers in parallel per process (each holds a connection), and how often a transaction
# that lost a serialization conflict or a deadlock is run again before the caller gets Busy.
PG_WRITE_THREADS = 4
PG_RETRIES = 12
RETRYABLE_STATES = ("40001", "40P01")  # serialization_failure, deadlock_detected
# The server ended the session (a restart, a crash, still starting): it commits nothing of a session
# it ends, so the work runs again on a new connection.
RECONNECT_STATES = ("57P01", "57P02", "57P03")

database_proxy = DatabaseProxy()
# Postgres: the key this request's writes queue on before their transactions begin (see
# ``serialize_on``), set per request by whoever knows what it writes to (the meeting in its path).
write_order: contextvars.ContextVar[str | None] = contextvars.ContextVar("write_order", default=None)


class BaseModel(Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False


class Busy(Exception):
    """The database stayed locked through every retry; the caller answers 503."""


def connect(url: str, path: Path | None) -> Database:
    """The handle for a validated ``DECIDERO_DATABASE_URL``: Postgres for a postgresql:// URL, else
    SQLite at ``path``."""
    if path is None:
        return PostgresDatabase(url)
    return Database(path)


def _reader_pools(room_threads: int) -> tuple[ThreadPoolExecutor, ThreadPoolExecutor]:
    """The threads for reads, and those for room loads (``Database.read(room=True)``): the same
    pool when room loads get no threads of their own."""
    reads = ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="db-read")
    if not room_threads:
        return reads, reads
    return reads, ThreadPoolExecutor(max_workers=room_threads, thread_name_prefix="db-room")


def on_writer_thread() -> bool:
    return threading.current_thread().name.startswith(WRITER_THREAD)


class Database:
    """The process's only handle on SQLite. Create one per app; ``close()`` on shutdown."""

    backend = "sqlite"
    room_read_threads = ROOM_READ_THREADS
    conflicts = 0  # write attempts run again after a conflict: Postgres only (/metrics)

    def __init__(self, path: Path) -> None:
        self.path = path
        self.peewee: PeeweeDatabase = SqliteDatabase(str(path), pragmas=PRAGMAS, timeout=30, check_same_thread=False)
        database_proxy.initialize(self.peewee)
        self._reads, self._room_reads = _reader_pools(self.room_read_threads)
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any], str | None] | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_loop, name=WRITER_THREAD, daemon=True)
        self._writer.start()
        log.debug("Opened SQLite database %s", path)

    # -- public API -------------------------------------------------------------------------

    async def write(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in a write transaction on the writer thread; its exception propagates.

        ``fn`` must only touch the database: it may run again if the commit hits a lock.
        """
        return await asyncio.wrap_future(self.submit_write(fn, write_order.get()))

    async def read(self, fn: Callable[[], T], *, room: bool = False) -> T:
        """Run ``fn`` on a reader thread inside a read transaction (one consistent snapshot);
        ``room``: a whole room loaded for one viewer, on the room readers (``room_read_threads``)."""
        pool = self._room_reads if room else self._reads
        return await asyncio.wrap_future(pool.submit(self._run_read, fn))

    def submit_write(self, fn: Callable[[], T], order: str | None = None) -> Future[T]:
        """``order``: a ``serialize_on`` key to queue on before the transaction (Postgres only)."""
        future: Future[T] = Future()
        self._jobs.put((fn, future, order))
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
        self._close_readers()

    # -- threads ----------------------------------------------------------------------------

    def _run_read(self, fn: Callable[[], T]) -> T:
        with self.peewee.atomic():
            return fn()

    def _close_readers(self) -> None:
        pools = [(self._reads, READ_THREADS)]
        if self._room_reads is not self._reads:
            pools.append((self._room_reads, self.room_read_threads))
        for pool, threads in pools:
            barrier = threading.Barrier(threads)
            closers = [pool.submit(self._close_in_thread, barrier) for _ in range(threads)]
            for closer in closers:
                closer.result(timeout=10)
            pool.shutdown(wait=True)

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

    def _run_batch(self, batch: list[tuple[Callable[[], Any], Future[Any], str | None]]) -> None:
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
                for _, future, _ in batch:
                    future.set_exception(exc)
                return
            log.debug("Committed a write transaction of %d job(s)", len(batch))
            for (_, future, _), (ok, value) in zip(batch, outcomes, strict=True):
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
            return
        for _, future, _ in batch:
            future.set_exception(Busy("database is locked"))

    def _commit_batch(self, batch: list[tuple[Callable[[], Any], Future[Any], str | None]]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        with self.peewee.atomic(lock_type="IMMEDIATE"):
            for fn, _, _ in batch:
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


Job = tuple[Callable[[], Any], Future[Any], str | None]  # the function, its caller's future, its order key


class _Dispatch:
    """Write jobs waiting for a Postgres writer thread. Jobs with the same order key never run at
    once in this process: a free writer takes every waiting job of a key no other writer holds (up
    to MAX_BATCH) and commits them together, as SQLite's writer does, so a crowd writing to one
    meeting costs one commit per batch instead of one per request. Jobs without a key run alone."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._waiting: list[Job] = []
        self._busy: set[str] = set()
        self._closed = False

    def put(self, job: Job) -> None:
        with self._changed:
            self._waiting.append(job)
            self._changed.notify()

    def take(self) -> list[Job] | None:
        """The next batch (oldest first), or None once closed and drained."""
        with self._changed:
            while True:
                for job in self._waiting:
                    key = job[2]
                    if key is None:
                        self._waiting.remove(job)
                        return [job]
                    if key not in self._busy:
                        batch = [j for j in self._waiting if j[2] == key][:MAX_BATCH]
                        taken = {id(j) for j in batch}
                        self._waiting = [j for j in self._waiting if id(j) not in taken]
                        self._busy.add(key)
                        return batch
                if self._closed and not self._waiting:
                    return None
                self._changed.wait()

    def waiting(self) -> int:
        with self._changed:
            return len(self._waiting)

    def done(self, key: str | None) -> None:
        with self._changed:
            self._busy.discard(key or "")
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()


class PostgresDatabase(Database):
    """The process's handle on Postgres: the same interface, with parallel writers."""

    backend = "postgres"
    room_read_threads = 0  # room loads share the readers (see ROOM_READ_THREADS)

    def __init__(self, url: str) -> None:  # not calling super().__init__, which opens SQLite
        self.url = "postgresql://" + url.split("://", 1)[1]  # Peewee passes only this spelling through
        self.peewee = PostgresqlDatabase(self.url, prefer_psycopg3=True)
        database_proxy.initialize(self.peewee)
        self._reads, self._room_reads = _reader_pools(self.room_read_threads)
        self._dispatch = _Dispatch()
        self.conflicts = 0  # write attempts run again after a serialization failure or a deadlock
        self._writers = [
            threading.Thread(target=self._write_loop, name=f"{WRITER_THREAD}-{n}", daemon=True)
            for n in range(PG_WRITE_THREADS)
        ]
        for writer in self._writers:
            writer.start()
        log.debug("Opened Postgres database %s", self.peewee.connect_params.get("dbname") or "from URL")

    def submit_write(self, fn: Callable[[], T], order: str | None = None) -> Future[T]:
        future: Future[T] = Future()
        self._dispatch.put((fn, future, order))
        return future

    def pending_writes(self) -> int:
        return self._dispatch.waiting()

    def probe(self, timeout: float) -> None:
        """A fresh connection reads the schema, as a restart would (a pooled one may hide an outage)."""
        with psycopg.connect(self.url, connect_timeout=max(1, round(timeout))) as connection:
            connection.execute("SELECT 1 FROM schema_version LIMIT 1").fetchone()

    def close(self) -> None:
        self._dispatch.close()
        for writer in self._writers:
            writer.join(timeout=10)
        self._close_readers()

    def _run_read(self, fn: Callable[[], T]) -> T:
        try:
            with self.peewee.atomic(isolation_level="REPEATABLE READ"):
                return fn()
        except OperationalError:
            if not self._drop_if_broken():
                raise
        # The thread's connection died with a Postgres restart: a read can simply run again.
        with self.peewee.atomic(isolation_level="REPEATABLE READ"):
            return fn()

    def _write_loop(self) -> None:
        while (batch := self._dispatch.take()) is not None:
            try:
                self._run_jobs(batch)
            finally:
                _serialized.held = ()  # released with the batch
                self._dispatch.done(batch[0][2])
        self.peewee.close()

    def _run_jobs(self, batch: list[Job]) -> None:
        order = batch[0][2]
        first = [order] if order else []  # keys to hold before the transaction begins
        for attempt in range(1, PG_RETRIES + 1):
            _serialized.keys = []
            held: list[str] = []
            _serialized.held = held  # serialize_on skips these: this session already holds them
            try:
                # Held before BEGIN, so the snapshot comes after the writers this batch would collide
                # with (the same meeting's in other processes, the same sequence's) have committed:
                # it waits for them instead. A retry also holds the keys its failed attempt locked.
                for key in first:
                    self.peewee.execute_sql("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (key,))
                    held.append(key)
                outcomes = self._commit_jobs(batch)
            except Exception as exc:  # noqa: BLE001 - handed to the awaiting callers
                self._unlock(held)
                if _sqlstate(exc) in RECONNECT_STATES and self._drop_if_broken() and attempt < PG_RETRIES:
                    log.warning("Postgres ended the connection (%s); writing again on a new one", exc)
                    time.sleep(0.05 * attempt)
                    continue
                if _sqlstate(exc) in RETRYABLE_STATES and attempt < PG_RETRIES:
                    self.conflicts += 1
                    first = sorted(set(first) | set(_serialized.keys))
                    log.debug("Write conflict (attempt %d; next locks %s first): %s", attempt, first, exc)
                    time.sleep(random.uniform(0, 0.002 * attempt))
                    continue
                if isinstance(exc, OperationalError):
                    self._drop_if_broken()
                if _sqlstate(exc) in RETRYABLE_STATES:
                    log.warning("Write still conflicting after %d attempts: %s", attempt, exc)
                    exc = Busy("database is busy")
                for _, future, _ in batch:
                    future.set_exception(exc)
                return
            self._unlock(held)
            for (_, future, _), (ok, value) in zip(batch, outcomes, strict=True):
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
            return

    def _commit_jobs(self, batch: list[Job]) -> list[tuple[bool, Any]]:
        """One transaction; a job's own failure is its caller's, a conflict or a lost connection
        fails the whole attempt.

        A batch that holds its meeting's turn runs at REPEATABLE READ: the turn already orders it
        after every writer of the meeting. SERIALIZABLE would add nothing for the meeting but
        predicate locks, and those cover whole index pages (whole tables, in a batch that reads many
        rows): two meetings' batches, reading and adding rows of the same tables, cancelled each
        other until a submission failed as busy (``python -m bench.submits --meetings 2``).

        Every statement is a round trip made while the batch holds its meeting's lock, so the
        savepoints cost one each: a lone job needs none (its failure rolls back the transaction),
        and a job in a batch gets a SAVEPOINT but no RELEASE (COMMIT releases them all)."""
        isolation = "REPEATABLE READ" if batch[0][2] else "SERIALIZABLE"
        if len(batch) == 1:
            try:
                with self.peewee.atomic(isolation_level=isolation):
                    return [(True, batch[0][0]())]
            except Exception as exc:
                if _attempt_failed(exc):
                    raise
                return [(False, exc)]
        outcomes: list[tuple[bool, Any]] = []
        with self.peewee.atomic(isolation_level=isolation):
            for n, (fn, _, _) in enumerate(batch):
                self.peewee.execute_sql(f"SAVEPOINT job{n}")
                try:
                    outcomes.append((True, fn()))
                except Exception as exc:
                    if _attempt_failed(exc):
                        raise
                    self.peewee.execute_sql(f"ROLLBACK TO SAVEPOINT job{n}")
                    outcomes.append((False, exc))
        return outcomes

    def _unlock(self, keys: list[str]) -> None:
        for key in keys:
            try:
                self.peewee.execute_sql("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))
            except OperationalError:
                self._drop_if_broken()  # a lost connection released its locks with it
                return

    def _drop_if_broken(self) -> bool:
        """After a lost connection (a Postgres restart), the thread's next query connects again.
        Returns whether the connection was broken."""
        if not self.peewee.is_closed() and not self.peewee.is_connection_usable():
            try:
                self.peewee.close()
            except OperationalError:
                cast(Any, self.peewee)._state.reset()  # closing a dead connection can fail; forget it anyway
            return True
        return False


def _attempt_failed(exc: BaseException) -> bool:
    """A conflict or a lost connection fails the whole attempt; anything else is the job's own."""
    return _sqlstate(exc) in RETRYABLE_STATES or isinstance(exc, OperationalError)


def _sqlstate(exc: BaseException) -> str | None:
    """The Postgres error code behind a (Peewee-wrapped) psycopg error, if any."""
    seen: BaseException | None = exc
    while seen is not None:
        state = getattr(seen, "sqlstate", None)
        if state:
            return str(state)
        seen = seen.__cause__ or seen.__context__
    return None


# -- SQL that differs between the backends ------------------------------------------------------


def is_postgres(db: PeeweeDatabase | None = None) -> bool:
    """Whether ``db`` (default: the open database) is Postgres."""
    return isinstance(db if db is not None else database_proxy.obj, PostgresqlDatabase)


def serialize_on(key: str) -> None:
    """Write path: transactions that call this with the same ``key`` commit in the order of their
    calls, and whatever ids they take after it follow that order. Postgres: a transaction-scoped
    advisory lock on the key (one per meeting, never one for everything). SQLite's single writer
    already orders every write."""
    if is_postgres() and key not in getattr(_serialized, "held", ()):
        database_proxy.execute_sql("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
        if hasattr(_serialized, "keys"):
            _serialized.keys.append(key)


# Per writer thread: the keys its current attempt has locked, and those its session held before BEGIN.
_serialized = threading.local()


def replace(model: type[Model], **values: Any) -> None:
    """Write ``values`` as the row, replacing the one with the same key: the primary key when given,
    else the model's unique index over the given fields (INSERT … ON CONFLICT DO UPDATE, which both
    backends speak; Postgres has no INSERT OR REPLACE)."""
    replace_many(model, [values])


def replace_many(model: type[Model], rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    names = list(rows[0])
    target = conflict_target(model, names)
    fields = [model._meta.fields[name] for name in names if name not in target]
    keys = [model._meta.fields[name] for name in target]
    query = model.insert_many(rows)
    if fields:
        query = query.on_conflict(conflict_target=keys, preserve=fields)
    else:
        query = query.on_conflict(conflict_target=keys, action="IGNORE")
    query.execute()


def conflict_target(model: type[Model], names: list[str]) -> tuple[str, ...]:
    """The key a replace of rows with the fields ``names`` collides on."""
    meta = model._meta
    key: Any = meta.primary_key  # False for a model without one
    if key and key.name in names:
        return (key.name,)
    for index in meta.indexes:
        if isinstance(index, tuple) and index[1] and all(name in names for name in index[0]):
            fields = index[0]
            return tuple(fields)
    for field in meta.sorted_fields:
        if field.unique and field.name in names:
            return (field.name,)
    raise ValueError(f"{model.__name__} has no key among {names}")


def contains(text: Any, fragment: Any) -> Expression:
    """``fragment`` occurs in ``text`` (no LIKE wildcards to escape)."""
    position = fn.STRPOS(text, fragment) if is_postgres() else fn.INSTR(text, fragment)
    return position > 0
