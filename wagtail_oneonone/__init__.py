"""wagtail-oneonone: one-to-one email for Wagtail sites.

Public API (importable once Django is set up)::

    from wagtail_oneonone import track, identify, register_event_type, Prop
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0.dev0"

__all__ = ["Prop", "identify", "register_event_type", "track"]


def track(event_type: str, **kwargs: Any) -> Any:
    """Record an event; see :func:`wagtail_oneonone.api.track`."""
    from .api import track as _track

    return _track(event_type, **kwargs)


def identify(email: str, **kwargs: Any) -> Any:
    """Create or update a contact; see :func:`wagtail_oneonone.api.identify`."""
    from .api import identify as _identify

    return _identify(email, **kwargs)


def __getattr__(name: str) -> Any:
    if name in ("register_event_type", "Prop"):
        from .events import types

        return getattr(types, name)
    raise AttributeError(f"module 'wagtail_oneonone' has no attribute {name!r}")
