"""Copy an existing SQLite install into an empty Postgres database (issue 18; deploy/HOSTING.md).

    python -m decidero.move_to_postgres --from decidero.db --to postgresql://decidero:…@127.0.0.1/decidero
    python -m decidero.move_to_postgres --from decidero.db     # the URL the service is set to use

Without ``--to`` the target is ``DECIDERO_DATABASE_URL`` from the environment, else from the
service's settings file (``--env-file``), so the password never shows on a command line.

The target gets the current schema from the migrations, then every table's rows in dependency order
(parents before children, each table in key order), all in one transaction, so a failed move leaves
it empty. Id sequences continue after the copied ids, and each table's row count is compared with
the source before the command reports success. A target that already holds tables is refused: the
move never merges two installs. The source is opened read-only and never changed; stop the service
first so nothing writes to it meanwhile.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

import peewee
from peewee import AutoField, CompositeKey, Model, SqliteDatabase, fn
from peewee import Database as PeeweeDatabase

from .platform.config import redacted
from .platform.db import BaseModel, PostgresDatabase
from .platform.migrations import apply_in_transaction
from .schema import LATEST, STEPS

BATCH = 500
ENV_FILE = Path("/etc/decidero/decidero.env")


class MoveError(Exception):
    """The move cannot start or did not complete; the message says why."""


def models() -> list[type[Model]]:
    """Every table of the schema, parents before children."""
    found: list[type[Model]] = []
    todo: list[type[Model]] = [BaseModel]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.append(sub)
            todo.append(sub)
    return list(peewee.sort_models(found))  # type: ignore[attr-defined]  # public, not in the stubs


def _open_source(path: Path) -> SqliteDatabase:
    if not path.is_file():
        raise MoveError(f"No SQLite database at {path}")
    source = SqliteDatabase(f"file:{path}?mode=ro", uri=True)
    try:
        tables = set(source.get_tables())
        version = source.execute_sql("SELECT MAX(version) FROM schema_version").fetchone()[0] if "schema_version" in tables else 0
    except sqlite3.DatabaseError as exc:
        raise MoveError(f"Cannot read {path}: {exc}") from exc
    if version != LATEST:
        raise MoveError(
            f"{path} is at schema version {version or 0}, this Decidero at {LATEST}: start this version once on "
            "the SQLite database (it brings the schema up to date), stop it, then move."
        )
    unknown = tables - {m._meta.table_name for m in models()} - {"sqlite_sequence"}
    if unknown:
        raise MoveError(f"{path} holds tables this Decidero does not know: {', '.join(sorted(unknown))}")
    return source


def _check_empty(target: PostgresDatabase, url: str) -> None:
    tables = target.read_sync(lambda: target.peewee.get_tables())
    if tables:
        shown = ", ".join(tables[:5]) + (", …" if len(tables) > 5 else "")
        raise MoveError(
            f"The target database {redacted(url)} is not empty ({len(tables)} tables: {shown}). "
            "Move into a new, empty database (createdb -O <owner> <name>); nothing was changed."
        )


def _copy(source: SqliteDatabase, target: PostgresDatabase, tables: Sequence[type[Model]]) -> None:
    """The schema, then every row of ``tables`` in order (in the target's one write transaction)."""
    pg = target.peewee
    apply_in_transaction(pg, STEPS, LATEST)
    for model in tables:
        key = model._meta.primary_key
        query = model.select().dicts()
        if isinstance(key, CompositeKey):
            query = query.order_by(*(model._meta.fields[name] for name in key.field_names))
        elif key:
            query = query.order_by(key)  # an idea's comments come after the idea they answer
        batch: list[dict[str, object]] = []
        for row in query.execute(source):
            batch.append(row)
            if len(batch) == BATCH:
                _insert(model, batch, pg)
                batch = []
        _insert(model, batch, pg)
        if isinstance(key, AutoField):
            # The id sequence continues after the copied ids (or starts at 1 for an empty table).
            sequence = fn.pg_get_serial_sequence(f'"{model._meta.table_name}"', key.column_name)
            model.select(fn.setval(sequence, fn.COALESCE(fn.MAX(key), 1), fn.MAX(key).is_null(False))).scalar(pg)


def _insert(model: type[Model], rows: list[dict[str, object]], pg: PeeweeDatabase) -> None:
    if not rows:
        return
    query = model.insert_many(rows)
    if model._meta.table_name == "roster_stamp":
        # Already written on the target by the triggers the copied meetings and members fired.
        query = query.on_conflict(conflict_target=[model._meta.primary_key], preserve=list(model._meta.sorted_fields))
    query.execute(pg)


def _counts(database: PeeweeDatabase, tables: Sequence[type[Model]]) -> dict[str, int]:
    return {m._meta.table_name: m.select().count(database) for m in tables}


def move(source_path: Path, url: str, out: object = sys.stdout) -> dict[str, int]:
    """Copy ``source_path`` into the empty Postgres database at ``url``; returns rows per table."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise MoveError("--to must be a postgresql:// URL")
    source = _open_source(source_path)
    target = PostgresDatabase(url)
    try:
        _check_empty(target, url)
        tables = [m for m in models() if m._meta.table_name != "schema_version"]
        target.write_sync(lambda: _copy(source, target, tables))
        expected = _counts(source, tables)
        copied = target.read_sync(lambda: _counts(target.peewee, tables))
    finally:
        target.close()
        source.close()
    wrong = {name: (n, copied[name]) for name, n in expected.items() if copied[name] != n}
    for name, n in expected.items():
        print(f"{name:<24} {n:>9} rows", file=out)  # type: ignore[call-overload]
    if wrong:
        details = ", ".join(f"{name}: {a} in SQLite, {b} in Postgres" for name, (a, b) in wrong.items())
        raise MoveError(f"Row counts differ after the copy ({details})")
    return copied


def _from_env_file(path: Path) -> str:
    """The last ``DECIDERO_DATABASE_URL=`` line of a systemd EnvironmentFile (read, never run)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return ""
    values = [line.split("=", 1)[1].strip() for line in lines if line.startswith("DECIDERO_DATABASE_URL=")]
    return values[-1] if values else ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m decidero.move_to_postgres", description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", required=True, help="the SQLite file (or sqlite:///path URL)")
    parser.add_argument("--to", dest="target", help="postgresql://user:password@host:port/dbname (default: DECIDERO_DATABASE_URL)")
    parser.add_argument("--env-file", type=Path, default=ENV_FILE, help=f"where to find DECIDERO_DATABASE_URL otherwise (default {ENV_FILE})")
    args = parser.parse_args(argv)
    source = Path(args.source.removeprefix("sqlite:///"))
    args.target = args.target or os.environ.get("DECIDERO_DATABASE_URL", "").strip() or _from_env_file(args.env_file)
    try:
        copied = move(source, args.target)
    except MoveError as exc:
        print(f"Move refused: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the operator gets the cause in one line, never a password
        print(f"Move failed, the target was left as it was: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"Moved {sum(copied.values())} rows in {len(copied)} tables to {redacted(args.target)}; counts match.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
