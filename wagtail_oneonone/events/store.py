"""Writing an event for a contact known by email in one statement.

``track(email=...)`` is the storefront's hot path. Looking the contact up and then
inserting costs two round trips; ``INSERT ... SELECT`` finds the contact and writes the
event at once, so recording an event costs about what a bare insert does. The SQL is
built once per database from the models' own metadata.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.db import connections, router
from django.db.models import Field
from django.utils import timezone

from ..models import Contact, Event


@lru_cache(maxsize=8)
def _insert_select(alias: str) -> tuple[str, tuple[Field[Any, Any], ...], bool]:
    connection = connections[alias]
    quote = connection.ops.quote_name
    fields = tuple(
        field
        for field in Event._meta.concrete_fields
        if not field.primary_key and field.attname != "contact_id"
    )
    # PostgreSQL types the SELECT list from its values, so NULLs need their column's type.
    if connection.vendor == "postgresql":
        values = ", ".join(f"%s::{field.db_type(connection)}" for field in fields)
    else:
        values = ", ".join("%s" for _ in fields)
    returning = bool(connection.features.can_return_columns_from_insert)
    sql = (
        f"INSERT INTO {quote(Event._meta.db_table)} "
        f"({quote(Event._meta.get_field('contact').column)}, "
        f"{', '.join(quote(field.column) for field in fields)}) "
        f"SELECT {quote(Contact._meta.pk.column)}, {values} "
        f"FROM {quote(Contact._meta.db_table)} "
        f"WHERE {quote(Contact._meta.get_field('email').column)} = %s"
    )
    if returning:
        sql += (
            f" RETURNING {quote(Event._meta.pk.column)}, "
            f"{quote(Event._meta.get_field('contact').column)}"
        )
    return sql, fields, returning


def insert_event_for_email(event: Event, email: str) -> bool:
    """Insert ``event`` for the contact with this normalised ``email``; False if none exists."""
    alias = router.db_for_write(Event)
    connection = connections[alias]
    sql, fields, returning = _insert_select(alias)
    event.recorded_at = timezone.now()
    params = [
        field.get_db_prep_save(getattr(event, field.attname), connection) for field in fields
    ]
    params.append(email)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if returning:
            # SQLite only knows the row count once RETURNING rows are fetched.
            row = cursor.fetchone()
            if row is None:
                return False
            event.pk, event.contact_id = row
        else:
            if cursor.rowcount == 0:
                return False
            event.pk = cursor.lastrowid
            event.contact_id = Contact.objects.using(alias).get(email=email).pk
    event._state.adding = False
    event._state.db = alias
    return True
