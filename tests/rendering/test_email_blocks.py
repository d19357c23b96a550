"""The email body's blocks refuse what would not render, with errors on the block."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from wagtail.blocks.struct_block import StructBlockValidationError

from wagtail_oneonone.blocks import (
    ButtonBlock,
    DynamicBlock,
    EmailBodyBlock,
    EmailImageBlock,
    EmailRichTextBlock,
    HeadingBlock,
    ProductsBlock,
    RawJinjaBlock,
    RuleTreeBlock,
    SegmentChoiceBlock,
    segment_choices,
)
from wagtail_oneonone.models import Segment
from wagtail_oneonone.rendering import validate_body
from wagtail_oneonone.rendering.tags import literal, template_from_html, template_from_text

from .email_content import branch, dynamic, heading, png, rules, stream, wagtail_image

pytestmark = pytest.mark.django_db


def field_errors(exc: pytest.ExceptionInfo[Any]) -> dict[str, str]:
    assert isinstance(exc.value, StructBlockValidationError)
    return {name: " ".join(error.messages) for name, error in exc.value.block_errors.items()}


# Personalisation tags --------------------------------------------------------------------


def test_text_around_tags_is_escaped_and_tags_pass_through() -> None:
    source = template_from_text("Fish & chips for {{ contact.first_name|default('you', true) }}")
    assert source == "Fish &amp; chips for {{ contact.first_name|default('you', true) }}"
    # A stray brace is text, never the start of a tag.
    assert literal("{ not a tag {") == "&#123; not a tag &#123;"
    assert template_from_text('{{ "}}" }} <b>') == '{{ "}}" }} &lt;b&gt;'


def test_tags_in_rich_text_lose_the_editors_markup_and_entities() -> None:
    stored = "<p>Hi <b>{{ contact.</b>first_name|default(&#x27;you&#x27;, true) }} &amp; co</p>"
    assert template_from_html(stored) == (
        "<p>Hi <b>{{ contact.first_name|default('you', true) }} &amp; co</p>"
    )


def test_heading_refuses_tags_that_would_not_render() -> None:
    block = HeadingBlock()
    good = block.to_python({"text": "Hi {{ contact.first_name|upper }}", "level": "h1"})
    assert block.clean(good)["text"] == "Hi {{ contact.first_name|upper }}"
    bad = block.to_python({"text": "Hi {{ contact.first_name|uper }}", "level": "h1"})
    with pytest.raises(ValidationError) as exc:
        block.clean(bad)
    assert field_errors(exc) == {"text": "there is no filter named 'uper' (did you mean 'upper'?)"}
    unclosed = block.to_python({"text": "Hi {{ contact.first_name", "level": "h1"})
    with pytest.raises(ValidationError) as exc:
        block.clean(unclosed)
    assert "text" in field_errors(exc)


def test_rich_text_refuses_broken_tags() -> None:
    block = EmailRichTextBlock()
    assert block.clean(block.to_python("<p>Hi {{ contact.first_name }}</p>"))
    with pytest.raises(ValidationError, match="Unexpected end of template"):
        block.clean(block.to_python("<p>{% if contact.first_name %}Hi</p>"))


def test_button_label_is_checked_and_needs_exactly_one_target() -> None:
    block = ButtonBlock()

    def clean(**value: Any) -> Any:
        return block.clean(block.to_python({"label": "Go", **value}))

    assert clean(url="https://shop.example/")["url"] == "https://shop.example/"
    with pytest.raises(ValidationError) as exc:
        clean()
    assert set(field_errors(exc)) == {"page", "url"}
    with pytest.raises(ValidationError) as exc:
        clean(url="https://shop.example/", label="{{ contact._private }}")
    assert field_errors(exc) == {"label": "names starting with '_' are not available ('_private')"}
    with pytest.raises(ValidationError) as exc:
        clean(url="https://shop.example/", background_colour="red;display:none")
    assert field_errors(exc) == {"background_colour": "Enter a colour like #1a2b3c."}


def test_image_needs_alt_text_and_a_format_email_clients_show(
    settings: Any, tmp_path: Any
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    block = EmailImageBlock()
    image = wagtail_image(40, 20)
    with pytest.raises(ValidationError) as exc:
        block.clean(block.to_python({"image": image.pk, "alt_text": "", "width": "content"}))
    assert set(field_errors(exc)) == {"alt_text"}
    ok = block.to_python({"image": image.pk, "alt_text": "Boots", "width": "full"})
    assert block.clean(ok)["image"] == image
    from wagtail.images import get_image_model

    svg = get_image_model().objects.create(title="Logo", file=png(10, 10, name="logo.svg"))
    with pytest.raises(ValidationError) as exc:
        block.clean(block.to_python({"image": svg.pk, "alt_text": "Logo"}))
    assert field_errors(exc) == {
        "image": "Most email clients cannot show SVG images; use a JPEG, PNG or GIF."
    }


def test_chosen_products_need_pages_recent_ones_do_not() -> None:
    block = ProductsBlock()
    with pytest.raises(ValidationError) as exc:
        block.clean(block.to_python({"source": "chosen", "pages": [], "count": 3}))
    assert field_errors(exc) == {"pages": "Choose at least one page."}
    recent = block.clean(block.to_python({"source": "recent", "pages": [], "count": 4}))
    assert recent["count"] == 4


def test_raw_block_errors_refuse_the_save_with_the_line() -> None:
    block = RawJinjaBlock()
    assert block.clean("<p>{{ contact.email }}</p>") == "<p>{{ contact.email }}</p>"
    with pytest.raises(ValidationError) as exc:
        block.clean("<p>\n{% for p in recent_products %}\n{{ p.name|mony }}\n{% endfor %}</p>")
    assert exc.value.messages == [
        "line 3: there is no filter named 'mony' (did you mean 'money'?)"
    ]
    with pytest.raises(ValidationError, match="include"):
        block.clean('{% include "secrets.html" %}')


def test_dynamic_block_conditions_are_checked() -> None:
    vip = Segment.objects.create(name="VIP", slug="vip")
    assert (str(vip.pk), "VIP") in segment_choices()
    segment = SegmentChoiceBlock()
    assert segment.clean(str(vip.pk)) == str(vip.pk)
    rule_block = RuleTreeBlock()
    cleaned = rule_block.clean(rules({"condition": "event", "event_type": "order_placed"}))
    assert json.loads(cleaned)["rules"]["count"] == 1  # normalised, defaults filled in
    with pytest.raises(ValidationError, match="not valid JSON"):
        rule_block.clean("{'version': 1}")
    with pytest.raises(ValidationError, match=r"rules\.condition: unknown condition 'bougth'"):
        rule_block.clean(rules({"condition": "bougth"}))
    with pytest.raises(ValidationError, match="segment"):
        rule_block.clean(rules({"condition": "segment", "segment": 9999}))

    block = DynamicBlock()
    no_fallback = block.to_python(
        dynamic(branch("VIPs", ("segment", str(vip.pk)), heading("Hi VIP")), fallback=[])[1]
    )
    with pytest.raises(ValidationError) as exc:
        block.clean(no_fallback)
    assert "fallback" in field_errors(exc)
    vip.delete()
    with pytest.raises(ValidationError):
        segment.clean(str(vip.pk))


def test_the_whole_body_reports_errors_where_they_are() -> None:
    body = EmailBodyBlock()
    value = stream(
        heading("Fine"),
        dynamic(
            branch("All", ("rules", rules({"all": []})), heading("{{ contact.first_name|uper }}")),
            fallback=[heading("Hello")],
        ),
    )
    with pytest.raises(ValidationError) as exc:
        body.clean(value)
    assert "uper" in json.dumps(exc.value.as_json_data())


def test_validate_body_names_blocks_and_finds_typos() -> None:
    value = stream(
        heading("Hi {{ contact.frist_name }}"),
        ("raw", "<p>{{ contcat.email }}</p>"),
        dynamic(
            branch("All", ("rules", rules({"all": []})), heading("{{ site.nmae }}")),
            fallback=[("rich_text", "<p>{{ contact.first_name }}</p>")],
        ),
    )
    found = [(issue.part, issue.severity, issue.message) for issue in validate_body(value)]
    assert found == [
        (
            "block 1 (heading)",
            "warning",
            "contact has no field 'frist_name' (did you mean 'first_name'?); "
            "it will print nothing",
        ),
        (
            "block 2 (raw)",
            "warning",
            "unknown variable 'contcat' (did you mean 'contact'?); it will print nothing",
        ),
        (
            "block 3 (dynamic), branch 1, block 1 (heading)",
            "warning",
            "site has no field 'nmae' (did you mean 'name'?); it will print nothing",
        ),
    ]


def test_the_editing_form_can_be_built_and_lists_the_segments() -> None:
    try:
        from wagtail.admin.telepath import JSContext
    except ImportError:  # Wagtail < 8
        from wagtail.telepath import JSContext

    Segment.objects.create(name="Lapsed buyers", slug="lapsed")
    packed = json.dumps(JSContext().pack(EmailBodyBlock()))
    assert "Lapsed buyers" in packed
    assert "Template code" in packed
