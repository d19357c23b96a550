"""Email bodies of blocks become email HTML and text, personalised per contact."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from wagtail.documents import get_document_model
from wagtail.models import Site

from wagtail_oneonone.models import Contact, Event, Segment
from wagtail_oneonone.rendering import (
    EmailLayoutSpec,
    TemplateRenderError,
    build_context,
    cache_info,
    choices_for_contacts,
    email_size_warnings,
    finish_email_html,
    render_body,
    render_email,
)

from .email_content import (
    BASE_URL,
    LINKS,
    branch,
    build,
    button,
    dynamic,
    elements,
    heading,
    layout,
    paragraph,
    render_for,
    rules,
    site_page,
    stream,
    wagtail_image,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def email_settings(settings: Any, tmp_path: Path) -> Iterator[None]:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.WAGTAIL_ONEONONE = {"BASE_URL": BASE_URL}
    settings.WAGTAILDOCS_SERVE_METHOD = "direct"
    Site.clear_site_root_paths_cache()
    yield
    Site.clear_site_root_paths_cache()


@pytest.fixture
def ann() -> Contact:
    return Contact.objects.create(email="ann@example.com", first_name="Ann")


def test_every_block_renders_as_email_html(ann: Contact) -> None:
    sale = site_page("Autumn sale", "sale")
    guide = site_page("Care guide", "care")
    image = wagtail_image(1600, 900)
    value = stream(
        heading("Hello {{ contact.first_name }}", "h1"),
        paragraph('<p>Read <a href="https://blog.example/tea">the tea story</a>.</p>'),
        ("image", {"image": image.pk, "alt_text": "Our autumn range", "width": "content"}),
        button("See the sale", page=sale.pk),
        ("products", {"source": "chosen", "pages": [guide.pk], "count": 3}),
        ("divider", None),
        ("spacer", {"height": "48"}),
        ("raw", '<p class="note">Yours, {{ site.name }}</p>'),
    )
    body = build(value)
    assert body.warnings == ()
    assert body.dynamic_blocks == ()
    html = render_for(body, ann).email.html

    assert html.startswith("<!DOCTYPE html>")
    assert 'role="presentation"' in html
    assert re.search(r'<table [^>]*class="oo-container"[^>]*width="600"', html)
    assert re.search(r"<h1 [^>]*>Hello Ann</h1>", html)
    assert '<a href="https://blog.example/tea"' in html
    [picture] = elements(html, "img")
    assert re.fullmatch(
        r"https://shop\.example/media/images/picture\.width-1104\.png", picture["src"]
    )
    assert (picture["width"], picture["height"], picture["alt"]) == (
        "552",
        "310",
        "Our autumn range",
    )
    links = {link.get("class", ""): link["href"] for link in elements(html, "a")}
    assert links["oo-button"] == "https://shop.example/sale/"
    assert links["oo-product-name"] == "https://shop.example/care/"
    assert 'class="oo-divider"' in html
    assert 'height="48"' in html
    assert '<p class="note">Yours, oneonone tests</p>' in html
    assert 'href="https://shop.example/u/signed/"' in html  # the footer's unsubscribe link
    assert "Oak &amp; Thread Ltd<br>1 Mill Lane<br>Leeds LS1 1AA" in html


def test_the_text_part_reads_well() -> None:
    bea = Contact.objects.create(email="bea@example.com", first_name="Bea")
    value = stream(
        heading("Hello {{ contact.first_name }}", "h1"),
        paragraph(
            "<h2>What is new</h2><p>Three <b>new</b> teas:</p>"
            "<ul><li>Assam</li><li>Darjeeling</li></ul>"
            '<p>Read <a href="https://blog.example/tea">the story</a>.</p>'
        ),
        ("divider", None),
        button("Shop now", url="https://shop.example/teas/"),
    )
    assert render_for(build(value, preheader="Three new teas"), bea).email.text == (
        "Oak & Thread (https://shop.example)\n"
        "\n"
        "Hello Bea\n"
        "=========\n"
        "\n"
        "What is new\n"
        "-----------\n"
        "\n"
        "Three new teas:\n"
        "\n"
        "- Assam\n"
        "- Darjeeling\n"
        "\n"
        "Read the story (https://blog.example/tea).\n"
        "\n"
        "----\n"
        "\n"
        "Shop now: https://shop.example/teas/\n"
        "\n"
        "Oak & Thread Ltd\n"
        "1 Mill Lane\n"
        "Leeds LS1 1AA\n"
        "\n"
        "Unsubscribe (https://shop.example/u/signed/) · "
        "Email preferences (https://shop.example/p/signed/)\n"
    )


def test_images_alt_text_and_links_in_the_text_part(ann: Contact) -> None:
    image = wagtail_image(800, 400)
    value = stream(
        (
            "image",
            {
                "image": image.pk,
                "alt_text": "A pot of tea",
                "width": "half",
                "link_url": "https://shop.example/teapots/",
            },
        )
    )
    text = render_for(build(value), ann).email.text
    assert "A pot of tea (https://shop.example/teapots/)" in text


def test_a_real_image_gets_a_rendition_with_an_absolute_url(ann: Contact) -> None:
    big = wagtail_image(1600, 900)
    small = wagtail_image(300, 200, title="Small")
    sale = site_page("Sale", "sale")
    value = stream(
        ("image", {"image": big.pk, "alt_text": "Big", "width": "full", "link_page": sale.pk}),
        ("image", {"image": small.pk, "alt_text": "Small", "width": "full"}),
    )
    body = build(value)
    renditions = {r.image_id: r for r in big.renditions.model.objects.all()}
    assert renditions[big.pk].width == 1200  # twice the 600px it shows at, for sharp screens
    assert renditions[small.pk].width == 300  # never enlarged
    source = body.source.html
    big_url = f"{BASE_URL}{renditions[big.pk].url}"
    assert (
        f'<a href="https://shop.example/sale/"><img src="{big_url}" width="600" height="338"'
        in source
    )
    assert f'<img src="{BASE_URL}{renditions[small.pk].url}" width="300" height="200"' in source
    stored = Path(django_settings.MEDIA_ROOT) / renditions[big.pk].file.name
    assert stored.exists()
    assert big_url in render_for(body, ann).email.html


def test_rich_text_links_to_pages_and_documents_are_made_absolute(ann: Contact) -> None:
    page = site_page("Delivery", "delivery")
    document = get_document_model().objects.create(
        title="Size guide", file=ContentFile(b"%PDF-1.4", name="size-guide.pdf")
    )
    value = stream(
        paragraph(
            f'<p><a linktype="page" id="{page.pk}">Delivery</a> and the '
            f'<a linktype="document" id="{document.pk}">size guide</a>.</p>'
        )
    )
    email = render_for(build(value), ann).email
    assert '<a href="https://shop.example/delivery/"' in email.html
    document_url = f"https://shop.example{document.file.url}"
    assert f'<a href="{document_url}"' in email.html
    assert f"size guide ({document_url})" in email.text


def test_personalisation_works_per_contact_and_compiles_once() -> None:
    value = stream(
        heading("Hi {{ contact.first_name|default('there', true) }}"),
        paragraph(
            "<p>Dear <i>{{ contact.first_name|default(&#x27;friend&#x27;, true) }}</i>,</p>"
        ),
        button("{{ contact.first_name|default('Your', true) }}'s picks", url=f"{BASE_URL}/p/"),
    )
    body = build(value)
    named = Contact.objects.create(email="cat@example.com", first_name="Cat <b>")
    blank = Contact.objects.create(email="dan@example.com", first_name="")
    first = render_for(body, named).email
    misses = cache_info().misses
    second = render_for(body, blank).email
    assert cache_info().misses == misses  # the second contact reuses the compiled parts

    assert re.search(r"<h2 [^>]*>Hi Cat &lt;b&gt;</h2>", first.html)
    assert "<i>Cat &lt;b&gt;</i>" in first.html
    assert re.search(r"-->Cat &lt;b&gt;(&#39;|')s picks<!--", first.html)
    assert first.subject == "News for Cat <b>"
    assert re.search(r"<h2 [^>]*>Hi there</h2>", second.html)
    assert "<i>friend</i>" in second.html
    assert "Your's picks: https://shop.example/p/" in second.text
    assert second.subject == "News for you"


@pytest.fixture
def audience() -> dict[str, Any]:
    """A VIP segment and three contacts: a VIP (who also bought), a buyer and a newcomer."""
    vip = Segment.objects.create(
        name="VIP",
        slug="vip",
        rules={
            "version": 1,
            "rules": {
                "condition": "attribute",
                "attribute": "tier",
                "type": "text",
                "operator": "equals",
                "value": "vip",
            },
        },
    )
    vic = Contact.objects.create(email="vic@example.com", attributes={"tier": "vip"})
    bea = Contact.objects.create(email="bea@example.com")
    nod = Contact.objects.create(email="nod@example.com")
    for buyer in (vic, bea):
        Event.objects.create(
            contact=buyer,
            type="order_placed",
            occurred_at=datetime(2025, 4, 1, tzinfo=UTC),
            value=Decimal("30"),
            properties={"order_id": f"o-{buyer.pk}", "total": 30},
        )
    return {"vip": vip, "vic": vic, "bea": bea, "nod": nod}


def dynamic_body(vip: Segment) -> Any:
    return stream(
        heading("Your news"),
        dynamic(
            branch("VIPs", ("segment", str(vip.pk)), heading("Early access for VIPs")),
            branch(
                "Buyers",
                ("rules", rules({"condition": "event", "event_type": "order_placed"})),
                paragraph("<p>Thanks for your order</p>"),
            ),
            fallback=[paragraph("<p>Welcome, have a look around</p>")],
        ),
    )


def test_a_dynamic_block_shows_each_contact_their_branch(audience: dict[str, Any]) -> None:
    body = build(dynamic_body(audience["vip"]))
    assert [spec.number for spec in body.dynamic_blocks] == [1]
    shown = {name: render_for(body, audience[name]) for name in ("vic", "bea", "nod")}

    assert "Early access for VIPs" in shown["vic"].email.html
    assert "Thanks for your order" not in shown["vic"].email.html
    assert "Thanks for your order" in shown["bea"].email.html
    assert "Early access" not in shown["bea"].email.html
    assert "Welcome, have a look around" in shown["nod"].email.html
    assert "Welcome, have a look around" in shown["nod"].email.text
    assert "Early access" not in shown["nod"].email.text
    assert {name: rendered.describe_choices() for name, rendered in shown.items()} == {
        "vic": ["Dynamic block 1: branch 'VIPs' (segment VIP)"],
        "bea": ["Dynamic block 1: branch 'Buyers' (rules)"],
        "nod": ["Dynamic block 1: fallback"],
    }
    assert shown["nod"].choices[0].is_fallback


def test_a_batch_asks_each_branch_once(
    audience: dict[str, Any], django_assert_num_queries: Any
) -> None:
    body = build(dynamic_body(audience["vip"]))
    contacts = [audience["vic"], audience["bea"], audience["nod"]]
    # Segment names; the segment and its members; the rule tree's members.
    with django_assert_num_queries(4):
        choices = choices_for_contacts(body.dynamic_blocks, [c.pk for c in contacts])
    outcomes = []
    for contact in contacts:
        context = build_context(contact, extra=LINKS)
        with django_assert_num_queries(0):
            rendered = render_body(
                body, context, contact_id=contact.pk, choices=choices[contact.pk]
            )
        outcomes.extend(rendered.describe_choices())
    assert outcomes == [
        "Dynamic block 1: branch 'VIPs' (segment VIP)",
        "Dynamic block 1: branch 'Buyers' (rules)",
        "Dynamic block 1: fallback",
    ]


def test_a_deleted_segment_fails_the_message_visibly(audience: dict[str, Any]) -> None:
    body = build(dynamic_body(audience["vip"]))
    audience["vip"].delete()
    with pytest.raises(TemplateRenderError, match=r"dynamic block 1, branch 1 \(VIPs\): segment"):
        render_for(body, audience["nod"])


def test_without_dynamic_choice_in_the_context_the_fallback_shows(
    audience: dict[str, Any],
) -> None:
    body = build(dynamic_body(audience["vip"]))
    html = render_email(body.source, build_context(audience["vic"], extra=LINKS)).html
    assert "Welcome, have a look around" in html
    assert "Early access" not in html


def test_recently_viewed_products_with_chosen_pages_for_everyone_else(ann: Contact) -> None:
    shop = site_page("Shop", "shop")
    for index, name in enumerate(["Assam", "Darjeeling", "Oolong", "Sencha"]):
        Event.objects.create(
            contact=ann,
            type="product_viewed",
            occurred_at=datetime(2025, 4, 1, 10, index, tzinfo=UTC),
            properties={
                "product_id": name.lower(),
                "name": name,
                "url": f"/shop/{name.lower()}/",
                "image_url": f"/media/{name.lower()}.jpg",
                "price": 4.5 + index,
            },
        )
    newcomer = Contact.objects.create(email="new@example.com")
    body = build(stream(("products", {"source": "recent", "pages": [shop.pk], "count": 3})))

    viewed = render_for(body, ann).email
    names = re.findall(r'class="oo-product-name"[^>]*>([^<]+)</a>', viewed.html)
    assert names == ["Sencha", "Oolong", "Darjeeling"]  # newest first, three of them
    pictures = [(img["src"], img["width"]) for img in elements(viewed.html, "img")]
    assert pictures[0] == ("https://shop.example/media/sencha.jpg", "120")
    assert "£7.50" in viewed.html
    assert "Sencha (https://shop.example/shop/sencha/)" in viewed.text
    assert "sencha.jpg" not in viewed.text  # the picture is left out of the text part

    other = render_for(body, newcomer).email.html
    assert re.findall(r'class="oo-product-name"[^>]*>([^<]+)</a>', other) == ["Shop"]


@pytest.mark.skipif(not django_settings.WITH_SHOP, reason="uses the example shop's pages")
def test_product_pages_show_their_image_and_price(ann: Contact) -> None:
    from example_site.shop.models import ProductPage

    home = Site.objects.get(is_default_site=True).root_page
    boots = home.add_child(
        instance=ProductPage(
            title="Walking boots",
            slug="boots",
            price=Decimal("120.00"),
            category="shoes",
            short_description="Waterproof leather",
            image=wagtail_image(800, 800, title="Boots"),
        )
    )
    html = render_for(build(stream(("products", {"pages": [boots.pk]}))), ann).email.html
    [picture] = elements(html, "img")
    assert picture["src"].startswith("https://shop.example/media/images/")
    assert (picture["width"], picture["height"], picture["alt"]) == ("120", "120", "Walking boots")
    assert "£120.00" in html
    assert "Waterproof leather" in html


def test_dark_mode_and_inlined_css(ann: Contact) -> None:
    html = render_for(build(stream(heading("Hi"), button("Go", url=BASE_URL))), ann).email.html
    assert '<meta name="color-scheme" content="light dark">' in html
    assert '<meta name="supported-color-schemes" content="light dark">' in html
    assert "@media (prefers-color-scheme: dark)" in html
    assert "background-color: #111315 !important" in html
    # Rules that could be inlined were, and left the stylesheet; media queries stayed.
    assert re.search(r'<td class="oo-block" style="padding: 0 24px 16px;', html)
    assert re.search(r'<h2 class="oo-heading oo-h2" style="margin: 0;', html)
    stylesheet = re.search(r"<style>(.*?)</style>", html, re.DOTALL)
    assert stylesheet and ".oo-heading {" not in stylesheet.group(1).split("@media")[0]
    assert "data-text-as" not in html


def test_finish_email_html_inlines_any_email() -> None:
    html = "<html><head><style>p { color: #333 }</style></head><body><p>Hi</p></body></html>"
    finished = finish_email_html(html)
    assert '<p style="color: #333;">Hi</p>' in finished
    assert finish_email_html("") == ""


def test_an_email_over_100_kb_is_reported(ann: Contact) -> None:
    long = stream(
        ("raw", "{% for i in range(900) %}<p>{{ 'Tea and cake. ' * 9 }}</p>{% endfor %}")
    )
    rendered = render_for(build(long), ann)
    assert len(rendered.email.html.encode()) > 100 * 1024
    assert len(rendered.warnings) == 1
    assert "Gmail clips emails over about 100 KB" in rendered.warnings[0]
    assert render_for(build(stream(heading("Short"))), ann).warnings == ()
    assert email_size_warnings("x" * 100 * 1024) == []


def test_the_layout_frames_the_body(ann: Contact) -> None:
    branded = layout(
        logo_url="https://cdn.example/logo.png",
        logo_width=180,
        logo_height=40,
        brand_colour="#0a7f5a",
        footer_html='<p>You bought from us. <a href="/why/">Why this email?</a></p>',
    )
    email = render_for(
        build(stream(heading("Hi")), layout=branded, preheader="Hi there"), ann
    ).email
    [logo] = elements(email.html, "img")
    assert (logo["src"], logo["width"], logo["height"], logo["alt"]) == (
        "https://cdn.example/logo.png",
        "180",
        "40",
        "Oak & Thread",
    )
    assert elements(email.html, "a")[0]["href"] == "https://shop.example"
    assert "border-top: 4px solid #0a7f5a" in email.html
    assert "Why this email? (https://shop.example/why/)" in email.text
    assert "Email preferences (https://shop.example/p/signed/)" in email.text
    preheader = re.search(r"<body[^>]*>\s*<div style=\"display:none[^>]*>Hi there", email.html)
    assert preheader


def test_a_layout_needs_a_postal_address_and_plain_colours() -> None:
    with pytest.raises(ValueError, match="postal_address is required"):
        EmailLayoutSpec(name="Shop", postal_address="  ")
    with pytest.raises(ValueError, match="brand_colour must be a colour"):
        layout(brand_colour="red} body {display:none")
    with pytest.raises(ValueError, match="font_family"):
        layout(font_family="Arial; } @import url(x)")


def test_what_could_not_be_built_is_reported(settings: Any, ann: Contact) -> None:
    gone = site_page("Gone", "gone")
    value = stream(button("Go", page=gone.pk))
    gone.delete()
    settings.WAGTAIL_ONEONONE = {}
    settings.WAGTAILADMIN_BASE_URL = ""
    body = build(value)
    assert body.warnings == (
        "no BASE_URL (or WAGTAILADMIN_BASE_URL) is set, so links and images are relative "
        "and will not work in an inbox",
        "block 1 (button): its page no longer exists; it leads home",
    )
