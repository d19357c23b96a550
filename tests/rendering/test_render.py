"""Personalisation, fallbacks, escaping, subjects, filters and error reporting."""

from __future__ import annotations

import pytest

from wagtail_oneonone.exceptions import OneOnOneError
from wagtail_oneonone.rendering import TemplateRenderError, render_email

from .conftest import context, source


def html_of(template: str, **ctx: object) -> str:
    return render_email(source(template), context(**ctx)).html


def text_of(template: str, **ctx: object) -> str:
    return render_email(source("<p>x</p>", text=template), context(**ctx)).text


def test_personalises_with_contact_data() -> None:
    rendered = render_email(
        source(
            "<p>Hi {{ contact.first_name }}, you like {{ attributes.favourite_tea }}.</p>",
            subject="{{ contact.first_name }}, your tea",
            text="Hi {{ contact.first_name }}",
        ),
        context(),
    )
    assert "<p>Hi Ada, you like Assam.</p>" in rendered.html
    assert rendered.subject == "Ada, your tea"
    assert rendered.text == "Hi Ada"


def test_first_name_falls_back_when_empty() -> None:
    ctx = context()
    ctx["contact"] = {**ctx["contact"], "first_name": ""}
    template = "<p>Hi {{ contact.first_name|default('there', true) }}!</p>"
    assert "<p>Hi there!</p>" in render_email(source(template), ctx).html


@pytest.mark.parametrize(
    "expression",
    [
        "attributes.shoe_size",
        "contact.nickname",
        "contact.birthday",
        "no_such_variable",
        "no_such.deeply.nested['key']",
        "last_order.total",
        "last_order.total * 2",
        "none",
        "missing()",
    ],
)
def test_missing_data_prints_nothing(expression: str) -> None:
    html = html_of(f"<p>[{{{{ {expression} }}}}]</p>")
    assert "<p>[]</p>" in html
    assert "None" not in html and "Undefined" not in html


def test_missing_data_compares_false_and_takes_defaults() -> None:
    template = (
        "{% if last_order.total > 50 %}big{% else %}small{% endif %}"
        "|{{ attributes.shoe_size|default('unknown') }}"
        "|{% for p in recent_products %}{{ p.name }}{% else %}Browse the shop{% endfor %}"
    )
    assert text_of(template) == "small|unknown|Browse the shop"


def test_html_is_escaped_but_text_and_subject_are_not() -> None:
    ctx = context()
    ctx["contact"] = {**ctx["contact"], "first_name": "<script>alert(1)</script>"}
    rendered = render_email(
        source(
            "<p>Hi {{ contact.first_name }}</p>",
            subject="Hi {{ contact.first_name }}",
            text="Hi {{ contact.first_name }}",
        ),
        ctx,
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert "<script>" not in rendered.html
    assert rendered.text == "Hi <script>alert(1)</script>"
    assert rendered.subject == "Hi <script>alert(1)</script>"


def test_escaping_cannot_be_switched_off() -> None:
    with pytest.raises(TemplateRenderError, match="no filter named 'safe'"):
        html_of("{{ contact.first_name|safe }}")
    with pytest.raises(TemplateRenderError, match="autoescape"):
        html_of("{% autoescape false %}{{ contact.first_name }}{% endautoescape %}")


def test_subject_is_one_line() -> None:
    rendered = render_email(
        source(subject="Hello\r\nBcc: victim@example.com\n\t{{ contact.first_name }}\u2028x"),
        context(),
    )
    assert rendered.subject == "Hello Bcc: victim@example.com Ada x"


def test_subject_from_data_cannot_inject_headers() -> None:
    ctx = context()
    ctx["contact"] = {**ctx["contact"], "first_name": "Ada\r\nBcc: victim@example.com"}
    rendered = render_email(source(subject="Hi {{ contact.first_name }}"), ctx)
    assert "\n" not in rendered.subject and "\r" not in rendered.subject


def test_empty_subject_is_an_error() -> None:
    ctx = context()
    ctx["contact"] = {**ctx["contact"], "first_name": ""}
    with pytest.raises(TemplateRenderError) as caught:
        render_email(source(subject="{{ contact.first_name }}"), ctx)
    assert caught.value.part == "subject"


def test_cart_items_key_wins_over_the_dict_method() -> None:
    cart = {"properties": {"items": [{"name": "Tea"}, {"name": "Cup"}]}}
    template = "{% for item in trigger.properties.items %}{{ item.name }};{% endfor %}"
    assert text_of(template, trigger=cart) == "Tea;Cup;"


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("12.5|money('GBP')", "£12.50"),
        ("1234.5|money('EUR')", "€1,234.50"),
        ("-3|money('USD')", "-$3.00"),
        ("12.5|money('CHF')", "12.50 CHF"),
        ("12.5|money", "£12.50"),
        ("money(7, 'USD')", "$7.00"),
        ("last_order.total|money('GBP')", ""),
        ("'not a number'|money", ""),
    ],
)
def test_money(expression: str, expected: str) -> None:
    assert text_of(f"[{{{{ {expression} }}}}]") == f"[{expected}]"


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("'2025-05-01'|date", "01 May 2025"),
        ("'2025-05-01T23:30:00+00:00'|date('%d %B %Y %H:%M')", "02 May 2025 00:30"),
        ("'2025-05-01T23:30:00+00:00'|date('%H:%M', 'America/New_York')", "19:30"),
        ("contact.birthday|date", ""),
        ("'someday'|date", "someday"),
    ],
)
def test_date_filter_reads_iso_strings_in_the_contacts_time_zone(
    expression: str, expected: str
) -> None:
    assert text_of(f"[{{{{ {expression} }}}}]") == f"[{expected}]"


def test_absolute_url() -> None:
    template = "{{ '/sale/'|absolute_url }} {{ 'https://x.example/'|absolute_url }}"
    assert text_of(template) == "https://shop.example/sale/ https://x.example/"


def test_syntax_error_names_part_and_line() -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render_email(source("<p>\nHi {{ contact.first_name }\n</p>"), context())
    error = caught.value
    assert error.part == "html"
    assert error.line == 2
    assert "line 2" in error.message
    assert str(error).startswith("html: line 2:")


def test_undefined_filter_gives_a_clear_error() -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render_email(source(text="Hi\n{{ contact.first_name|uper }}"), context())
    assert caught.value.part == "text"
    assert caught.value.line == 2
    assert "no filter named 'uper' (did you mean 'upper'?)" in caught.value.message


def test_runtime_error_names_the_line() -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render_email(source("<p>a</p>\n<p>b</p>\n{{ 1 // 0 }}"), context())
    assert caught.value.line == 3
    assert "division by zero" in caught.value.message


@pytest.mark.parametrize(
    "template",
    [
        "{{ 1 // 0 }}",
        "{{ 'a' - 1 }}",
        "{% for x in 5 %}{% endfor %}",
        "{{ contact.__class__ }}",
        "{% include 'other.html' %}",
        "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
        "{{ x|nosuchfilter }}",
        "{% if x is nosuchtest %}{% endif %}",
    ],
)
def test_every_failure_is_a_template_render_error(template: str) -> None:
    with pytest.raises(TemplateRenderError) as caught:
        html_of(template)
    assert isinstance(caught.value, OneOnOneError)
    assert caught.value.part == "html"
    assert caught.value.message


def test_text_part_is_used_when_given() -> None:
    template = source("<p>HTML</p>", text="Plain {{ contact.first_name }}")
    assert render_email(template, context()).text == "Plain Ada"


def test_loops_and_loop_controls() -> None:
    products = [{"name": f"P{n}", "price": n} for n in range(8)]
    template = (
        "{% for p in recent_products %}{% if loop.index > 3 %}{% break %}{% endif %}"
        "{{ p.name }} {{ p.price|money }}{{ ', ' if not loop.last }}{% endfor %}"
    )
    assert text_of(template, recent_products=products) == "P0 £0.00, P1 £1.00, P2 £2.00, "
