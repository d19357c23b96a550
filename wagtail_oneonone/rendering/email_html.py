"""An email body of blocks, in a layout, as one template: built once per revision.

``body_template(body, layout, ...)`` reads the StreamField value once (pages, image
renditions, links made absolute) and writes table-based email HTML as template source;
only personalisation tags, recently viewed products and dynamic blocks are left for the
per-contact render, so the existing cache compiles it once per ``(key, revision)``.

``render_body(body, context, contact_id=...)`` renders it for one contact: it adds
``dynamic_choice`` to the context, renders, inlines the CSS and checks the size.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from wagtail.rich_text import expand_db_html

from ..exceptions import TemplateRenderError
from .context import absolute, site_context
from .dynamic import DynamicBlockSpec, DynamicBranch, DynamicChoices, DynamicOutcome
from .email_layout import (
    CONTAINER_WIDTH,
    CONTENT_WIDTH,
    EmailLayoutSpec,
    email_size_warnings,
    finish_email_html,
    is_colour,
    layout_document,
)
from .environment import money
from .render import RenderedEmail, TemplateSource, render_email
from .tags import literal, template_from_html, template_from_text

#: Display widths of the image block's choices; renditions are made at twice the width.
IMAGE_WIDTHS = {"full": CONTAINER_WIDTH, "content": CONTENT_WIDTH, "half": 276, "small": 160}
PRODUCT_IMAGE_WIDTH = 120
#: The table every nested layout uses: no spacing, no borders, ignored by screen readers.
TABLE = 'role="presentation" cellpadding="0" cellspacing="0" border="0"'

_URL_ATTRIBUTE = re.compile(r'(\s(?:href|src)=")([^"]*)(")')
_HEADING_TAG = re.compile(r"<(h[1-6])\b")
_BLOCK_KEY = re.compile(r'\sdata-block-key="[^"]*"')
_UNSAFE_ID = re.compile(r"[^\w-]")


@dataclass(frozen=True)
class EmailBody:
    """A body ready to render: its template and what its dynamic blocks ask.

    ``warnings`` are problems found while building (a deleted page, a missing image) that
    leave something out of the email but do not stop it.
    """

    source: TemplateSource
    dynamic_blocks: tuple[DynamicBlockSpec, ...] = ()
    warnings: tuple[str, ...] = ()

    def choices_for(
        self, contact_id: int | None, *, now: dt.datetime | None = None
    ) -> DynamicChoices:
        """The ``dynamic_choice`` function for one contact's context."""
        return DynamicChoices(contact_id, self.dynamic_blocks, now=now)


@dataclass(frozen=True)
class RenderedBody:
    """One contact's email (CSS inlined), which dynamic branches it got, size warnings."""

    email: RenderedEmail
    choices: tuple[DynamicOutcome, ...] = ()
    warnings: tuple[str, ...] = ()

    def describe_choices(self) -> list[str]:
        """``["Dynamic block 1: branch 'VIPs' (segment VIP)", "Dynamic block 2: fallback"]``."""
        return [str(outcome) for outcome in self.choices]


def body_template(
    body: Iterable[Any],
    layout: EmailLayoutSpec,
    *,
    key: str,
    revision: int | str,
    subject: str,
    preheader: str = "",
) -> EmailBody:
    """The template of an email whose body is ``body`` (an ``EmailBodyBlock`` value).

    Call it once per revision of the content (and of the layout) and keep the result for
    every recipient: it reads pages and makes image renditions. Raises
    :class:`TemplateRenderError` when a dynamic block's stored condition is unusable.
    """
    builder = _Builder(layout=layout, base_url=site_context()["base_url"])
    if not builder.base_url:
        builder.warnings.append(
            "no BASE_URL (or WAGTAILADMIN_BASE_URL) is set, so links and images are "
            "relative and will not work in an inbox"
        )
    rows = builder.rows(body, top_level=True)
    html = layout_document(
        layout,
        rows,
        subject=subject,
        base_url=builder.base_url,
        footer=builder.rich_text(layout.footer_html),
    )
    return EmailBody(
        source=TemplateSource(
            key=key, revision=revision, subject=subject, preheader=preheader, html=html, text=""
        ),
        dynamic_blocks=tuple(builder.dynamic),
        warnings=tuple(builder.warnings),
    )


def render_body(
    body: EmailBody,
    context: Mapping[str, Any],
    *,
    contact_id: int | None,
    now: dt.datetime | None = None,
    choices: DynamicChoices | None = None,
) -> RenderedBody:
    """Render ``body`` for one contact, finished for sending; raises TemplateRenderError.

    ``context`` comes from ``build_context``/``build_contexts``; ``choices`` from
    ``choices_for_contacts`` when a batch asked its dynamic blocks at once.
    """
    if now is None and isinstance(context.get("now"), str):
        now = dt.datetime.fromisoformat(context["now"])
    chooser = choices if choices is not None else body.choices_for(contact_id, now=now)
    email = render_email(body.source, {**context, "dynamic_choice": chooser})
    html = finish_email_html(email.html)
    return RenderedBody(
        email=replace(email, html=html),
        choices=tuple(chooser.chosen()),
        warnings=tuple(email_size_warnings(html)),
    )


# Building ---------------------------------------------------------------------------------


@dataclass
class _Builder:
    layout: EmailLayoutSpec
    base_url: str
    dynamic: list[DynamicBlockSpec] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def rows(self, blocks: Iterable[Any], *, top_level: bool = False, where: str = "") -> str:
        out = []
        for position, child in enumerate(blocks, 1):
            label = f"{where}block {position} ({child.block_type})"
            emit = getattr(self, f"block_{child.block_type}", None)
            if emit is None or (child.block_type in ("dynamic", "raw") and not top_level):
                self.warnings.append(f"{label}: this kind of block cannot go here; left out")
                continue
            out.append(emit(child, label))
        return "".join(out)

    # URLs ---------------------------------------------------------------------------------

    def absolute(self, url: str) -> str:
        return absolute(url, self.base_url)

    def page_url(self, page: Any, where: str) -> str | None:
        url = page.get_url() if page is not None else None
        if not url:
            self.warnings.append(f"{where}: the page it links to no longer exists; left out")
            return None
        if not page.live:
            self.warnings.append(f"{where}: the page {page.title!r} is not published")
        return self.absolute(url)

    def link(self, page: Any, url: str, where: str) -> str | None:
        if page is not None:
            return self.page_url(page, where)
        return url or None

    def rich_text(self, value: Any) -> str:
        """Rich text (a block's value, or HTML) as template source: links expanded and
        made absolute, headings marked for the text part."""
        source = value if isinstance(value, str) else getattr(value, "source", "")
        markup = _BLOCK_KEY.sub("", expand_db_html(source or ""))
        markup = _URL_ATTRIBUTE.sub(
            lambda match: match.group(1) + self.absolute(match.group(2)) + match.group(3), markup
        )
        markup = _HEADING_TAG.sub(r'<\1 data-text-as="heading"', markup)
        return template_from_html(markup)

    # Images -------------------------------------------------------------------------------

    def image(
        self, image: Any, width: int, where: str, *, fill: bool = False
    ) -> tuple[str, int, int] | None:
        """``(absolute url, display width, height)`` of a rendition twice as wide."""
        if image is None:
            self.warnings.append(f"{where}: the image no longer exists; left out")
            return None
        spec = f"fill-{2 * width}x{2 * width}" if fill else f"width-{2 * width}"
        try:
            rendition = image.get_rendition(spec)
        except OSError as exc:
            self.warnings.append(f"{where}: the image file could not be read ({exc}); left out")
            return None
        shown = min(width, rendition.width)
        height = round(shown * rendition.height / rendition.width) if rendition.width else 0
        return self.absolute(rendition.url), shown, height

    def img_tag(self, found: tuple[str, int, int], alt: str, *, fluid: bool) -> str:
        url, width, height = found
        classes = "oo-image oo-fluid" if fluid else "oo-image"
        return (
            f'<img src="{literal(url)}" width="{width}" height="{height}" alt="{literal(alt)}" '
            f'class="{classes}" style="width:{width}px;max-width:100%;height:auto">'
        )

    # Blocks -------------------------------------------------------------------------------

    def block_heading(self, child: Any, where: str) -> str:
        value = child.value
        level = value.get("level") if value.get("level") in ("h1", "h2", "h3") else "h2"
        align = _align(value.get("align"), "left")
        text = template_from_text(value.get("text") or "")
        return (
            f'<tr><td class="oo-block" align="{align}" style="text-align:{align}">'
            f'<{level} class="oo-heading oo-{level}" data-text-as="heading">{text}</{level}>'
            "</td></tr>\n"
        )

    def block_rich_text(self, child: Any, where: str) -> str:
        return f'<tr><td class="oo-block oo-text">{self.rich_text(child.value)}</td></tr>\n'

    def block_image(self, child: Any, where: str) -> str:
        value = child.value
        choice = value.get("width") if value.get("width") in IMAGE_WIDTHS else "content"
        found = self.image(value.get("image"), IMAGE_WIDTHS[choice], where)
        if found is None:
            return ""
        tag = self.img_tag(found, value.get("alt_text") or "", fluid=choice in ("full", "content"))
        href = self.link(value.get("link_page"), value.get("link_url") or "", where)
        if href:
            tag = f'<a href="{literal(href)}">{tag}</a>'
        cell = "oo-block oo-block-full" if choice == "full" else "oo-block"
        return f'<tr><td class="{cell}" align="center">{tag}</td></tr>\n'

    def block_button(self, child: Any, where: str) -> str:
        value = child.value
        href = self.link(value.get("page"), value.get("url") or "", where)
        if href is None:
            # Saving needs a page or an address: the page was deleted since.
            if value.get("page") is None and not value.get("url"):
                self.warnings.append(f"{where}: its page no longer exists; it leads home")
            href = self.base_url or "#"
        background = _colour(value.get("background_colour"), self.layout.brand_colour)
        colour = _colour(value.get("text_colour"), self.layout.button_text_colour)
        align = _align(value.get("align"), "center")
        label = template_from_text(value.get("label") or "")
        # A link padded like a button; Outlook ignores padding on links, so invisible
        # em spaces raised by mso-text-raise give it the same size there (Mark Robbins'
        # bulletproof button). Only images can fail to load; this has none.
        return (
            f'<tr><td class="oo-block" align="{align}">'
            f'<table {TABLE} align="{align}"><tr>'
            f'<td class="oo-button-cell" bgcolor="{background}" '
            f'style="background-color:{background};border-radius:6px">'
            f'<a href="{literal(href)}" class="oo-button" data-text-as="button" '
            f'style="background-color:{background};color:{colour};'
            f'border:1px solid {background};mso-padding-alt:0">'
            '<!--[if mso]><i style="mso-font-width:150%;mso-text-raise:24pt" hidden>'
            '&emsp;</i><span style="mso-text-raise:12pt;"><![endif]-->'
            f"{label}"
            '<!--[if mso]></span><i style="mso-font-width:150%;" hidden>&emsp;&#8203;</i>'
            "<![endif]--></a></td></tr></table></td></tr>\n"
        )

    def block_divider(self, child: Any, where: str) -> str:
        return (
            f'<tr><td class="oo-block"><table {TABLE} width="100%"><tr>'
            '<td class="oo-divider" data-text-as="divider" height="1">&nbsp;</td>'
            "</tr></table></td></tr>\n"
        )

    def block_spacer(self, child: Any, where: str) -> str:
        height = str(child.value.get("height") or "32")
        height = height if height.isdigit() else "32"
        return (
            f'<tr><td class="oo-spacer" height="{height}" style="height:{height}px">'
            "&nbsp;</td></tr>\n"
        )

    def block_raw(self, child: Any, where: str) -> str:
        return f'<tr><td class="oo-block">{child.value or ""}</td></tr>\n'

    def block_products(self, child: Any, where: str) -> str:
        value = child.value
        count = max(1, min(int(value.get("count") or 3), 6))
        chosen = "".join(
            self.page_card(page, where) for page in list(value.get("pages") or [])[:count]
        )
        if value.get("source") != "recent":
            return chosen
        # The contact's own products, filled in per render; the chosen pages otherwise.
        return (
            f"{{% for product in recent_products[:{count}] %}}{_RECENT_PRODUCT}"
            f"{{% else %}}{chosen}{{% endfor %}}\n"
        )

    def page_card(self, page: Any, where: str) -> str:
        href = self.page_url(page, where)
        if href is None:
            return ""
        specific = page.specific
        image = getattr(specific, "image", None)
        found = (
            self.image(image, PRODUCT_IMAGE_WIDTH, where, fill=True)
            if image is not None and hasattr(image, "get_rendition")
            else None
        )
        picture = (
            _image_cell(
                f'<a href="{literal(href)}">{self.img_tag(found, page.title, fluid=False)}</a>'
            )
            if found
            else ""
        )
        price = getattr(specific, "price", None)
        shown_price = money(price) if isinstance(price, int | float | Decimal) else ""
        description = str(
            getattr(specific, "short_description", "") or getattr(page, "search_description", "")
        )
        details = (
            f'<a href="{literal(href)}" class="oo-product-name">{literal(page.title)}</a>'
            + (f'<p class="oo-product-price">{literal(shown_price)}</p>' if shown_price else "")
            + (f'<p style="margin:4px 0 0">{literal(description)}</p>' if description else "")
        )
        return _product_row(picture, details)

    def block_dynamic(self, child: Any, where: str) -> str:
        value = child.value
        number = len(self.dynamic) + 1
        block_id = _UNSAFE_ID.sub("", str(child.id or "")) or f"dynamic-{number}"
        branches: list[DynamicBranch] = []
        parts: list[str] = []
        for index, branch in enumerate(value.get("branches") or [], 1):
            label = str(branch.get("label") or f"Branch {index}")
            condition = _branch_condition(branch, label, f"{where}, branch {index}")
            content = self.rows(branch.get("content") or [], where=f"{where}, branch {index}, ")
            keyword = "if" if not branches else "elif"
            parts.append(f"{{% {keyword} choice == {len(branches)} %}}\n{content}")
            branches.append(condition)
        fallback = self.rows(value.get("fallback") or [], where=f"{where}, fallback, ")
        self.dynamic.append(DynamicBlockSpec(block_id, number, tuple(branches)))
        if not branches:
            return fallback
        return (
            f'{{% with choice = dynamic_choice("{block_id}") %}}\n'
            + "".join(parts)
            + f"{{% else %}}\n{fallback}{{% endif %}}\n{{% endwith %}}\n"
        )


def _branch_condition(branch: Mapping[str, Any], label: str, where: str) -> DynamicBranch:
    conditions = list(branch.get("condition") or [])
    if len(conditions) != 1:
        raise TemplateRenderError("html", f"{where}: a branch needs exactly one condition")
    condition = conditions[0]
    if condition.block_type == "segment":
        try:
            return DynamicBranch(label, segment_id=int(condition.value))
        except (TypeError, ValueError):
            raise TemplateRenderError("html", f"{where}: no segment is chosen") from None
    try:
        rules = json.loads(condition.value or "")
    except ValueError as exc:
        raise TemplateRenderError(
            "html", f"{where}: the rules are not valid JSON ({exc})"
        ) from None
    if not isinstance(rules, dict):
        raise TemplateRenderError("html", f"{where}: the rules must be a JSON object")
    return DynamicBranch(label, rules=rules)


def _align(value: Any, default: str) -> str:
    return value if value in ("left", "center") else default


def _colour(value: Any, default: str) -> str:
    return value if isinstance(value, str) and is_colour(value) else default


def _image_cell(picture: str) -> str:
    # Left out of the text part: the product's name, next to it, says the same.
    return (
        f'<td width="{PRODUCT_IMAGE_WIDTH}" valign="top" data-text-as="skip" '
        f'style="width:{PRODUCT_IMAGE_WIDTH}px;padding-right:16px">{picture}</td>'
    )


def _product_row(image_cell: str, details: str) -> str:
    return (
        f'<tr><td class="oo-block"><table {TABLE} width="100%"><tr>'
        f'{image_cell}<td valign="top">{details}</td></tr></table></td></tr>\n'
    )


# One recently viewed product, as template source (the context's fields are plain data).
_RECENT_PRODUCT = _product_row(
    "{% if product.image_url %}"
    + _image_cell(
        '<a href="{{ product.url }}"><img src="{{ product.image_url }}" '
        f'width="{PRODUCT_IMAGE_WIDTH}" alt="{{{{ product.name }}}}" class="oo-image" '
        f'style="width:{PRODUCT_IMAGE_WIDTH}px;max-width:100%;height:auto"></a>'
    )
    + "{% endif %}",
    '<a href="{{ product.url }}" class="oo-product-name">{{ product.name }}</a>'
    '{% if product.price %}<p class="oo-product-price">{{ product.price|money }}</p>'
    "{% endif %}",
)
