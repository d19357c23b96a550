"""Writing many rows without model instances: enrollments, their log lines and positions.

Django's ``bulk_create()`` and ``bulk_update()`` prepare every field of every instance in
Python, which cost more than the database's work (``bulk_update()`` builds a ``CASE`` for
each row and column). Here the columns given are prepared once a column and every other
column takes its field's default, prepared once. On PostgreSQL a batch is one statement,
its columns sent as array literals and unnested (as the outbox's bulk insert does); on
SQLite one prepared statement is run for each row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import connection, models
from django.db.models.expressions import Expression, F

#: Rows a PostgreSQL statement takes at most.
CHUNK = 5000

#: Fields whose Python values SQLite takes as they are (no preparation).
_PLAIN = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.BooleanField,
    models.ForeignKey,
)


def insert_rows(
    model: type[models.Model],
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    unique: str | None = None,
) -> int:
    """Insert ``rows`` (values of the fields ``names``, as the model holds them); with
    ``unique`` (a field name), rows whose value is already there are skipped. Returns how
    many rows were written (the statements' row counts). Run it inside a transaction."""
    if not rows:
        return 0
    meta = model._meta
    fields = [_field(model, name) for name in names]
    defaults = model()
    others = [
        field
        for field in meta.concrete_fields
        if field not in fields and not field.primary_key and not field.generated
    ]
    constants = [
        field.get_db_prep_save(field.pre_save(defaults, add=True), connection) for field in others
    ]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    conflict = f" ON CONFLICT ({quote(_field(model, unique).column)}) DO NOTHING" if unique else ""
    written = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            set_columns = [quote(field.column) for field in fields]
            set_types = [_db_type(field) for field in fields]
            select = [f"%s::{_db_type(field)}" for field in others] + [
                f"v.{column}::{db_type}"
                for column, db_type in zip(set_columns, set_types, strict=True)
            ]
            arrays = ", ".join(f"%s::{db_type}[]" for db_type in set_types)
            columns = ", ".join([quote(field.column) for field in others] + set_columns)
            sql = (
                f"INSERT INTO {table} ({columns}) SELECT {', '.join(select)} "
                f"FROM unnest({arrays}) AS v ({', '.join(set_columns)}){conflict}"
            )
            for start in range(0, len(rows), CHUNK):
                chunk = rows[start : start + CHUNK]
                cursor.execute(
                    sql,
                    [*constants, *(array_literal(column) for column in zip(*chunk, strict=True))],
                )
                written += max(cursor.rowcount, 0)
            return written
        preps = [_sqlite_prep(field) for field in fields]
        columns = ", ".join(quote(field.column) for field in [*fields, *others])
        marks = ", ".join(["%s"] * (len(fields) + len(others)))
        cursor.executemany(
            f"INSERT INTO {table} ({columns}) VALUES ({marks}){conflict}",
            [
                (*(prep(value) for prep, value in zip(preps, row, strict=True)), *constants)
                for row in rows
            ],
        )
        return max(cursor.rowcount, 0)


def update_rows(
    model: type[models.Model],
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    null: Sequence[str] = (),
) -> None:
    """Set the fields ``names`` of each row's object to the row's values (a row is the
    primary key, then the values); the fields ``null`` are set to NULL in every one."""
    if not rows:
        return
    meta = model._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    pk = meta.pk
    assert isinstance(pk, models.Field)
    fields = [_field(model, name) for name in names]
    columns = [quote(field.column) for field in fields]
    nulls = "".join(f", {quote(_field(model, name).column)} = NULL" for name in null)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            pk_column = quote(pk.column)
            sets = ", ".join(f"{column} = v.{column}" for column in columns)
            arrays = ", ".join(f"%s::{_db_type(field)}[]" for field in [pk, *fields])
            sql = (
                f"UPDATE {table} AS t SET {sets}{nulls} "
                f"FROM unnest({arrays}) AS v ({pk_column}, {', '.join(columns)}) "
                f"WHERE t.{pk_column} = v.{pk_column}"
            )
            for start in range(0, len(rows), CHUNK):
                chunk = rows[start : start + CHUNK]
                cursor.execute(sql, [array_literal(column) for column in zip(*chunk, strict=True)])
            return
        preps = [_sqlite_prep(field) for field in fields]
        sets = ", ".join(f"{column} = %s" for column in columns)
        cursor.executemany(
            f"UPDATE {table} SET {sets}{nulls} WHERE {quote(pk.column)} = %s",
            [
                (*(prep(value) for prep, value in zip(preps, row[1:], strict=True)), row[0])
                for row in rows
            ],
        )


class Among(Expression):
    """``field IN ids`` as a condition for ``filter()``: on PostgreSQL ``= ANY`` of one
    array parameter, so a list of thousands of ids costs neither Django nor psycopg a
    placeholder each (building and sending them cost more than the query)."""

    conditional = True

    def __init__(self, field: str, ids: Iterable[int]) -> None:
        super().__init__(output_field=models.BooleanField())
        self.lhs: Any = F(field)
        self.ids = list(ids)

    def get_source_expressions(self) -> list[Any]:
        return [self.lhs]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        [self.lhs] = exprs

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, params = compiler.compile(self.lhs)
        if not self.ids:
            return "1 = 0", []
        if connection.vendor == "postgresql":
            db_type = _db_type(self.lhs.output_field)
            return f"{lhs} = ANY(%s::{db_type}[])", [*params, array_literal(self.ids)]
        return f"{lhs} IN ({', '.join(['%s'] * len(self.ids))})", [*params, *self.ids]


def array_literal(values: Sequence[Any]) -> str:
    """A PostgreSQL array literal (``{1,NULL,"a\\"b",t}``) of ints, strings, booleans,
    dates and times (aware, so ``timestamptz`` reads them right)."""
    parts = []
    seen: dict[Any, str] = {}  # times repeat within a batch (its clock)
    for value in values:
        kind = type(value)
        if value is None:
            parts.append("NULL")
        elif kind is bool:
            parts.append("t" if value else "f")
        elif kind is int:
            parts.append(str(value))
        elif kind is str:
            parts.append(_quoted(value))
        else:
            text = seen.get(value)
            if text is None:
                raw = value.isoformat() if isinstance(value, dt.date) else str(value)
                text = seen[value] = _quoted(raw)
            parts.append(text)
    return "{" + ",".join(parts) + "}"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field)
    return field


def _db_type(field: models.Field[Any, Any]) -> str:
    return str(field.db_type(connection)).split("(")[0]


def _sqlite_prep(field: models.Field[Any, Any]) -> Callable[[Any], Any]:
    if isinstance(field, _PLAIN):
        return _same
    prepared: dict[Any, Any] = {}  # a batch's times repeat (its clock)

    def prep(value: Any) -> Any:
        try:
            return prepared[value]
        except KeyError:
            result = prepared[value] = field.get_db_prep_save(value, connection)
            if len(prepared) > 10_000:
                prepared.clear()
            return result
        except TypeError:  # not hashable (a dict for JSON)
            return field.get_db_prep_save(value, connection)

    return prep


def _same(value: Any) -> Any:
    return value
