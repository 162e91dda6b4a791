"""Prepared statements for the hot paths: lookups by equality and inserts, compiled once per shape.

Peewee builds each query's SQL from its expression tree; on the paths every request and every
publish take (the session, membership, the activity, an idea and its comments, the idea and its
log record) building it cost more than SQLite running it: about two thirds of an idea submission's
time in a profile. The shape is compiled by Peewee itself, so the SQL stays Peewee's (in the open
database's dialect: the cache is keyed by it too); only the parameters change between calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from peewee import SQL, Model, fn

from .db import conflict_target, database_proxy, is_postgres

M = TypeVar("M", bound=Model)
Value = str | int | bool

_SQL: dict[tuple[Any, ...], str] = {}


def _compiled(key: tuple[Any, ...], build: Callable[[], Any], params: list[Any], what: str) -> str:
    """The SQL stored under ``key``; on first use compiled by Peewee from ``build()``, whose own
    parameters must be exactly ``params`` (else the statement is not a plain prepared one)."""
    key = (database_proxy.obj.param, *key)
    sql = _SQL.get(key)
    if sql is None:
        sql, compiled = build().sql()
        if compiled != params:
            raise ValueError(f"cannot prepare {what}")
        _SQL[key] = sql
    return sql


def _prepared(key: tuple[Any, ...], equal: dict[str, Value], build: Callable[[list[Any]], Any]) -> tuple[str, list[Value]]:
    """The SQL for ``key``, compiled by ``build`` from the equality conditions, and its parameters."""
    model = key[1]
    params = list(equal.values())
    where = lambda: [getattr(model, name) == value for name, value in equal.items()]  # noqa: E731
    return _compiled(key, lambda: build(where()), params, f"a lookup of {model.__name__} by {tuple(equal)}"), params


def add(model: type[M], **values: Any) -> M:
    """``model.create(**values)`` (defaults applied, auto id set) with the INSERT compiled once per field set."""
    row: Any = model(**values)
    fields = model._meta.fields
    names = [name for name in model._meta.sorted_field_names if name in row.__data__]
    params = [fields[name].db_value(row.__data__[name]) for name in names]
    sql = _compiled(
        ("add", model, *names),
        lambda: model.insert({fields[name]: row.__data__[name] for name in names}),
        params,
        f"an insert into {model.__name__} of {tuple(names)}",
    )
    cursor = model._meta.database.execute_sql(sql, params)
    if row._pk is None:
        # Postgres reports the new id through the RETURNING clause Peewee adds; SQLite as lastrowid.
        row._pk = cursor.fetchone()[0] if is_postgres() else cursor.lastrowid
    row._dirty.clear()
    return row


def add_many(model: type[Model], rows: Sequence[Mapping[str, Any]], replace: bool = False) -> None:
    """Insert ``rows`` (all with the same fields, defaults not applied) with one INSERT compiled
    once and run by SQLite for every row: Peewee's ``insert_many`` spends far longer building its
    statement than SQLite spends running it (a transfer of 2,000 ideas). ``replace``: a row that
    collides on the model's key replaces the stored one (``db.replace``)."""
    if not rows:
        return
    fields = model._meta.fields
    names = [name for name in model._meta.sorted_field_names if name in rows[0]]
    first = [fields[name].db_value(rows[0][name]) for name in names]

    def build() -> Any:
        query = model.insert({fields[name]: rows[0][name] for name in names})
        if not replace:
            return query
        target = conflict_target(model, names)
        keys = [fields[name] for name in target]
        return query.on_conflict(conflict_target=keys, preserve=[fields[name] for name in names if name not in target])

    sql = _compiled(("add_many", model, replace, *names), build, first, f"a bulk insert into {model.__name__} of {tuple(names)}")
    cursor = model._meta.database.cursor()
    cursor.executemany(sql, [[fields[name].db_value(row[name]) for name in names] for row in rows])


def one(model: type[M], **equal: Value) -> M | None:
    """The first ``model`` row whose named fields equal the values (plain str/int/bool values only)."""
    sql, params = _prepared(("one", model, *equal), equal, lambda where: model.select().where(*where))
    rows: Any = model.raw(sql + " LIMIT 1", *params)
    return next(iter(rows), None)


def every(model: type[M], order_by: str, **equal: Value) -> list[M]:
    """Every ``model`` row whose named fields equal the values, ordered by the field ``order_by``."""
    key = ("every", model, order_by, *equal)
    sql, params = _prepared(key, equal, lambda where: model.select().where(*where).order_by(getattr(model, order_by)))
    return list(model.raw(sql, *params))


def select(model: type[M], name: str, build: Callable[..., Any], *params: Value) -> list[M]:
    """The ``model`` rows of the query ``build(*params)``, compiled once under ``name``.

    ``build`` must use each parameter exactly once, in order, as a plain value (checked on first use).
    """
    sql = _compiled(("select", model, name), lambda: build(*params), list(params), f"the query {name!r} of {model.__name__}")
    return list(model.raw(sql, *params))


def count(model: type[Model], **equal: Value) -> int:
    """How many ``model`` rows have the named fields equal to the values."""
    sql, params = _prepared(("count", model, *equal), equal, lambda where: model.select(fn.COUNT(SQL("*"))).where(*where))
    return int(model._meta.database.execute_sql(sql, params).fetchone()[0])
