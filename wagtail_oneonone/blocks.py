"""Email content as Wagtail blocks: what campaigns and flow steps write their body with.

``EmailBodyBlock`` is the StreamField's block. Every block is one that email clients
show reliably; ``rendering.email_html.body_template`` turns a body into email HTML.
Headings, rich text and button labels may hold personalisation tags
(``{{ contact.first_name|default('there', true) }}``): they are checked when the block is
saved and filled in for each contact when the email is rendered.

Rendering is imported inside the checks, not at the top: models will import this module
for their StreamFields, and rendering imports the models.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _
from wagtail import blocks
from wagtail.blocks.struct_block import StructBlockValidationError
from wagtail.images.blocks import ImageChooserBlock

#: Rich-text features that survive email clients (no embeds, code or images in text).
RICH_TEXT_FEATURES = ["h2", "h3", "bold", "italic", "link", "document-link", "ol", "ul"]
PERSONALISATION_HELP = _(
    "May be personalised: {{ contact.first_name|default('there', true) }}. "
    "See the email content docs for what is available."
)
ALIGN_CHOICES = [("left", _("Left")), ("center", _("Centre"))]
IMAGE_WIDTH_CHOICES = [
    ("full", _("Edge to edge (600px)")),
    ("content", _("Text width (552px)")),
    ("half", _("Half (276px)")),
    ("small", _("Small (160px)")),
]
SPACER_CHOICES = [("16", _("Small")), ("32", _("Medium")), ("48", _("Large"))]
#: Recently viewed products the context holds at most (``context.RECENT_PRODUCTS``).
MAX_PRODUCTS = 6
#: Image formats most email clients cannot show.
UNSUPPORTED_IMAGE_FORMATS = (".svg", ".webp", ".avif", ".heic", ".heif", ".tif", ".tiff")

colour_validator = RegexValidator(
    r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$",
    _("Enter a colour like #1a2b3c."),
)


def is_deferred(block: blocks.Block) -> bool:
    """A draft being saved: completeness checks wait (Wagtail 8; 7.x has no drafts of this)."""
    return bool(getattr(block, "is_deferred_validation", False))


def tag_errors(template: str) -> list[str]:
    """Errors in a piece of template source (warnings are left for the whole-body check)."""
    from .rendering.validate import ERROR, validate_part

    several_lines = "\n" in template.strip()
    return [
        f"line {issue.line}: {issue.message}" if issue.line and several_lines else issue.message
        for issue in validate_part("html", template)
        if issue.severity == ERROR
    ]


def check_tags(source: str, to_template: Callable[[str], str]) -> ValidationError | None:
    """An error if the tags in an editor's ``source`` would not render."""
    from .rendering.tags import stray_delimiter

    if "{" not in source:
        return None
    errors = tag_errors(to_template(source))
    if not errors and stray_delimiter(source):
        # Left as text it would reach every inbox as "{{ contact.first_na"; say why.
        errors = tag_errors(source) or [
            _("'%(start)s' starts a tag that is never closed") % {"start": stray_delimiter(source)}
        ]
    return ValidationError("; ".join(errors)) if errors else None


def raise_field_errors(errors: dict[str, ValidationError | None]) -> None:
    found = {name: error for name, error in errors.items() if error is not None}
    if found:
        raise StructBlockValidationError(block_errors=found)


# Basic blocks ------------------------------------------------------------------------------


class HeadingBlock(blocks.StructBlock):
    text = blocks.CharBlock(max_length=200, help_text=PERSONALISATION_HELP)
    level = blocks.ChoiceBlock(
        choices=[("h1", _("Large")), ("h2", _("Medium")), ("h3", _("Small"))], default="h2"
    )
    align = blocks.ChoiceBlock(choices=ALIGN_CHOICES, default="left")

    class Meta:
        icon = "title"
        label = _("Heading")

    def clean(self, value: Any) -> Any:
        from .rendering.tags import template_from_text

        value = super().clean(value)
        raise_field_errors({"text": check_tags(value["text"], template_from_text)})
        return value


class EmailRichTextBlock(blocks.RichTextBlock):
    """Paragraphs, lists and links; links are made absolute when the email is built."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("features", RICH_TEXT_FEATURES)
        kwargs.setdefault("help_text", PERSONALISATION_HELP)
        super().__init__(**kwargs)

    class Meta:
        icon = "pilcrow"
        label = _("Text")

    def clean(self, value: Any) -> Any:
        from .rendering.tags import template_from_html

        value = super().clean(value)
        error = check_tags(getattr(value, "source", "") or "", template_from_html)
        if error is not None:
            raise error
        return value


class EmailImageBlock(blocks.StructBlock):
    image = ImageChooserBlock()
    alt_text = blocks.CharBlock(
        max_length=250,
        help_text=_("What the image shows, for people who cannot see it (and the text part)."),
    )
    width = blocks.ChoiceBlock(choices=IMAGE_WIDTH_CHOICES, default="content")
    link_page = blocks.PageChooserBlock(required=False, label=_("Link to a page"))
    link_url = blocks.URLBlock(required=False, label=_("or to an address"))

    class Meta:
        icon = "image"
        label = _("Image")

    def clean(self, value: Any) -> Any:
        value = super().clean(value)
        errors: dict[str, ValidationError | None] = {}
        image = value.get("image")
        name = str(getattr(getattr(image, "file", None), "name", "") or "").lower()
        if name.endswith(UNSUPPORTED_IMAGE_FORMATS):
            errors["image"] = ValidationError(
                _("Most email clients cannot show %(kind)s images; use a JPEG, PNG or GIF.")
                % {"kind": name.rsplit(".", 1)[-1].upper()}
            )
        if value.get("link_page") and value.get("link_url"):
            errors["link_url"] = ValidationError(_("Link to a page or to an address, not both."))
        raise_field_errors(errors)
        return value


class ButtonBlock(blocks.StructBlock):
    label = blocks.CharBlock(max_length=80, help_text=PERSONALISATION_HELP)
    page = blocks.PageChooserBlock(required=False)
    url = blocks.URLBlock(required=False, label=_("or address"))
    background_colour = blocks.CharBlock(
        required=False,
        validators=[colour_validator],
        help_text=_("Like #1a2b3c; empty: the layout's brand colour."),
    )
    text_colour = blocks.CharBlock(
        required=False,
        validators=[colour_validator],
        help_text=_("Like #ffffff; empty: the layout's button text colour."),
    )
    align = blocks.ChoiceBlock(choices=ALIGN_CHOICES, default="center")

    class Meta:
        icon = "link"
        label = _("Button")

    def clean(self, value: Any) -> Any:
        from .rendering.tags import template_from_text

        value = super().clean(value)
        errors: dict[str, ValidationError | None] = {
            "label": check_tags(value["label"], template_from_text)
        }
        if value.get("page") and value.get("url"):
            errors["url"] = ValidationError(_("Choose a page or enter an address, not both."))
        elif not value.get("page") and not value.get("url") and not is_deferred(self):
            errors["page"] = ValidationError(_("Choose the page the button leads to."))
            errors["url"] = ValidationError(_("Or enter an address."))
        raise_field_errors(errors)
        return value


class ProductsBlock(blocks.StructBlock):
    source = blocks.ChoiceBlock(
        choices=[
            ("chosen", _("The pages chosen below")),
            ("recent", _("The contact's recently viewed products")),
        ],
        default="chosen",
    )
    pages = blocks.ListBlock(
        blocks.PageChooserBlock(),
        default=[],
        min_num=0,
        help_text=_(
            "With recently viewed products, these show to contacts who viewed none. "
            "A page's image, price and short description show when it has them."
        ),
    )
    count = blocks.IntegerBlock(min_value=1, max_value=MAX_PRODUCTS, default=3)

    class Meta:
        icon = "list-ul"
        label = _("Products or pages")

    def clean(self, value: Any) -> Any:
        value = super().clean(value)
        pages = [page for page in value.get("pages") or [] if page is not None]
        if value["source"] == "chosen" and not pages and not is_deferred(self):
            raise_field_errors({"pages": ValidationError(_("Choose at least one page."))})
        return value


class DividerBlock(blocks.StaticBlock):
    class Meta:
        icon = "minus"
        label = _("Divider")
        admin_text = _("A thin line across the email.")


class SpacerBlock(blocks.StructBlock):
    height = blocks.ChoiceBlock(choices=SPACER_CHOICES, default="32")

    class Meta:
        icon = "order"
        label = _("Space")


class BasicContentBlock(blocks.StreamBlock):
    """Content inside a dynamic block: the basic blocks, no dynamic or raw ones."""

    heading = HeadingBlock()
    rich_text = EmailRichTextBlock()
    image = EmailImageBlock()
    button = ButtonBlock()
    products = ProductsBlock()
    divider = DividerBlock()
    spacer = SpacerBlock()


# Dynamic content ---------------------------------------------------------------------------


def segment_choices() -> list[tuple[str, str]]:
    """Every segment, for the branch condition's drop-down (read when the form is shown)."""
    from .models import Segment

    return [(str(pk), name) for pk, name in Segment.objects.values_list("pk", "name")]


class SegmentChoiceBlock(blocks.ChoiceBlock):
    """A segment, stored by id."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("choices", segment_choices)
        super().__init__(**kwargs)

    class Meta:
        icon = "group"
        label = _("Contacts in a segment")

    def clean(self, value: Any) -> Any:
        from .models import Segment

        value = super().clean(value)
        if value and not Segment.objects.filter(pk=int(value)).exists():
            raise ValidationError(_("That segment no longer exists."))
        return value


class RuleTreeBlock(blocks.TextBlock):
    """A rule tree as JSON (``{"version": 1, "rules": {...}}``), as in docs/segments.md."""

    class Meta:
        icon = "code"
        label = _("Contacts matching rules (JSON)")

    def clean(self, value: Any) -> Any:
        from .exceptions import SegmentRuleError
        from .segments import check_segment_rules

        value = super().clean(value)
        if not value:
            return value
        try:
            tree = json.loads(value)
        except ValueError as exc:
            raise ValidationError(
                _("This is not valid JSON: %(error)s") % {"error": exc}
            ) from None
        try:
            cleaned = check_segment_rules(tree)
        except SegmentRuleError as exc:
            raise ValidationError(str(exc)) from None
        return json.dumps(cleaned, indent=2, ensure_ascii=False)


class ConditionBlock(blocks.StreamBlock):
    segment = SegmentChoiceBlock()
    rules = RuleTreeBlock()

    class Meta:
        min_num = 1
        max_num = 1
        icon = "help"


class BranchBlock(blocks.StructBlock):
    label = blocks.CharBlock(
        max_length=80, help_text=_("Shown in previews: 'Dynamic block 1: branch VIPs'.")
    )
    condition = ConditionBlock()
    content = BasicContentBlock()

    class Meta:
        icon = "sliders"
        label = _("Branch")


class DynamicBlock(blocks.StructBlock):
    """Content chosen per contact: the first branch whose condition matches, else fallback."""

    branches = blocks.ListBlock(
        BranchBlock(),
        min_num=1,
        help_text=_("Tried in order; a contact sees the first branch that matches."),
    )
    fallback = BasicContentBlock(
        required=True, help_text=_("For everyone no branch matches (and when data is missing).")
    )

    class Meta:
        icon = "sliders"
        label = _("Dynamic content")


class RawJinjaBlock(blocks.TextBlock):
    """A Jinja2 HTML template of its own, for power users; checked when saved."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "help_text",
            _("HTML with Jinja2, as in email templates. It sits inside the email's column."),
        )
        super().__init__(**kwargs)

    class Meta:
        icon = "code"
        label = _("Template code")

    def clean(self, value: Any) -> Any:
        value = super().clean(value)
        errors = tag_errors(value or "")
        if errors:
            raise ValidationError("; ".join(errors))
        return value


class EmailBodyBlock(blocks.StreamBlock):
    """An email's body: the StreamField block campaigns and flow steps use."""

    heading = HeadingBlock()
    rich_text = EmailRichTextBlock()
    image = EmailImageBlock()
    button = ButtonBlock()
    products = ProductsBlock()
    divider = DividerBlock()
    spacer = SpacerBlock()
    dynamic = DynamicBlock()
    raw = RawJinjaBlock()

    class Meta:
        block_counts = {"dynamic": {"max_num": 20}}
