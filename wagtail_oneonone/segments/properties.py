"""Typed comparisons on JSON values: custom attributes and event properties, in SQL.

Both PostgreSQL (``jsonb``) and SQLite (JSON text) store the same documents but compare
them differently (SQLite thinks any text is greater than any number; ``jsonb`` orders by
type first), so every comparison here checks the JSON type first: a ``number`` comparison
only ever matches JSON numbers, a ``text`` one only strings, a ``date`` one only strings
that start ``YYYY-MM-DD``. Text comparisons ignore case (``lower()``: Unicode on
PostgreSQL, ASCII letters only on SQLite). Every predicate is true or false, never NULL,
so ``not`` groups mean what they say.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db.models import BooleanField, Expression, F

from ..exceptions import SegmentRuleError
from .conditions import ATTRIBUTE_KEY, Param, clean_value

VALUE_TYPES = {
    "text": "Text",
    "number": "Number",
    "date": "Date",
    "bool": "Yes/no",
}
OPERATORS: dict[str, tuple[str, ...]] = {
    "text": (
        "equals",
        "not_equals",
        "contains",
        "not_contains",
        "starts_with",
        "in",
        "not_in",
        "is_set",
        "is_not_set",
    ),
    "number": (
        "equals",
        "not_equals",
        "gt",
        "gte",
        "lt",
        "lte",
        "between",
        "is_set",
        "is_not_set",
    ),
    "date": (
        "equals",
        "not_equals",
        "gt",
        "lt",
        "between",
        "within_last_days",
        "more_than_days_ago",
        "is_set",
        "is_not_set",
    ),
    "bool": ("is_true", "is_false", "is_set", "is_not_set"),
}
OPERATOR_LABELS = {
    "equals": "is",
    "not_equals": "is not",
    "contains": "contains",
    "not_contains": "does not contain",
    "starts_with": "starts with",
    "in": "is one of",
    "not_in": "is none of",
    "gt": "is more than (after)",
    "gte": "is at least",
    "lt": "is less than (before)",
    "lte": "is at most",
    "between": "is between",
    "within_last_days": "is within the last N days",
    "more_than_days_ago": "is more than N days ago",
    "is_true": "is yes",
    "is_false": "is no",
    "is_set": "is set",
    "is_not_set": "is not set",
}
#: Negative operators are the negation of a positive one (a missing value included).
NEGATIONS = {
    "not_equals": "equals",
    "not_contains": "contains",
    "not_in": "in",
    "is_not_set": "is_set",
}
NO_VALUE = ("is_set", "is_not_set", "is_true", "is_false")
LIST_VALUE = ("in", "not_in")
PAIR_VALUE = ("between",)
DAYS_VALUE = ("within_last_days", "more_than_days_ago")
ITEMS_PREFIX = "items."


def clean_comparison(data: Mapping[str, Any], path: str) -> dict[str, Any]:
    """``type``, ``operator`` and ``value`` of a comparison, checked and normalised."""
    value_type = data.get("type", "text")
    if value_type not in VALUE_TYPES:
        raise SegmentRuleError(f"{path}.type", f"expected one of {', '.join(VALUE_TYPES)}")
    operator = data.get("operator")
    if operator not in OPERATORS[value_type]:
        raise SegmentRuleError(
            f"{path}.operator",
            f"{operator!r} is not an operator for {value_type}; "
            f"use one of {', '.join(OPERATORS[value_type])}",
        )
    cleaned: dict[str, Any] = {"type": value_type, "operator": operator}
    if operator in NO_VALUE:
        return cleaned
    value = data.get("value")
    if value is None or value == "" or value == []:
        raise SegmentRuleError(f"{path}.value", "is required")
    if operator in DAYS_VALUE:
        days = Param("value", "int", min_value=0, max_value=3660)
        cleaned["value"] = clean_value(days, value, f"{path}.value")
        return cleaned
    scalar = Param("value", value_type if value_type != "bool" else "text")
    if operator in LIST_VALUE:
        if not isinstance(value, list | tuple) or not value or len(value) > 100:
            raise SegmentRuleError(f"{path}.value", "expected a list of 1 to 100 values")
        items = [clean_value(scalar, v, f"{path}.value[{i}]") for i, v in enumerate(value)]
        cleaned["value"] = items
    elif operator in PAIR_VALUE:
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise SegmentRuleError(f"{path}.value", "expected two values, lowest first")
        low, high = (clean_value(scalar, v, f"{path}.value[{i}]") for i, v in enumerate(value))
        if low > high:
            raise SegmentRuleError(f"{path}.value", "the first value must not exceed the second")
        cleaned["value"] = [low, high]
    else:
        cleaned["value"] = clean_value(scalar, value, f"{path}.value")
    return cleaned


def clean_filter(data: Any, path: str) -> dict[str, Any]:
    """An event property filter: ``{"property": "category", "type": "text", ...}``; a
    property ``items.category`` matches when any line of the cart or order does."""
    if not isinstance(data, Mapping):
        raise SegmentRuleError(path, "expected a property filter (an object)")
    unknown = set(data) - {"property", "type", "operator", "value"}
    if unknown:
        raise SegmentRuleError(f"{path}.{sorted(unknown)[0]}", "is not a filter field")
    name = data.get("property")
    key = (
        name[len(ITEMS_PREFIX) :]
        if isinstance(name, str) and name.startswith(ITEMS_PREFIX)
        else name
    )
    if not isinstance(key, str) or not ATTRIBUTE_KEY.match(key):
        raise SegmentRuleError(
            f"{path}.property",
            f"expected a property name (letters, digits, _; 'items.<name>' for cart or order "
            f"lines), got {name!r}",
        )
    return {"property": name, **clean_comparison(data, path)}


def document_predicate(
    column: str, key: str, comparison: Mapping[str, Any], today: dt.date
) -> JSONPredicate:
    """The comparison applied to ``column``'s ``key`` (``items.<key>``: any line)."""
    item_key = None
    if key.startswith(ITEMS_PREFIX):
        key, item_key = "items", key[len(ITEMS_PREFIX) :]
    return JSONPredicate(F(column), key, comparison, today, item_key=item_key)


class JSONPredicate(Expression):
    """A comparison on one key of a JSON column; true or false, never NULL."""

    output_field = BooleanField()
    conditional = True

    def __init__(
        self,
        column: Any,
        key: str,
        comparison: Mapping[str, Any],
        today: dt.date,
        item_key: str | None = None,
    ) -> None:
        super().__init__(output_field=BooleanField())
        # Keys go into the SQL as literals, so only plain names are accepted.
        for name in (key, item_key):
            if name is not None and not ATTRIBUTE_KEY.match(name):
                raise SegmentRuleError("property", f"not a plain property name: {name!r}")
        self.column = column
        self.key = key
        self.item_key = item_key
        self.comparison = dict(comparison)
        self.today = today

    def get_source_expressions(self) -> list[Any]:
        return [self.column]

    def set_source_expressions(self, exprs: Any) -> None:
        (self.column,) = exprs

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        doc, doc_params = compiler.compile(self.column)
        if doc_params:
            raise ValueError("JSONPredicate needs a column, not an expression with parameters")
        dialect: _Dialect = _Postgres() if connection.vendor == "postgresql" else _SQLite()
        operator = self.comparison["operator"]
        positive = NEGATIONS.get(operator, operator)
        params: list[Any] = []
        if self.item_key is None:
            sql = self._predicate(dialect, doc, self.key, positive, params)
        else:
            item = self._predicate(dialect, "_item.value", self.item_key, positive, params)
            sql = dialect.any_item(doc, self.key, item)
        sql = f"COALESCE(({sql}), {dialect.false})"
        if operator in NEGATIONS:
            sql = f"NOT {sql}"
        return f"({sql})", params

    def _predicate(
        self, dialect: _Dialect, doc: str, key: str, positive: str, params: list[Any]
    ) -> str:
        value_type = self.comparison["type"]
        if positive == "is_set":
            return dialect.is_set(doc, key)
        if positive in ("is_true", "is_false"):
            return dialect.is_bool(doc, key, positive == "is_true")
        operands = self._operands(positive)
        value = dialect.typed(doc, key, value_type)
        if value_type == "text":
            value = f"lower({value})"
            if positive == "equals":
                params.append(operands[0])
                return f"{value} = lower(%s)"
            if positive == "in":
                params.extend(operands)
                return f"{value} IN ({', '.join(['lower(%s)'] * len(operands))})"
            params.append(operands[0])
            position = dialect.position(value, "lower(%s)")
            return f"{position} > 0" if positive == "contains" else f"{position} = 1"
        comparisons = {"equals": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
        if positive in comparisons:
            params.append(operands[0])
            return f"{value} {comparisons[positive]} %s"
        if positive == "between":
            params.extend(operands)
            return f"{value} BETWEEN %s AND %s"
        if positive == "within_last_days":
            params.extend([operands[0], self.today.isoformat()])
            return f"{value} BETWEEN %s AND %s"
        if positive == "more_than_days_ago":
            params.append(operands[0])
            return f"{value} < %s"
        raise ValueError(f"unknown operator {positive!r}")

    def _operands(self, positive: str) -> list[Any]:
        """The operator's operands, typed for the database."""
        value: Any = self.comparison.get("value")
        if positive in DAYS_VALUE:
            return [(self.today - dt.timedelta(days=int(value))).isoformat()]
        values = value if isinstance(value, list) else [value]
        if self.comparison["type"] == "number":
            # SQLite would compare a Decimal bound as text; ints and floats compare as numbers.
            return [v if isinstance(v, int) else float(v) for v in values]
        return list(values)


class _Dialect:
    false = "false"

    def type_of(self, doc: str, key: str) -> str:
        raise NotImplementedError

    def text(self, doc: str, key: str) -> str:
        raise NotImplementedError

    def number(self, doc: str, key: str) -> str:
        raise NotImplementedError

    def date_pattern(self, value: str) -> str:
        raise NotImplementedError

    def position(self, haystack: str, needle: str) -> str:
        raise NotImplementedError

    def any_item(self, doc: str, key: str, item_sql: str) -> str:
        raise NotImplementedError

    def is_bool(self, doc: str, key: str, wanted: bool) -> str:
        raise NotImplementedError

    def typed(self, doc: str, key: str, value_type: str) -> str:
        """The value if it has the JSON type ``value_type`` asks for, else NULL."""
        kind, text = self.type_of(doc, key), self.text(doc, key)
        if value_type == "number":
            number = self.number(doc, key)
            return f"(CASE WHEN {kind} IN ('number', 'integer', 'real') THEN {number} END)"
        string = f"{kind} IN ('string', 'text')"
        if value_type == "date":
            return (
                f"(CASE WHEN {string} AND {self.date_pattern(text)} "
                f"THEN substr({text}, 1, 10) END)"
            )
        return f"(CASE WHEN {string} THEN {text} END)"

    def is_set(self, doc: str, key: str) -> str:
        """Present, not null and not an empty string."""
        kind = self.type_of(doc, key)
        return (
            f"{kind} IS NOT NULL AND {kind} <> 'null' "
            f"AND NOT ({kind} IN ('string', 'text') AND {self.text(doc, key)} = '')"
        )


class _Postgres(_Dialect):
    def type_of(self, doc: str, key: str) -> str:
        return f"jsonb_typeof({doc} -> '{key}')"

    def text(self, doc: str, key: str) -> str:
        return f"({doc} ->> '{key}')"

    def number(self, doc: str, key: str) -> str:
        return f"({doc} ->> '{key}')::numeric"

    def date_pattern(self, value: str) -> str:
        return f"{value} ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}'"

    def position(self, haystack: str, needle: str) -> str:
        return f"strpos({haystack}, {needle})"

    def is_bool(self, doc: str, key: str, wanted: bool) -> str:
        value = "true" if wanted else "false"
        return f"{self.type_of(doc, key)} = 'boolean' AND {self.text(doc, key)} = '{value}'"

    def any_item(self, doc: str, key: str, item_sql: str) -> str:
        return (
            "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN "
            f"jsonb_typeof({doc} -> '{key}') = 'array' THEN {doc} -> '{key}' "
            "ELSE '[]'::jsonb END) AS _item(value) "
            f"WHERE jsonb_typeof(_item.value) = 'object' AND {item_sql})"
        )


class _SQLite(_Dialect):
    false = "0"

    def type_of(self, doc: str, key: str) -> str:
        return f"json_type({doc}, '$.{key}')"

    def text(self, doc: str, key: str) -> str:
        return f"json_extract({doc}, '$.{key}')"

    number = text

    def date_pattern(self, value: str) -> str:
        return f"{value} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*'"

    def position(self, haystack: str, needle: str) -> str:
        return f"instr({haystack}, {needle})"

    def is_bool(self, doc: str, key: str, wanted: bool) -> str:
        return f"{self.type_of(doc, key)} = '{'true' if wanted else 'false'}'"

    def any_item(self, doc: str, key: str, item_sql: str) -> str:
        return (
            "EXISTS (SELECT 1 FROM json_each(CASE WHEN "
            f"json_type({doc}, '$.{key}') = 'array' THEN json_extract({doc}, '$.{key}') "
            "ELSE '[]' END) AS _item "
            f"WHERE _item.type = 'object' AND {item_sql})"
        )
