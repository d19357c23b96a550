"""The HTML document, the hidden preview text, the derived text part and the compile cache."""

from __future__ import annotations

import re
from typing import Any

import pytest

from wagtail_oneonone.rendering import cache_info, html_to_text, render_email
from wagtail_oneonone.rendering.environment import get_environment
from wagtail_oneonone.rendering.render import TemplateCache, insert_preheader

from .conftest import context, source

PAGE = """<!DOCTYPE html>
<html><head><title>t</title><style>p { color: red }</style></head>
<body class="email">
<h1>Your cart</h1>
<p>Hi {{ contact.first_name }}, you left
<a href="https://shop.example/cart/">your cart</a> behind.</p>
</body></html>"""


def test_preheader_is_hidden_right_after_body() -> None:
    rendered = render_email(source(PAGE, preheader="Still {{ contact.first_name }}'s?"), context())
    assert rendered.preheader == "Still Ada's?"
    body_at = rendered.html.index('<body class="email">') + len('<body class="email">')
    block = re.search(r'<div style="([^"]*)">(.*?)</div>', rendered.html)
    assert block is not None
    assert rendered.html[body_at:].lstrip().startswith("<div")
    style = block.group(1)
    for rule in ("display:none", "max-height:0", "overflow:hidden", "mso-hide:all"):
        assert rule in style
    assert block.group(2).startswith("Still Ada&#x27;s?&#847;&zwnj;&nbsp;")


def test_preheader_is_escaped() -> None:
    ctx = context()
    ctx["contact"] = {**ctx["contact"], "first_name": "<b>Ada</b>"}
    rendered = render_email(source(PAGE, preheader="Hi {{ contact.first_name }}"), ctx)
    assert rendered.preheader == "Hi <b>Ada</b>"
    assert "Hi &lt;b&gt;Ada&lt;/b&gt;&#847;" in rendered.html


def test_empty_preheader_inserts_nothing() -> None:
    rendered = render_email(source(PAGE, preheader="{{ attributes.missing }}"), context())
    assert rendered.preheader == ""
    assert "display:none" not in rendered.html


def test_preheader_goes_first_without_a_body_tag() -> None:
    assert insert_preheader("<p>Hi</p>", "Preview").startswith('<div style="display:none')


def test_fragments_become_documents() -> None:
    template = source("<p>Hi</p>", subject="Sale & more", preheader="Soon")
    html = render_email(template, context()).html
    assert html.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in html
    assert "<title>Sale &amp; more</title>" in html
    assert html.index("<body>") < html.index("display:none") < html.index("<p>Hi</p>")
    assert html.rstrip().endswith("</html>")


def test_whole_documents_are_kept() -> None:
    rendered = render_email(source(PAGE), context())
    assert rendered.html.startswith("<!DOCTYPE html>\n<html><head><title>t</title>")
    assert rendered.html.count("<html") == 1


def test_text_part_is_derived_from_html_with_links() -> None:
    rendered = render_email(source(PAGE), context())
    assert rendered.text == (
        "Your cart\n\nHi Ada, you left your cart (https://shop.example/cart/) behind.\n"
    )


def test_html_to_text() -> None:
    html = """
    <div style="display:none">hidden preview</div>
    <table><tr><td><img src="logo.png" alt="Oak &amp; Thread"></td></tr></table>
    <h2>Picked&nbsp;for you</h2>
    <ul><li>Assam tea</li><li><a href="https://shop.example/p/2">Teapot</a></li></ul>
    <p>Questions? <a href="mailto:hi@shop.example">hi@shop.example</a><br>
    Visit <a href="https://shop.example/">https://shop.example/</a></p>
    <p><a href="https://shop.example/sale"><img src="b.png" alt=""></a></p>
    <hr>
    <p>&#847;&zwnj;Bye</p>
    <script>alert(1)</script>
    """
    assert html_to_text(html) == (
        "Oak & Thread\n\n"
        "Picked for you\n\n"
        "- Assam tea\n"
        "- Teapot (https://shop.example/p/2)\n\n"
        "Questions? hi@shop.example\n"
        "Visit https://shop.example/\n\n"
        "https://shop.example/sale\n\n"
        "----\n\n"
        "Bye\n"
    )


def test_html_to_text_survives_broken_html() -> None:
    assert html_to_text("<p>a<div>b</span></p>c<a href='x'>d") == "a\nb\n\ncd\n"
    assert html_to_text("") == ""


# The compile cache -------------------------------------------------------------------------


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every source the environments compile."""
    seen: list[str] = []
    for kind in ("html", "text"):
        env = get_environment(kind)
        original = env.from_string

        def spy(text: str, original: Any = original) -> Any:
            seen.append(text)
            return original(text)

        monkeypatch.setattr(env, "from_string", spy)
    return seen


def test_same_revision_is_compiled_once(compiles: list[str]) -> None:
    template = source("<p>Hi {{ contact.first_name }}</p>", subject="S", preheader="P", text="T")
    for _ in range(3):
        render_email(template, context())
    assert sorted(compiles) == ["<p>Hi {{ contact.first_name }}</p>", "P", "S", "T"]
    info = cache_info()
    assert (info.misses, info.hits, info.size) == (4, 8, 4)


def test_new_revision_is_compiled_again(compiles: list[str]) -> None:
    render_email(source("<p>one</p>", revision=1), context())
    rendered = render_email(source("<p>two</p>", revision=2), context())
    assert "<p>two</p>" in rendered.html
    assert compiles.count("<p>one</p>") == 1 and compiles.count("<p>two</p>") == 1


def test_changed_content_with_the_same_revision_is_not_served_stale(compiles: list[str]) -> None:
    render_email(source("<p>one</p>"), context())
    assert "<p>two</p>" in render_email(source("<p>two</p>"), context()).html


def test_compile_errors_are_cached_and_raised_fresh(compiles: list[str]) -> None:
    from wagtail_oneonone.rendering import TemplateRenderError

    broken = source("{% if %}")
    errors = []
    for _ in range(2):
        with pytest.raises(TemplateRenderError) as caught:
            render_email(broken, context())
        errors.append(caught.value)
    assert compiles.count("{% if %}") == 1
    assert errors[0] is not errors[1] and errors[0].message == errors[1].message


def test_cache_is_bounded() -> None:
    cache = TemplateCache(max_size=3)
    for number in range(5):
        cache.get(source(f"<p>{number}</p>", key=f"template:{number}"), "html")
    assert cache.info().size == 3
    cache.get(source("<p>4</p>", key="template:4"), "html")
    assert cache.info().hits == 1
