"""Validation when a template is saved."""

from __future__ import annotations

from wagtail_oneonone.rendering import TemplateIssue, validate_template

from .conftest import oneonone_settings, source

GOOD_HTML = """<!DOCTYPE html><html><body>
<p>Hi {{ contact.first_name|default('there', true) }},</p>
{% if trigger and trigger.type == 'cart_updated' %}
  <ul>{% for item in last_cart %}<li>{{ item.name }} x {{ item.quantity }}
  {{ item.price|money(trigger.currency) }}</li>{% endfor %}</ul>
{% endif %}
{% for product in recent_products %}
  <a href="{{ product.url }}"><img src="{{ product.image_url }}" alt="{{ product.name }}"></a>
{% else %}
  <a href="{{ '/shop/'|absolute_url }}">Browse {{ site.name }}</a>
{% endfor %}
{% for event in events[:3] %}{{ event.label }} {{ event.occurred_at|date('%d %B') }}{% endfor %}
{% set ns = namespace(total=0) %}{% for key, value in attributes.items() %}{{ key }}{% endfor %}
{% if last_order %}Order {{ last_order.order_id }}: {{ last_order.total|money }}{% endif %}
{{ now|date }} {{ contact.full_name }} {{ contact.time_zone }} {{ loop }}
<a href="{{ unsubscribe_url }}">Unsubscribe</a> <a href="{{ preferences_url }}">Preferences</a>
</body></html>"""


def issues_of(**parts: str) -> list[TemplateIssue]:
    return validate_template(source(**parts))


def test_a_template_using_the_whole_context_passes() -> None:
    issues = issues_of(
        html=GOOD_HTML.replace(" {{ loop }}", ""),
        subject="{{ contact.first_name }}, your cart at {{ site.name }}",
        preheader="{{ recent_products|length }} things you looked at",
        text="Hi {{ contact.first_name }}\n{% for p in recent_products %}{{ p.name }}{% endfor %}",
    )
    assert issues == []


def test_unknown_variable_is_a_warning_with_a_suggestion() -> None:
    html = "<p>\nHi {{ contcat.first_name }} {{ sitee.name }} {{ first_name }}</p>"
    issues = issues_of(html=html)
    assert [(issue.severity, issue.line, issue.message) for issue in issues] == [
        (
            "warning",
            2,
            "unknown variable 'contcat' (did you mean 'contact'?); it will print nothing",
        ),
        (
            "warning",
            2,
            "unknown variable 'first_name' (did you mean 'contact.first_name'?); "
            "it will print nothing",
        ),
        ("warning", 2, "unknown variable 'sitee' (did you mean 'site'?); it will print nothing"),
    ]
    assert str(issues[0]) == (
        "html, line 2: unknown variable 'contcat' (did you mean 'contact'?); it will print nothing"
    )


def test_unknown_contact_field_is_a_warning() -> None:
    (issue,) = issues_of(subject="Hi {{ contact.frist_name }}")
    assert issue.part == "subject" and issue.severity == "warning"
    assert issue.message == (
        "contact has no field 'frist_name' (did you mean 'first_name'?); it will print nothing"
    )


def test_local_names_are_not_unknown() -> None:
    template = (
        "{% set greeting = 'Hi' %}{{ greeting }}"
        "{% for p in recent_products %}{{ p.name }}{{ loop.index }}{% endfor %}"
        "{% macro line(x) %}{{ x }}{{ caller() }}{% endmacro %}"
        "{% call line(1) %}y{% endcall %}{% with z = 1 %}{{ z }}{% endwith %}"
        "{{ range(3)|list }}{{ money(1) }}{{ cycler(1, 2).next() }}{{ dict(a=1) }}"
    )
    assert issues_of(html=template) == []


def test_syntax_error_is_an_error_with_part_and_line() -> None:
    (issue,) = issues_of(text="Hello\n{% for p in recent_products %}\n{{ p.name }}")
    assert (issue.part, issue.severity, issue.line) == ("text", "error", 3)
    assert "endfor" in issue.message


def test_unknown_filter_is_an_error_even_in_a_branch() -> None:
    (issue,) = issues_of(html="{% if last_order %}\n{{ last_order.total|mony }}{% endif %}")
    assert (issue.severity, issue.line) == ("error", 2)
    assert issue.message == "there is no filter named 'mony' (did you mean 'money'?)"


def test_unavailable_features_are_errors() -> None:
    issues = issues_of(
        html="{% include 'footer.html' %}{{ contact.__class__ }}{{ x|safe }}",
        subject="{% extends 'base.html' %}",
    )
    messages = {(issue.part, issue.message) for issue in issues if issue.severity == "error"}
    assert messages == {
        ("html", "{% include %} is not available: an email template stands alone"),
        ("html", "names starting with '_' are not available ('__class__')"),
        ("html", "there is no filter named 'safe' (contact data is always escaped)"),
        ("subject", "{% extends %} is not available: an email template stands alone"),
    }


def test_autoescape_tag_is_an_error_in_html() -> None:
    (issue,) = issues_of(html="{% autoescape false %}{{ contact.first_name }}{% endautoescape %}")
    assert issue.severity == "error" and "autoescape" in issue.message


def test_oversized_part_is_an_error() -> None:
    with oneonone_settings(MAX_TEMPLATE_BYTES=50):
        (issue,) = issues_of(html="<p>" + "x" * 60 + "</p>")
    assert issue.severity == "error" and issue.part == "html"
    assert "the limit is 50 (MAX_TEMPLATE_BYTES)" in issue.message


def test_empty_text_part_is_fine() -> None:
    assert issues_of(html="<p>Hi</p>", text="", preheader="") == []
