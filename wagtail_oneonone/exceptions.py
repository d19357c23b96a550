"""Exceptions raised by wagtail-oneonone's public API."""

from __future__ import annotations


class OneOnOneError(Exception):
    """Base class for the app's errors."""


class ValidationError(OneOnOneError, ValueError):
    """Input refused; ``field`` names the offending field (``properties.items[0].price``)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class EventValidationError(ValidationError):
    """An event was refused; nothing was written."""


class ContactValidationError(ValidationError):
    """Contact data was refused; nothing was written."""


class UnknownEventType(EventValidationError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(
            "event_type",
            f"unknown event type {name!r}; registered types are {', '.join(sorted(known))}. "
            "Register custom types with wagtail_oneonone.register_event_type().",
        )
        self.name = name


class TemplateRenderError(OneOnOneError):
    """A template part failed to compile or render; ``message`` says why and where."""

    def __init__(self, part: str, message: str, line: int | None = None) -> None:
        self.part = part
        self.line = line
        self.detail = message
        self.message = f"line {line}: {message}" if line else message
        super().__init__(f"{part}: {self.message}")


class SegmentRuleError(ValidationError):
    """A rule tree was refused; ``field`` is the path to the bad part (``rules.all[2].days``)."""
