"""The sandbox: no escapes, and no template can use unbounded time or memory."""

from __future__ import annotations

import time
from typing import Any

import pytest

from wagtail_oneonone.rendering import TemplateRenderError, render_email
from wagtail_oneonone.rendering import render as render_module
from wagtail_oneonone.rendering.environment import get_environment

from .conftest import context, oneonone_settings, source


def render_html(template: str) -> str:
    return render_email(source(template), context()).html


@pytest.mark.parametrize(
    "template",
    [
        "{{ contact.__class__ }}",
        "{{ contact.__class__.__mro__ }}",
        "{{ ().__class__.__base__.__subclasses__() }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ contact['__class__'] }}",
        "{{ contact|attr('__class__') }}",
        "{{ [contact]|map(attribute='__class__')|list }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ self.__init__.__globals__ }}",
        "{{ money.__globals__ }}",
        "{{ '{0.__class__}'.format(contact) }}",
        "{{ '{0.__class__}'.format_map(contact) }}",
        "{{ range.__self__ }}",
    ],
)
def test_attribute_escapes_leak_nothing(template: str) -> None:
    try:
        shown = render_html(f"<p>[{template}]</p>")
    except TemplateRenderError as error:
        shown = error.message
        assert "not available" in shown
    else:
        assert "<p>[]</p>" in shown
    for leak in ("<class", "&lt;class", "<function", "&lt;function", "builtins", "object at 0x"):
        assert leak not in shown


def test_private_attributes_fail_the_message() -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render_html("<p>{{ contact.__class__ }}</p>")
    assert caught.value.message == "line 1: '__class__' of a dict is not available"


def test_data_cannot_be_changed() -> None:
    with pytest.raises(TemplateRenderError):
        render_html("{{ attributes.update({'x': 1}) }}")
    with pytest.raises(TemplateRenderError):
        render_html("{{ events.append(1) }}")


def test_huge_range_is_refused() -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render_html("{% for i in range(10**9) %}x{% endfor %}")
    assert "range() of 1000000000 items is over the limit of 1000 (MAX_LOOP_ITEMS)" in str(
        caught.value
    )


def test_range_limit_follows_the_setting() -> None:
    with oneonone_settings(MAX_LOOP_ITEMS=5):
        assert "xxxxx" in render_html("{% for i in range(5) %}x{% endfor %}")
        with pytest.raises(TemplateRenderError, match="over the limit of 5"):
            render_html("{% for i in range(6) %}x{% endfor %}")


def test_long_loop_over_data_is_refused() -> None:
    ctx = context(events=[{"type": "page_viewed"}] * 1001)
    with pytest.raises(TemplateRenderError, match="a loop over 1001 items"):
        render_email(source("{% for e in events %}.{% endfor %}"), ctx)


def test_nested_loops_share_one_budget() -> None:
    nested = "{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}"
    with pytest.raises(TemplateRenderError, match="ran more than 10000 times in total"):
        render_html(nested)


def test_loops_over_generators_are_counted() -> None:
    template = "{% for b in range(1000)|batch(1) %}{% for c in b %}{% endfor %}{% endfor %}."
    render_html(template)  # 2,000 iterations: within the budget
    deep = (
        "{% for a in range(1000)|batch(1) %}{% for b in range(1000)|batch(1) %}"
        "{% endfor %}{% endfor %}"
    )
    with pytest.raises(TemplateRenderError, match="times in total"):
        render_html(deep)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ 'x' * 10**8 }}", "'*' would make 100000000 characters"),
        ("{{ 10**8 * 'x' }}", "'*' would make 100000000 characters"),
        ("{{ [1] * 10**8 }}", "'*' would make 100000000"),
        ("{{ 2 ** 100000 }}", "'**' would make a number"),
        ("{% set a = 'x' * 400000 %}{{ a + a }}", "'+' would make 800000"),
        ("{% set a = 'x' * 400000 %}{{ a ~ a }}", "'~' would make 800000"),
        ("{{ '%1000000000s' % 'x' }}", "format widths"),
        ("{{ '%*s' % (1000000000, 'x') }}", "format widths"),
        ("{{ '%1000000000s'|format('x') }}", "format widths"),
        ("{{ 'x'|center(1000000000) }}", "|center would make"),
        ("{{ 'x'|indent(1000000000) }}", "|indent would make"),
        ("{{ ('a' * 400000)|replace('', 'bb') }}", "|replace would make"),
        ("{{ range(1000)|join('x' * 1000) }}", "|join would make"),
        ("{{ 'x'.ljust(1000000000) }}", "'ljust' method is not available"),
        ("{{ 'x'.zfill(1000000000) }}", "'zfill' method is not available"),
        ("{{ (1).to_bytes(1000000000, 'big') }}", "'to_bytes' method is not available"),
        ("{{ [1]|batch(1000000000, 0)|list }}", "|batch sizes"),
        ("{{ 'now'|date('%1000000000d') }}", ""),
        ("{{ '2025-01-01'|date('%1000000000d') }}", "date formats may not set widths"),
        ("{{ lipsum(1000000) }}", ""),
    ],
)
def test_resource_abuse_is_refused(template: str, message: str) -> None:
    started = time.monotonic()
    try:
        html = render_html(template)
    except TemplateRenderError as error:
        assert message in error.message
    else:
        assert not message, f"rendered instead of refusing: {html[:100]!r}"
        assert len(html) < 1000
    assert time.monotonic() - started < 1


NESTED = (
    "{% set l = range(1000)|list %}{% set a = [l, l, l, l, l, l, l, l, l, l] %}"
    "{% set b = [a, a, a, a, a, a, a, a, a, a] %}{% set c = [b, b, b, b, b, b, b, b, b, b] %}"
)


@pytest.mark.parametrize(
    "expression",
    [
        "c",
        "c|string",
        "c|join",
        "[c]|join",
        "c|tojson",
        "'' ~ c",
        "'%s' % [c]",
        "c|e",
        "[c]|map('string')|list",
        "dict(a=c)|xmlattr",
        "c is lower",
    ],
)
def test_printing_shared_lists_is_refused_before_building_the_text(expression: str) -> None:
    started = time.monotonic()
    with pytest.raises(TemplateRenderError, match="would make more than 500000 characters"):
        render_html(f"{NESTED}{{{{ {expression} }}}}")
    assert time.monotonic() - started < 1


def test_filters_print_other_types_as_nothing() -> None:
    html = render_html(f"{NESTED}[{{{{ money(c) }}}}|{{{{ c|date }}}}|{{{{ c|absolute_url }}}}]")
    assert "[||]" in html


def test_sum_only_adds_numbers() -> None:
    assert "6" in render_html("{{ [1, 2, 3]|sum }}")
    with pytest.raises(TemplateRenderError, match=r"\|sum adds numbers"):
        render_html("{% set l = range(1000)|list %}{{ ([l] * 1000)|sum(start=[]) }}")


def test_huge_output_is_refused() -> None:
    template = "{% for i in range(1000) %}{{ contact.full_name }} {{ i }}{% endfor %}"
    limit = oneonone_settings(MAX_RENDERED_BYTES=10_000)
    with limit, pytest.raises(TemplateRenderError) as caught:
        render_html(template)
    assert "the rendered html is larger than 10000 bytes (MAX_RENDERED_BYTES)" in str(caught.value)


def test_output_limit_counts_bytes() -> None:
    limit = oneonone_settings(MAX_RENDERED_BYTES=1000)
    with limit, pytest.raises(TemplateRenderError, match="larger than 1000 bytes"):
        render_email(source(text="€" * 400), context())  # 400 characters, 1,200 bytes


def test_oversized_template_is_refused_before_compiling(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[str] = []
    env = get_environment("html")
    original = env.from_string

    def spy(text: str) -> Any:
        compiled.append(text)
        return original(text)

    monkeypatch.setattr(env, "from_string", spy)
    limit = oneonone_settings(MAX_TEMPLATE_BYTES=100)
    with limit, pytest.raises(TemplateRenderError) as caught:
        render_html("<p>" + "x" * 200 + "</p>")
    assert caught.value.part == "html"
    assert "the limit is 100 (MAX_TEMPLATE_BYTES)" in caught.value.message
    assert compiled == []


def test_slow_template_hits_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render_module, "RENDER_TIME_LIMIT", 0.2)
    # 2^30 macro calls and no loops at all: only the deadline stops it.
    template = (
        "{% macro grow(n) %}{% if n > 0 %}{{ grow(n - 1) }}{{ grow(n - 1) }}{% endif %}"
        "{% endmacro %}{{ grow(30) }}"
    )
    started = time.monotonic()
    with pytest.raises(TemplateRenderError, match=r"rendering took longer than 0\.2 seconds"):
        render_html(template)
    assert time.monotonic() - started < 2
