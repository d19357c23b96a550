"""The frame of an email built from blocks: document head, styles, header and footer.

:class:`EmailLayoutSpec` is what a layout (the EmailLayout snippet) says: brand colours,
logo, postal address, footer. :func:`layout_document` puts a body's rows inside it as
template source: a 600px centred, ``role="presentation"`` table with the styles in one
``<style>`` element, which :func:`finish_email_html` inlines after each contact's render
(keeping the media queries: small screens and dark mode).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import css_inline

from .tags import literal, template_from_text

#: Width of the email's column, and of its content inside the side padding.
CONTAINER_WIDTH = 600
SIDE_PADDING = 24
CONTENT_WIDTH = CONTAINER_WIDTH - 2 * SIDE_PADDING
#: Gmail clips an HTML part over 102 KB (hiding the footer and its unsubscribe link);
#: a finished email over this size gets a warning.
MAX_EMAIL_HTML_BYTES = 100 * 1024

_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_FONT_FAMILY = re.compile(r"^[\w\s,'\"-]{1,200}$")
_COLOUR_FIELDS = (
    "brand_colour",
    "button_text_colour",
    "background",
    "content_background",
    "text_colour",
    "muted_colour",
    "dark_background",
    "dark_content_background",
    "dark_text_colour",
    "dark_muted_colour",
)
_TEXT_AS = re.compile(r'\sdata-text-as="[a-z]*"')


def is_colour(value: str) -> bool:
    """``#rgb`` or ``#rrggbb``: the only colours that go into an email's CSS."""
    return bool(_COLOUR.match(value))


@dataclass(frozen=True)
class EmailLayoutSpec:
    """An email layout: what surrounds the blocks. The postal address is required by law.

    ``logo_url`` is absolute (an image rendition's URL made absolute). ``footer_html`` is
    rich text, stored (``<a linktype="page" ...>``) or expanded: its links are expanded and
    made absolute when a body is built, and it may hold personalisation tags. Colours are
    ``#rgb``/``#rrggbb``; anything else raises ``ValueError`` so it never reaches the CSS.
    """

    name: str
    postal_address: str
    logo_url: str = ""
    logo_alt: str = ""
    logo_width: int = 160
    logo_height: int | None = None
    link_url: str = ""  # where the logo leads; "" → the site's address
    footer_html: str = ""
    brand_colour: str = "#2563eb"
    button_text_colour: str = "#ffffff"
    background: str = "#f3f4f6"
    content_background: str = "#ffffff"
    text_colour: str = "#1f2933"
    muted_colour: str = "#6b7280"
    dark_background: str = "#111315"
    dark_content_background: str = "#1c1f23"
    dark_text_colour: str = "#e5e7eb"
    dark_muted_colour: str = "#9ca3af"
    font_family: str = "-apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
    language: str = "en"
    unsubscribe_label: str = "Unsubscribe"
    preferences_label: str = "Email preferences"

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be a colour like #1a2b3c, not {getattr(self, name)!r}"
            for name in _COLOUR_FIELDS
            if not is_colour(getattr(self, name))
        ]
        if not self.postal_address.strip():
            problems.append("postal_address is required: the law asks for it in every email")
        if not _FONT_FAMILY.match(self.font_family):
            problems.append("font_family may hold letters, digits, spaces, commas and quotes")
        if not re.match(r"^[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*$", self.language):
            problems.append(f"language must be a language tag like 'en-GB', not {self.language!r}")
        if not 1 <= self.logo_width <= CONTAINER_WIDTH:
            problems.append(f"logo_width must be between 1 and {CONTAINER_WIDTH}")
        if problems:
            raise ValueError("; ".join(problems))


def stylesheet(layout: EmailLayoutSpec) -> str:
    """The email's CSS: inlined per message, the media queries kept in ``<style>``."""
    font = layout.font_family
    return f"""
:root {{ color-scheme: light dark; supported-color-schemes: light dark; }}
body {{ margin: 0; padding: 0; width: 100%; -webkit-text-size-adjust: 100%;
  -ms-text-size-adjust: 100%; background-color: {layout.background}; }}
table {{ border-collapse: collapse; mso-table-lspace: 0pt; mso-table-rspace: 0pt; }}
img {{ border: 0; outline: none; text-decoration: none; -ms-interpolation-mode: bicubic; }}
.oo-page {{ background-color: {layout.background}; }}
.oo-container {{ width: {CONTAINER_WIDTH}px; max-width: {CONTAINER_WIDTH}px;
  background-color: {layout.content_background}; }}
.oo-header {{ padding: {SIDE_PADDING}px; border-top: 4px solid {layout.brand_colour}; }}
.oo-brand {{ font-family: {font}; font-size: 22px; font-weight: 700;
  color: {layout.brand_colour}; text-decoration: none; }}
.oo-block {{ padding: 0 {SIDE_PADDING}px 16px; font-family: {font}; font-size: 16px;
  line-height: 1.5; color: {layout.text_colour}; }}
.oo-block-full {{ padding: 0 0 16px; }}
.oo-heading {{ margin: 0; font-family: {font}; font-weight: 700; line-height: 1.25;
  color: {layout.text_colour}; }}
.oo-h1 {{ font-size: 28px; }}
.oo-h2 {{ font-size: 22px; }}
.oo-h3 {{ font-size: 18px; }}
.oo-text p {{ margin: 0 0 12px; }}
.oo-text h2, .oo-text h3, .oo-text h4 {{ margin: 16px 0 8px; line-height: 1.25; }}
.oo-text ul, .oo-text ol {{ margin: 0 0 12px; padding-left: 24px; }}
.oo-text a, .oo-link {{ color: {layout.brand_colour}; text-decoration: underline; }}
.oo-image {{ display: block; height: auto; max-width: 100%; }}
.oo-button-cell {{ border-radius: 6px; }}
.oo-button {{ display: inline-block; padding: 12px 24px; border-radius: 6px;
  font-family: {font}; font-size: 16px; font-weight: 700; line-height: 1.25;
  text-decoration: none; }}
.oo-divider {{ border-top: 1px solid #e5e7eb; font-size: 0; line-height: 0; }}
.oo-spacer {{ font-size: 0; line-height: 0; }}
.oo-product-name {{ margin: 0 0 4px; font-weight: 700; color: {layout.text_colour};
  text-decoration: none; }}
.oo-product-price {{ margin: 0; color: {layout.muted_colour}; }}
.oo-footer {{ padding: {SIDE_PADDING}px; font-family: {font}; font-size: 12px;
  line-height: 1.5; color: {layout.muted_colour}; text-align: center; }}
.oo-footer p {{ margin: 0 0 8px; }}
.oo-footer a {{ color: {layout.muted_colour}; text-decoration: underline; }}
@media screen and (max-width: {CONTAINER_WIDTH + 20}px) {{
  .oo-container {{ width: 100% !important; }}
  .oo-block {{ padding-left: 16px !important; padding-right: 16px !important; }}
  .oo-fluid {{ width: 100% !important; height: auto !important; }}
}}
@media (prefers-color-scheme: dark) {{
  body, .oo-page {{ background-color: {layout.dark_background} !important; }}
  .oo-container {{ background-color: {layout.dark_content_background} !important; }}
  .oo-block, .oo-heading, .oo-text, .oo-product-name {{
    color: {layout.dark_text_colour} !important; }}
  .oo-product-price, .oo-footer, .oo-footer a {{
    color: {layout.dark_muted_colour} !important; }}
  .oo-divider {{ border-top-color: #374151 !important; }}
}}
""".strip()


def layout_document(
    layout: EmailLayoutSpec, rows: str, *, subject: str, base_url: str, footer: str = ""
) -> str:
    """The whole document as template source, ``rows`` (``<tr>`` elements) as its body.

    ``footer`` is the layout's ``footer_html`` as template source (links made absolute).
    """
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{literal(layout.language)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta http-equiv="X-UA-Compatible" content="IE=edge">\n'
        '<meta name="x-apple-disable-message-reformatting">\n'
        '<meta name="color-scheme" content="light dark">\n'
        '<meta name="supported-color-schemes" content="light dark">\n'
        f"<title>{template_from_text(subject)}</title>\n"
        # The stylesheet is literal text: no brace in it may start a tag.
        f"<style>\n{{% raw %}}{stylesheet(layout)}{{% endraw %}}\n</style>\n"
        "<!--[if mso]><noscript><xml><o:OfficeDocumentSettings><o:PixelsPerInch>96"
        "</o:PixelsPerInch></o:OfficeDocumentSettings></xml></noscript><![endif]-->\n"
        "</head>\n"
        f'<body class="oo-body" bgcolor="{layout.background}">\n'
        '<table role="presentation" class="oo-page" width="100%" cellpadding="0" '
        f'cellspacing="0" border="0" bgcolor="{layout.background}">\n'
        '<tr><td align="center" style="padding:24px 8px">\n'
        f'<table role="presentation" class="oo-container" width="{CONTAINER_WIDTH}" '
        f'cellpadding="0" cellspacing="0" border="0" bgcolor="{layout.content_background}">\n'
        f"{_header(layout, base_url)}{rows}{_footer(layout, footer)}"
        "</table>\n</td></tr>\n</table>\n</body>\n</html>\n"
    )


def _header(layout: EmailLayoutSpec, base_url: str) -> str:
    link = literal(layout.link_url or base_url or "#")
    if layout.logo_url:
        height = f' height="{layout.logo_height}"' if layout.logo_height else ""
        inner = (
            f'<img src="{literal(layout.logo_url)}" width="{layout.logo_width}"{height} '
            f'alt="{literal(layout.logo_alt or layout.name)}" class="oo-image" '
            f'style="width:{layout.logo_width}px">'
        )
    else:
        inner = literal(layout.name)
    return f'<tr><td class="oo-header"><a href="{link}" class="oo-brand">{inner}</a></td></tr>\n'


def _footer(layout: EmailLayoutSpec, extra: str) -> str:
    address = "<br>".join(
        literal(line.strip()) for line in layout.postal_address.splitlines() if line.strip()
    )
    return (
        f'<tr><td class="oo-footer">{extra}<p>{address}</p>'
        '<p><a href="{{ unsubscribe_url }}">'
        f"{literal(layout.unsubscribe_label)}</a> &middot; "
        '<a href="{{ preferences_url }}">'
        f"{literal(layout.preferences_label)}</a></p></td></tr>\n"
    )


# After the render -------------------------------------------------------------------------


def finish_email_html(html: str) -> str:
    """Inline the CSS of one rendered email (media queries stay in ``<style>``).

    Also drops the ``data-text-as`` hints the text part was made from. No stylesheet is
    ever fetched. Check the result with :func:`email_size_warnings`.
    """
    if not html.strip():
        return html
    inlined = css_inline.inline(html, keep_at_rules=True, load_remote_stylesheets=False)
    return _TEXT_AS.sub("", inlined)


def email_size_warnings(html: str) -> list[str]:
    """What is wrong with a finished email's size (empty when nothing is)."""
    size = len(html.encode("utf-8"))
    if size <= MAX_EMAIL_HTML_BYTES:
        return []
    return [
        f"the email's HTML is {size / 1024:.0f} KB; Gmail clips emails over about 100 KB, "
        "hiding the rest (and the unsubscribe link) behind 'View entire message'. "
        "Use fewer or smaller blocks."
    ]
