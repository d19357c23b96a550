"""Editors' text with personalisation tags, turned into template source.

A heading, a button label or a paragraph of rich text may hold Jinja tags
(``Hi {{ contact.first_name|default('there', true) }}``). When an email body becomes a
template, the tags pass through to the per-contact render and everything around them
becomes literal HTML: escaped, with ``{`` written as ``&#123;`` so that no stray brace
can start a tag of its own.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from .validate import ERROR, TemplateIssue, validate_part

# A tag as Jinja's lexer sees it, quoted strings included (so "}}" inside one is text).
_STRING = r"""'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*\""""
TAG = re.compile(
    rf"""
    \{{\{{ (?: {_STRING} | [^'"}}] | \}}(?!\}}) )* \}}\}}
    | \{{% (?: {_STRING} | [^'"%] | %(?!\}}) )* %\}}
    | \{{\# .*? \#\}}
    """,
    re.VERBOSE | re.DOTALL,
)
_HTML_TAG = re.compile(r"<[^<>]*>")
_DELIMITER = re.compile(r"\{[{%#]")


def literal(text: str) -> str:
    """``text`` as HTML that prints exactly ``text``, never read as a tag."""
    return html.escape(text, quote=True).replace("{", "&#123;")


def template_from_text(text: str) -> str:
    """Plain text with tags (a heading, a label) as template source for the HTML body."""
    pieces: list[str] = []
    position = 0
    for match in TAG.finditer(text):
        pieces.append(literal(text[position : match.start()]))
        pieces.append(match.group())
        position = match.end()
    pieces.append(literal(text[position:]))
    return "".join(pieces)


def template_from_html(markup: str) -> str:
    """Rich-text HTML with tags as template source.

    The rich-text editor stores a tag as text, so its quotes arrive as ``&#x27;`` and an
    editor may have made part of it bold: inside a tag, markup is dropped and entities
    are decoded. The HTML around the tags is kept as it is.
    """
    pieces: list[str] = []
    position = 0
    for match in TAG.finditer(markup):
        pieces.append(markup[position : match.start()].replace("{", "&#123;"))
        pieces.append(html.unescape(_HTML_TAG.sub("", match.group())))
        position = match.end()
    pieces.append(markup[position:].replace("{", "&#123;"))
    return "".join(pieces)


def has_tags(text: str) -> bool:
    return TAG.search(text) is not None


def stray_delimiter(text: str) -> str:
    """The first ``{{``, ``{%`` or ``{#`` that starts no complete tag ("" if none)."""
    found = _DELIMITER.search(TAG.sub("", text))
    return found.group() if found else ""


def validate_body(body: Iterable[Any], *, where: str = "") -> list[TemplateIssue]:
    """Errors and warnings in every block's tags (an ``EmailBodyBlock`` value).

    Each issue's ``part`` names the block (``block 3 (heading)``, ``block 2 (dynamic),
    branch 1, block 1 (button)``) and its ``line`` is the line within that block. Saving
    a block already refuses its errors; this also finds the probable typos (warnings)
    and is the check to run again before sending.
    """
    issues: list[TemplateIssue] = []
    for position, child in enumerate(body, 1):
        label = f"{where}block {position} ({child.block_type})"
        value = child.value
        template = written = ""
        if child.block_type == "heading":
            written = value.get("text") or ""
            template = template_from_text(written)
        elif child.block_type == "button":
            written = value.get("label") or ""
            template = template_from_text(written)
        elif child.block_type == "rich_text":
            written = getattr(value, "source", "") or ""
            template = template_from_html(written)
        elif child.block_type == "raw":
            template = value or ""
        elif child.block_type == "dynamic":
            for index, branch in enumerate(value.get("branches") or [], 1):
                content = branch.get("content") or []
                issues.extend(validate_body(content, where=f"{label}, branch {index}, "))
            fallback = value.get("fallback") or []
            issues.extend(validate_body(fallback, where=f"{label}, fallback, "))
        if template and (child.block_type == "raw" or has_tags(template)):
            issues.extend(replace(issue, part=label) for issue in validate_part("html", template))
        stray = stray_delimiter(written)
        if stray:
            message = f"'{stray}' starts a tag that is never closed; it would print as text"
            issues.append(TemplateIssue(label, message, None, ERROR))
    return issues
