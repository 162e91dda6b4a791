"""Lookups of one row by equality, with the SQL compiled once per shape instead of on every call.

Peewee builds each query's SQL from its expression tree; on the paths every request takes (the
session, membership, the activity) building it cost more than SQLite running it: about two thirds of
an idea submission's time in a profile. The shape is compiled by Peewee itself, so the SQL stays
Peewee's; only the parameters change between calls.
"""

from __future__ import annotations

from typing import Any, TypeVar

from peewee import Model

M = TypeVar("M", bound=Model)

_SQL: dict[tuple[type[Model], tuple[str, ...]], str] = {}


def one(model: type[M], **equal: str | int | bool) -> M | None:
    """The first ``model`` row whose named fields equal the values (plain str/int/bool values only)."""
    names = tuple(equal)
    key = (model, names)
    sql = _SQL.get(key)
    if sql is None:
        where = [getattr(model, name) == equal[name] for name in names]
        sql, params = model.select().where(*where).sql()
        if len(params) != len(names):  # a field whose comparison is not one plain parameter
            raise ValueError(f"cannot prepare a lookup of {model.__name__} by {names}")
        sql = _SQL[key] = sql + " LIMIT 1"
    rows: Any = model.raw(sql, *(equal[name] for name in names))
    return next(iter(rows), None)
