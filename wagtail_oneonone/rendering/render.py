"""Render an email's four parts from its templates, one message at a time.

Compiled templates are cached per ``(key, revision, part)`` in a bounded LRU, so a
campaign compiles each part once, not once per recipient. Every failure while compiling
or rendering (syntax, limits, a filter's error) becomes a :class:`TemplateRenderError`
naming the part and, when known, the template line: it fails that message, not the batch.
"""

from __future__ import annotations

import difflib
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from html.parser import HTMLParser
from types import TracebackType
from typing import Any, NamedTuple

from jinja2 import Template
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError

from ..conf import app_settings
from ..exceptions import TemplateRenderError
from .environment import RENDER_TIME_LIMIT, current_budget, get_environment, render_budget

PARTS = ("subject", "preheader", "html", "text")
#: Subjects longer than a header line may be (RFC 5322) are refused.
MAX_SUBJECT_LENGTH = 998
#: Preview text plus padding fills about this many characters of an inbox preview.
PREVIEW_LENGTH = 120
PREHEADER_STYLE = (
    "display:none;font-size:1px;color:#ffffff;line-height:1px;max-height:0;max-width:0;"
    "opacity:0;overflow:hidden;mso-hide:all"
)
PREHEADER_PADDING = "&#847;&zwnj;&nbsp;"
CACHE_SIZE = 512
MAX_ERROR_LENGTH = 500

_BODY_TAG = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_HEAD_END = re.compile(r"</head\s*>", re.IGNORECASE)
_HTML_TAG = re.compile(r"<html\b", re.IGNORECASE)
_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


@dataclass(frozen=True)
class TemplateSource:
    """What a message source (template, campaign, flow step) provides."""

    key: str  # stable cache key, e.g. "template:12"
    revision: int | str  # changes whenever the content changes
    subject: str
    preheader: str
    html: str
    text: str  # "" → a text part is made from the rendered HTML


@dataclass(frozen=True)
class RenderedEmail:
    subject: str  # one line: header injection is impossible
    preheader: str
    html: str  # a whole document, the preview text hidden right after <body>
    text: str


def render_email(source: TemplateSource, context: Mapping[str, Any]) -> RenderedEmail:
    """Render all parts of ``source`` for one recipient's ``context`` (see ``build_context``)."""
    with render_budget(RENDER_TIME_LIMIT):
        subject = _one_line(_render_part(source, "subject", context))
        preheader = _one_line(_render_part(source, "preheader", context))
        body = _render_part(source, "html", context)
        text = _render_part(source, "text", context) if source.text.strip() else ""
    if not subject:
        raise TemplateRenderError("subject", "the subject is empty once rendered")
    if len(subject) > MAX_SUBJECT_LENGTH:
        raise TemplateRenderError(
            "subject", f"the subject is longer than {MAX_SUBJECT_LENGTH} characters"
        )
    if not text.strip():
        text = html_to_text(body)
    if not body.strip():
        if not text:
            raise TemplateRenderError("html", "the email has no content once rendered")
        return RenderedEmail(subject=subject, preheader=preheader, html="", text=text)
    html = insert_preheader(as_document(body, title=subject), preheader)
    return RenderedEmail(subject=subject, preheader=preheader, html=html, text=text)


def as_document(html: str, *, title: str = "") -> str:
    """Wrap a fragment in a minimal HTML document; whole documents are returned as they are."""
    if _HTML_TAG.search(html):
        return html
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n</head>\n<body>\n{html}\n</body>\n</html>\n"
    )


def insert_preheader(html: str, preheader: str) -> str:
    """Put the preview text, hidden and padded, right after ``<body>`` (else at the top)."""
    if not preheader:
        return html
    padding = PREHEADER_PADDING * max(0, PREVIEW_LENGTH - len(preheader))
    block = f'<div style="{PREHEADER_STYLE}">{escape(preheader)}{padding}</div>'
    anchor = _BODY_TAG.search(html) or _HEAD_END.search(html)
    if anchor is None:
        return block + html
    return f"{html[: anchor.end()]}\n{block}{html[anchor.end() :]}"


def _one_line(value: str) -> str:
    return " ".join(_LINE_BREAKS.sub(" ", value).split())


# Compiling, with a cache ---------------------------------------------------------------


class CacheInfo(NamedTuple):
    hits: int
    misses: int
    size: int
    max_size: int


_Compiled = Template | TemplateRenderError


class TemplateCache:
    """A thread-safe LRU of compiled parts keyed by ``(key, revision, part)``.

    An entry also remembers its source, so a caller that forgets to change the revision
    gets a recompile instead of a stale template. Compile errors are cached too.
    """

    def __init__(self, max_size: int = CACHE_SIZE) -> None:
        self.max_size = max_size
        self._entries: OrderedDict[
            tuple[str, str, str], tuple[str, Template | TemplateRenderError]
        ] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, source: TemplateSource, part: str) -> Template:
        text: str = getattr(source, part)
        cache_key = (source.key, str(source.revision), part)
        with self._lock:
            entry = self._entries.get(cache_key)
            if entry is not None and entry[0] == text:
                self._entries.move_to_end(cache_key)
                self.hits += 1
                return _template_or_raise(entry[1])
            self.misses += 1
        compiled = compile_part(part, text)
        with self._lock:
            self._entries[cache_key] = (text, compiled)
            self._entries.move_to_end(cache_key)
            while len(self._entries) > self.max_size:
                self._entries.popitem(last=False)
        return _template_or_raise(compiled)

    def info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(self.hits, self.misses, len(self._entries), self.max_size)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0


def _template_or_raise(compiled: Template | TemplateRenderError) -> Template:
    if isinstance(compiled, TemplateRenderError):
        # A fresh error each time: re-raising one instance would grow its traceback.
        raise TemplateRenderError(compiled.part, compiled.detail, compiled.line)
    return compiled


def environment_kind(part: str) -> str:
    """HTML escaping for the HTML body only; subject and preview text are plain text."""
    return "html" if part == "html" else "text"


def compile_part(part: str, text: str) -> Template | TemplateRenderError:
    """Compile one part, or return the error that compiling it gives."""
    limit = int(app_settings.MAX_TEMPLATE_BYTES)
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limit:
        return TemplateRenderError(
            part, f"the template is {size} bytes; the limit is {limit} (MAX_TEMPLATE_BYTES)"
        )
    try:
        return get_environment(environment_kind(part)).from_string(text)
    except TemplateSyntaxError as exc:
        return TemplateRenderError(part, describe_error(exc, part), exc.lineno)
    except Exception as exc:  # the compiler's own errors, e.g. RecursionError on deep nesting
        return TemplateRenderError(part, describe_error(exc, part))


template_cache = TemplateCache()


def cache_info() -> CacheInfo:
    return template_cache.info()


def clear_template_cache() -> None:
    template_cache.clear()


# Rendering -------------------------------------------------------------------------------


def _render_part(source: TemplateSource, part: str, context: Mapping[str, Any]) -> str:
    template = template_cache.get(source, part)
    budget = current_budget()
    limit = int(app_settings.MAX_RENDERED_BYTES)
    chunks: list[str] = []
    size = 0
    try:
        for chunk in template.generate(context):
            size += len(chunk)
            if size > limit:
                break
            chunks.append(chunk)
            budget.check_time()
    except Exception as exc:  # any failure fails this message only, with the reason shown
        raise TemplateRenderError(
            part, describe_error(exc, part), _template_line(exc.__traceback__)
        ) from exc
    output = "".join(chunks)
    if size > limit or len(output.encode("utf-8", "surrogatepass")) > limit:
        raise TemplateRenderError(
            part, f"the rendered {part} is larger than {limit} bytes (MAX_RENDERED_BYTES)"
        )
    return output


def _template_line(tb: TracebackType | None) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


_UNKNOWN_NAME = re.compile(r"No (filter|test) named '([^']+)'")


def describe_error(exc: BaseException, part: str) -> str:
    """A message an editor can act on (and short: some errors quote the data)."""
    message = _describe(exc, part)
    return message if len(message) <= MAX_ERROR_LENGTH else message[:MAX_ERROR_LENGTH] + "…"


def _describe(exc: BaseException, part: str) -> str:
    if isinstance(exc, TemplateSyntaxError):
        message = exc.message or str(exc)
        unknown = _UNKNOWN_NAME.search(message)
        if unknown:
            kind, name = unknown.groups()
            message = unknown_name_message(kind, name, part)
        return message
    if isinstance(exc, SecurityError | UndefinedError):
        return str(exc)
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, RecursionError):
        return "the template nests too deeply (recursion)"
    if isinstance(exc, MemoryError):
        return "the template needs too much memory"
    return f"{type(exc).__name__}: {exc}"


def unknown_name_message(kind: str, name: str, part: str) -> str:
    env = get_environment(environment_kind(part))
    known = env.filters if kind == "filter" else env.tests
    choices = [choice for choice in known if not choice.startswith("_")]
    message = f"there is no {kind} named {name!r}"
    if kind == "filter" and name == "safe":
        return message + " (contact data is always escaped)"
    return message + did_you_mean(name, choices)


def did_you_mean(name: str, choices: Any) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# A text part from the HTML -------------------------------------------------------------

_SKIPPED_TAGS = frozenset({"head", "script", "style", "title", "template", "noscript"})
_VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)
_PARAGRAPH_TAGS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "blockquote", "hr"}
)
_LINE_TAGS = frozenset({"div", "tr", "br", "section", "article", "header", "footer"})
_SPACES = re.compile(r"\s+")
_INVISIBLE = re.compile(r"[\u00ad\u034f\u200b-\u200d\u2060\ufeff]")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|mso-hide\s*:\s*all", re.IGNORECASE)


class _TextExtractor(HTMLParser):
    """Readable text from email HTML: paragraphs, list dashes and ``text (url)`` links.

    Email built from blocks marks elements with ``data-text-as``: ``heading`` (underlined),
    ``button`` (``Label: url``), ``divider`` (a line of dashes) and ``skip`` (left out).
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        # (tag, hidden, data-text-as, index of the element's first piece)
        self.open_tags: list[tuple[str, bool, str, int]] = []
        # (href, index of the link's first piece, data-text-as)
        self.links: list[tuple[str, int, str]] = []

    @property
    def hidden(self) -> bool:
        return bool(self.open_tags) and self.open_tags[-1][1]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        text_as = attributes.get("data-text-as", "")
        if tag not in _VOID_TAGS:
            hidden = (
                self.hidden
                or tag in _SKIPPED_TAGS
                or text_as == "skip"
                or bool(_HIDDEN_STYLE.search(attributes.get("style", "")))
            )
            self.open_tags.append((tag, hidden, text_as, len(self.pieces)))
        if self.hidden:
            return
        self._break(tag)
        if tag == "li":
            self.pieces.append("\n- ")
        elif tag == "a":
            self.links.append((attributes.get("href", "").strip(), len(self.pieces), text_as))
        elif tag == "img" and attributes.get("alt", "").strip():
            self.pieces.append(attributes["alt"].strip())
        elif tag == "hr":
            self.pieces.append("----")

    def handle_endtag(self, tag: str) -> None:
        if not any(open_tag[0] == tag for open_tag in self.open_tags):
            return  # a stray end tag
        while self.open_tags:
            open_tag, hidden, text_as, start = self.open_tags.pop()
            if open_tag == tag:
                break
        if hidden:
            return
        if tag == "a" and self.links:
            href, start, text_as = self.links.pop()
            label = " ".join("".join(self.pieces[start:]).split())
            if text_as == "button" and _is_web_link(href):
                self.pieces.append(f": {href}" if label else href)
            elif _is_web_link(href) and href.rstrip("/") != label.rstrip("/"):
                self.pieces.append(f" ({href})" if label else href)
        elif text_as == "heading":
            heading = " ".join("".join(self.pieces[start:]).split())
            del self.pieces[start:]
            if heading:
                line = ("=" if tag == "h1" else "-") * len(heading)
                self.pieces.append(f"\n\n{heading}\n{line}\n\n")
        elif text_as == "divider":
            del self.pieces[start:]
            self.pieces.append("\n\n----\n\n")
        self._break(tag)

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.pieces.append(_SPACES.sub(" ", data))  # source line breaks are spaces in HTML

    def _break(self, tag: str) -> None:
        if tag in _PARAGRAPH_TAGS:
            self.pieces.append("\n\n")
        elif tag in _LINE_TAGS:
            self.pieces.append("\n")
        elif tag == "td":
            self.pieces.append(" ")

    def text(self) -> str:
        raw = _INVISIBLE.sub("", "".join(self.pieces))
        lines = (" ".join(line.split()) for line in raw.split("\n"))
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def _is_web_link(href: str) -> bool:
    return bool(href) and not href.startswith(("#", "javascript:", "mailto:", "tel:"))


def html_to_text(html: str) -> str:
    """A plain-text version of rendered email HTML (links kept as ``text (url)``)."""
    if not html.strip():
        return ""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = parser.text()
    return text if text.strip() else ""
