"""``contact.in_segment("slug")``: templates ask about segment membership at render time."""

from __future__ import annotations

from typing import Any

import pytest

from wagtail_oneonone.models import Contact, Event, Segment
from wagtail_oneonone.rendering import TemplateRenderError, render_email, validate_template
from wagtail_oneonone.rendering.context import build_context, build_contexts

from .conftest import source

pytestmark = pytest.mark.django_db

HTML = (
    '<p>{% if contact.in_segment("buyers") %}Thanks for your order'
    "{% else %}Have a look around{% endif %}</p>"
)


@pytest.fixture
def buyers() -> Segment:
    rules = {"version": 1, "rules": {"condition": "event", "event_type": "order_placed"}}
    return Segment.objects.create(name="Buyers", slug="buyers", rules=rules)


def html_for(contact: Contact, template: str = HTML) -> str:
    return render_email(source(template), build_context(contact)).html


def test_members_and_others_see_different_content(
    buyers: Segment, django_assert_num_queries: Any
) -> None:
    ann = Contact.objects.create(email="ann@example.com")
    bob = Contact.objects.create(email="bob@example.com")
    Event.objects.create(
        contact=ann, type="order_placed", occurred_at="2026-01-01T10:00Z", properties={}
    )
    assert "Thanks for your order" in html_for(ann)
    assert "Have a look around" in html_for(bob)
    # Asking twice in one render costs one lookup of the segment and one membership query.
    context = build_contexts([bob])[0]
    twice = source(HTML + HTML, key="template:2")
    with django_assert_num_queries(2):
        render_email(twice, context)


def test_an_unknown_slug_fails_the_message_and_is_refused_on_save(buyers: Segment) -> None:
    contact = Contact.objects.create(email="ann@example.com")
    broken = '{% if contact.in_segment("byers") %}x{% endif %}'
    with pytest.raises(TemplateRenderError, match="no segment with the slug 'byers'"):
        html_for(contact, broken)
    issues = validate_template(source(broken))
    assert [(issue.severity, issue.message) for issue in issues] == [
        ("error", "there is no segment with the slug 'byers' (did you mean 'buyers'?)")
    ]
    assert validate_template(source(HTML)) == []


def test_a_segment_with_broken_rules_fails_the_message_clearly(buyers: Segment) -> None:
    Segment.objects.filter(pk=buyers.pk).update(rules={"version": 1, "rules": {"x": 1}})
    contact = Contact.objects.create(email="ann@example.com")
    with pytest.raises(TemplateRenderError, match="segment 'buyers' has rules that cannot"):
        html_for(contact)
