"""Segments: rule trees over contacts and their events, compiled to SQL when used.

Public API::

    from wagtail_oneonone.segments import (
        Param, register_condition, compile_rules, contacts_matching, clean_rules,
        is_member, members_among,
    )
"""

from __future__ import annotations

from .compiler import compile_rules, contacts_matching
from .conditions import CompileContext, Param, register_condition, registered_conditions
from .membership import check_segment_rules, is_member, members_among, segment_contacts
from .rules import SCHEMA_VERSION, clean_rules, empty_rules

__all__ = [
    "SCHEMA_VERSION",
    "CompileContext",
    "Param",
    "check_segment_rules",
    "clean_rules",
    "compile_rules",
    "contacts_matching",
    "empty_rules",
    "is_member",
    "members_among",
    "register_condition",
    "registered_conditions",
    "segment_contacts",
]
