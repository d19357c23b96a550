"""Segments in the admin: saving checked rule trees, the live preview, the segment page,
the CSV export, guarded deletes and who may do what."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Callable
from html import unescape
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.db.models import Q
from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from wagtail.models import ModelLogEntry

from wagtail_oneonone.admin.segment_chart import count_chart, nice_ceiling
from wagtail_oneonone.admin.segment_forms import builder_schema
from wagtail_oneonone.admin.segment_rules import describe_path, review_rules
from wagtail_oneonone.admin.segment_words import describe_condition, rules_in_words
from wagtail_oneonone.admin.segments import EXPORT_LOG_ACTION
from wagtail_oneonone.models import ConsentStatus, Contact, Event, Segment, SegmentCount
from wagtail_oneonone.segments import Param, register_condition, registered_conditions
from wagtail_oneonone.segments.conditions import unregister_condition

pytestmark = pytest.mark.django_db

SEGMENT_PERMS = tuple(
    f"wagtail_oneonone.{action}_segment" for action in ("view", "add", "change", "delete")
)


def tree(*rules: Any, key: str = "all") -> dict[str, Any]:
    return {"version": 1, "rules": {key: list(rules)}}


def event(event_type: str, **params: Any) -> dict[str, Any]:
    return {"condition": "event", "event_type": event_type, **params}


SUBSCRIBED = {"condition": "consent", "status": ["subscribed"]}
#: A group with an "any" of two conditions and a negated one, as the issue describes.
NESTED = tree(
    {"any": [SUBSCRIBED, event("cart_updated")]},
    {"not": event("order_placed")},
)


def form_data(rules: Any, **overrides: Any) -> dict[str, Any]:
    data = {
        "name": "Warm leads",
        "slug": "warm-leads",
        "description": "",
        "rules": rules if isinstance(rules, str) else json.dumps(rules),
    }
    data.update(overrides)
    return data


def preview(client: Client, rules: Any, segment: int | None = None) -> Any:
    return client.post(
        reverse("oneonone_segment:preview"),
        json.dumps({"rules": rules, "segment": segment}),
        content_type="application/json",
    )


def field_errors(response: Any) -> list[str]:
    """The error messages the form shows under the rules field."""
    form = response.context["form"]
    return [str(message) for message in form.errors.get("rules", [])]


@pytest.fixture
def shoppers(db: None) -> dict[str, Contact]:
    now = timezone.now()

    def contact(name: str, consent: str, *events: str, **fields: Any) -> Contact:
        person = Contact.objects.create(
            email=f"{name}@example.com",
            first_name=name.capitalize(),
            consent_status=consent,
            **fields,
        )
        for hours, kind in enumerate(events, start=1):
            Event.objects.create(
                contact=person, type=kind, occurred_at=now - dt.timedelta(hours=hours)
            )
        return person

    return {
        "ada": contact("ada", ConsentStatus.SUBSCRIBED, "cart_updated", last_name="Lovelace"),
        "bob": contact("bob", ConsentStatus.SUBSCRIBED, "order_placed"),
        "cy": contact("cy", ConsentStatus.UNSUBSCRIBED, "cart_updated"),
        "dee": contact("dee", ConsentStatus.NONE),
    }


@pytest.fixture
def warm(shoppers: dict[str, Contact]) -> Segment:
    return Segment.objects.create(name="Warm leads", slug="warm-leads", rules=NESTED)


# Creating and editing ----------------------------------------------------------------------


def test_a_nested_tree_is_saved_cleaned_and_counted(
    admin_client: Client, shoppers: dict[str, Contact]
) -> None:
    response = admin_client.post(reverse("oneonone_segment:add"), form_data(NESTED))
    segment = Segment.objects.get(slug="warm-leads")
    assert response.status_code == 302
    assert response["Location"] == reverse("oneonone_segment:inspect", args=[segment.pk])
    # Cleaned: defaults filled in, as the compiler reads them.
    assert segment.rules["rules"]["all"][1] == {
        "not": {
            "condition": "event",
            "event_type": "order_placed",
            "count_operator": "at_least",
            "count": 1,
            "window": {"type": "ever"},
        }
    }
    assert {c.email for c in segment.contacts()} == {"ada@example.com", "cy@example.com"}
    # The count's history starts with the save, and every save adds to it.
    assert list(SegmentCount.objects.filter(segment=segment).values_list("count", flat=True)) == [
        2
    ]
    admin_client.post(
        reverse("oneonone_segment:edit", args=[segment.pk]),
        form_data(tree(SUBSCRIBED), description="Subscribers"),
    )
    counts = SegmentCount.objects.filter(segment=segment).order_by("counted_at")
    assert [count.count for count in counts] == [2, 2]
    segment.refresh_from_db()
    assert segment.description == "Subscribers"


def test_the_add_form_embeds_the_builder_and_its_schema(admin_client: Client) -> None:
    response = admin_client.get(reverse("oneonone_segment:add"))
    html = response.content.decode()
    assert "wagtail_oneonone/js/segment-builder.js" in html
    assert "wagtail_oneonone/css/segment-builder.css" in html
    assert 'data-preview-url="/admin/oneonone_segment/preview/"' in html
    hidden = re.search(r'<input type="hidden" name="rules" value="([^"]*)"', html)
    assert hidden and json.loads(unescape(hidden.group(1))) == tree()
    schema = json.loads(
        re.search(
            r'<script id="id_rules-schema" type="application/json">(.*?)</script>', html, re.S
        ).group(1)  # type: ignore[union-attr]
    )
    assert {c["name"] for c in schema["conditions"]} == {c.name for c in registered_conditions()}
    # The slug follows the name as it is typed.
    assert 'data-w-sync-target-value="#id_slug"' in html


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        (
            tree(
                SUBSCRIBED,
                {"not": event("order_placed", window={"type": "last", "amount": 0})},
            ),
            "Rule 2 » not » Did something » When » how many: must be at least 1",
        ),
        (
            tree({"any": [SUBSCRIBED, {"condition": "event"}]}),
            "Rule 1.2 » Did something » Event: is required",
        ),
        (
            tree({"condition": "bought_twice"}),
            "Rule 1 » bought_twice » condition: unknown condition 'bought_twice'",
        ),
        (tree({"any": []}), "Rule 1: this group is empty"),
        ({"rules": {"all": []}}, "Schema version: unsupported schema version None"),
        ("{not json", "Enter a valid JSON."),
    ],
)
def test_malformed_rules_are_refused_with_a_readable_place(
    admin_client: Client, rules: Any, expected: str
) -> None:
    response = admin_client.post(reverse("oneonone_segment:add"), form_data(rules))
    assert response.status_code == 200
    assert not Segment.objects.exists()
    errors = field_errors(response)
    assert any(error.startswith(expected) for error in errors), errors
    [message] = get_messages(response.wsgi_request)
    assert "could not be created" in str(message)


def test_every_incomplete_part_is_named_at_once_and_handed_to_the_builder(
    admin_client: Client,
) -> None:
    rules = tree(
        {"condition": "consent"},
        {"any": [event("order_placed"), {"condition": "money", "operator": "gt"}]},
    )
    response = admin_client.post(reverse("oneonone_segment:add"), form_data(rules))
    assert field_errors(response) == [
        "Rule 1 » Consent » Status: is required",
        "Rule 2.2 » Spend and orders » Value: is required",
    ]
    html = response.content.decode()
    problems = json.loads(
        re.search(
            r'<script id="id_rules-problems" type="application/json">(.*?)</script>', html
        ).group(1)  # type: ignore[union-attr]
    )
    assert [problem["field"] for problem in problems] == [
        "rules.all[0].status",
        "rules.all[1].any[1].value",
    ]


def test_cycles_are_refused_on_the_condition_that_makes_them(admin_client: Client) -> None:
    first = Segment.objects.create(name="First", slug="first")
    second = Segment.objects.create(
        name="Second", slug="second", rules=tree({"condition": "segment", "segment": first.pk})
    )
    edit_first = reverse("oneonone_segment:edit", args=[first.pk])
    response = admin_client.post(
        edit_first,
        form_data(
            tree(SUBSCRIBED, {"condition": "segment", "segment": second.pk}),
            name="First",
            slug="first",
        ),
    )
    [error] = field_errors(response)
    assert error.startswith("Rule 2 » In another segment » Segment: segments refer to each other")
    assert "cycle" in error
    # Itself, directly.
    response = admin_client.post(
        edit_first,
        form_data(tree({"condition": "segment", "segment": first.pk}), name="First", slug="first"),
    )
    assert "cycle" in field_errors(response)[0]
    # A missing segment.
    response = admin_client.post(
        edit_first,
        form_data(tree({"condition": "segment", "segment": 999_999}), name="First", slug="first"),
    )
    assert "segment 999999 does not exist" in field_errors(response)[0]
    first.refresh_from_db()
    assert first.rules == tree()


# The live preview --------------------------------------------------------------------------


def test_preview_counts_and_samples_matching_contacts(
    admin_client: Client, shoppers: dict[str, Contact]
) -> None:
    data = preview(admin_client, NESTED).json()
    assert data["count"] == 2
    assert data["complete"] is True
    assert data["errors"] == []
    assert data["sample_hidden"] is False
    assert {item["email"] for item in data["sample"]} == {"ada@example.com", "cy@example.com"}
    ada = next(item for item in data["sample"] if item["email"] == "ada@example.com")
    assert ada["name"] == "Ada Lovelace"
    assert ada["url"] == reverse("oneonone_contact:inspect", args=[shoppers["ada"].pk])
    assert preview(admin_client, tree()).json()["count"] == 4


def test_preview_sample_is_ten_newest(admin_client: Client) -> None:
    Contact.objects.bulk_create(
        [Contact(email=f"person{n}@example.com", email_hash=f"{n:064d}") for n in range(15)]
    )
    data = preview(admin_client, tree()).json()
    assert data["count"] == 15
    assert [item["email"] for item in data["sample"]] == [
        f"person{n}@example.com" for n in range(14, 4, -1)
    ]


def test_preview_leaves_incomplete_parts_out_and_says_what_is_missing(
    admin_client: Client, shoppers: dict[str, Contact]
) -> None:
    rules = tree(
        {"any": [SUBSCRIBED, {"condition": "event"}]},
        {"not": {"condition": "event", "event_type": "order_placed", "count": "x"}},
        {"all": []},
    )
    data = preview(admin_client, rules).json()
    assert data["complete"] is False
    assert data["count"] == 2  # subscribed: Ada and Bob; the rest is not counted yet
    assert data["errors"] == [
        {
            "field": "rules.all[0].any[1].event_type",
            "message": "is required",
            "where": "Rule 1.2 » Did something » Event",
        },
        {
            "field": "rules.all[1].not.count",
            "message": "expected a number, got 'x'",
            "where": "Rule 2 » not » Did something » Count",
        },
        {
            "field": "rules.all[2]",
            "message": "this group is empty: add a condition to it, or remove it",
            "where": "Rule 3",
        },
    ]


def test_preview_names_cycles_against_the_segment_being_edited(
    admin_client: Client, shoppers: dict[str, Contact]
) -> None:
    first = Segment.objects.create(name="First", slug="first", rules=tree(SUBSCRIBED))
    second = Segment.objects.create(
        name="Second", slug="second", rules=tree({"condition": "segment", "segment": first.pk})
    )
    rules = tree({"condition": "segment", "segment": second.pk})
    # Fine for a new segment: it counts who is in Second (the subscribed).
    assert preview(admin_client, rules).json()["count"] == 2
    data = preview(admin_client, rules, segment=first.pk).json()
    [error] = data["errors"]
    assert error["field"] == "rules.all[0].segment"
    assert "cycle" in error["message"]
    assert data["count"] == 4  # the cyclic condition is left out: everyone


def test_preview_refuses_what_is_not_a_tree(admin_client: Client) -> None:
    url = reverse("oneonone_segment:preview")
    response = admin_client.post(url, "not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["message"] == "The request was not JSON."
    assert admin_client.get(url).status_code == 405
    data = preview(admin_client, {"version": 2, "rules": {"all": []}}).json()
    assert data["count"] is None
    assert data["errors"][0]["field"] == "version"
    data = preview(admin_client, "everyone").json()
    assert data["count"] is None
    assert data["errors"][0]["field"] == "rules"


def test_preview_says_so_when_the_database_gives_up(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import OperationalError

    from wagtail_oneonone.admin import segments

    def too_slow(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("canceling statement due to statement timeout")

    monkeypatch.setattr(segments, "preview_rules", too_slow)
    response = preview(admin_client, tree())
    assert response.status_code == 200
    assert response.json()["count"] is None
    assert "could not count these rules in time" in response.json()["message"]


# The segment page, listing and export --------------------------------------------------------


def test_segment_page_shows_rules_in_words_members_and_counts(
    admin_client: Client, warm: Segment, shoppers: dict[str, Contact]
) -> None:
    now = timezone.now()
    for days, count in ((3, 1), (2, 3), (1, 2)):
        SegmentCount.objects.create(
            segment=warm, counted_at=now - dt.timedelta(days=days), count=count
        )
    response = admin_client.get(reverse("oneonone_segment:inspect", args=[warm.pk]))
    html = response.content.decode()
    outline = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "All of:" in outline
    assert "Any of:" in outline
    assert "Consent: Subscribed" in outline
    assert "Did something: Updated their cart at least 1 time" in outline
    assert "Not:" in outline
    assert 'data-oneonone-segment-count="2"' in html
    assert response.context["members_page"].paginator.count == 2
    members = [contact.email for contact in response.context["members_page"].object_list]
    assert members == ["ada@example.com", "cy@example.com"]
    assert reverse("oneonone_contact:inspect", args=[shoppers["cy"].pk]) in html
    assert html.count('class="oneonone-chart__point"') == 3
    assert "3 counts from" in html
    assert reverse("oneonone_segment:export", args=[warm.pk]) in html


def test_segment_page_with_broken_rules_says_so(admin_client: Client) -> None:
    broken = Segment.objects.create(
        name="Broken", slug="broken", rules=tree({"condition": "segment", "segment": 999})
    )
    response = admin_client.get(reverse("oneonone_segment:inspect", args=[broken.pk]))
    assert response.status_code == 200
    assert "The rules cannot be used: segment 999 does not exist" in response.content.decode()


def test_listing_shows_last_count_and_the_rules_when_there_is_no_description(
    admin_client: Client, warm: Segment
) -> None:
    SegmentCount.objects.create(segment=warm, counted_at=timezone.now(), count=42)
    html = admin_client.get(reverse("oneonone_segment:index")).content.decode()
    assert "Warm leads" in html
    assert re.search(r">\s*42\s*<", html)
    assert "All of: (Any of: Consent: Subscribed, or Did something" in unescape(html)


def test_members_export_is_a_streamed_csv(
    admin_client: Client, warm: Segment, shoppers: dict[str, Contact]
) -> None:
    Contact.objects.filter(pk=shoppers["cy"].pk).update(first_name="=HYPERLINK(1)")
    response = admin_client.get(reverse("oneonone_segment:export", args=[warm.pk]))
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="segment-warm-leads-' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["email", "first_name", "last_name", "consent_status", "created_at"]
    ada, cy = rows[1:]
    assert ada[:4] == ["ada@example.com", "Ada", "Lovelace", "subscribed"]
    assert dt.datetime.fromisoformat(ada[4]) == shoppers["ada"].created_at
    # A formula in a name stays text in a spreadsheet.
    assert cy[:4] == ["cy@example.com", "'=HYPERLINK(1)", "", "unsubscribed"]
    assert ModelLogEntry.objects.filter(action=EXPORT_LOG_ACTION, object_id=str(warm.pk)).exists()


# Deleting -----------------------------------------------------------------------------------


def test_a_segment_other_segments_use_is_not_deleted(admin_client: Client, warm: Segment) -> None:
    user = Segment.objects.create(
        name="Warm and subscribed",
        slug="warm-subscribed",
        rules=tree({"not": {"condition": "segment", "segment": warm.pk}}),
    )
    url = reverse("oneonone_segment:delete", args=[warm.pk])
    html = admin_client.get(url).content.decode()
    assert "“Warm leads” cannot be deleted: other segments use it (“Warm and subscribed”)" in html
    assert "Yes, delete" not in html
    response = admin_client.post(url)
    assert response.status_code == 302
    assert Segment.objects.filter(pk=warm.pk).exists()
    [message] = get_messages(response.wsgi_request)
    assert "Warm and subscribed" in str(message)
    # Once nothing uses it, it goes.
    user.delete()
    assert admin_client.post(url).status_code == 302
    assert not Segment.objects.filter(pk=warm.pk).exists()


# Permissions --------------------------------------------------------------------------------


def test_users_without_segment_permissions_are_refused(
    client_for: Callable[..., Client], warm: Segment
) -> None:
    client = client_for("clerk", "wagtail_oneonone.view_contact")
    for url in (
        reverse("oneonone_segment:index"),
        reverse("oneonone_segment:add"),
        reverse("oneonone_segment:inspect", args=[warm.pk]),
        reverse("oneonone_segment:edit", args=[warm.pk]),
        reverse("oneonone_segment:delete", args=[warm.pk]),
        reverse("oneonone_segment:export", args=[warm.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == reverse("wagtailadmin_home"), url
    response = client.post(
        reverse("oneonone_segment:preview"),
        json.dumps({"rules": tree()}),
        content_type="application/json",
        headers={"x-requested-with": "XMLHttpRequest"},
    )
    assert response.status_code == 403
    assert "Segments" not in client.get(reverse("wagtailadmin_home")).content.decode()


def test_viewers_see_segments_but_do_not_build_them(
    client_for: Callable[..., Client], warm: Segment
) -> None:
    client = client_for("viewer", "wagtail_oneonone.view_segment")
    assert client.get(reverse("oneonone_segment:index")).status_code == 200
    page = client.get(reverse("oneonone_segment:inspect", args=[warm.pk]))
    assert page.status_code == 200
    # Members are contact data: without a contact permission only the count shows.
    assert page.context["members_page"] is None
    assert page.context["count"] == 2
    assert "You may not see contact details" in page.content.decode()
    assert page.context["export_url"] == ""
    assert client.get(reverse("oneonone_segment:add")).status_code == 302
    assert client.get(reverse("oneonone_segment:export", args=[warm.pk])).status_code == 302
    assert preview(client, tree()).status_code in (302, 403)


def test_builders_without_contact_permissions_get_counts_but_no_sample(
    client_for: Callable[..., Client], shoppers: dict[str, Contact]
) -> None:
    client = client_for("builder", "wagtail_oneonone.add_segment")
    data = preview(client, tree(SUBSCRIBED)).json()
    assert data["count"] == 2
    assert data["sample"] == []
    assert data["sample_hidden"] is True


def test_exporting_members_needs_the_contact_export_permission(
    client_for: Callable[..., Client], warm: Segment
) -> None:
    url = reverse("oneonone_segment:export", args=[warm.pk])
    viewer = client_for("viewer", "wagtail_oneonone.view_segment", "wagtail_oneonone.view_contact")
    assert viewer.get(url).status_code == 302
    exporter = client_for(
        "exporter", "wagtail_oneonone.view_segment", "wagtail_oneonone.export_contact"
    )
    response = exporter.get(url)
    assert response.status_code == 200
    assert b"ada@example.com" in b"".join(response.streaming_content)


# The builder's schema, words and chart ------------------------------------------------------


def test_every_condition_is_in_the_builder_with_its_value_type() -> None:
    conditions = {c["name"]: c for c in builder_schema()["conditions"]}
    assert set(conditions) == {c.name for c in registered_conditions()}
    assert conditions["attribute"]["value_type"] == {"param": "type"}
    assert conditions["money"]["value_type"] == {"fixed": "number"}
    assert conditions["field"]["value_type"]["map"]["birthday"] == "date"
    assert conditions["consent"]["value_type"] is None
    schema = builder_schema()
    assert schema["operator_values"]["between"] == "pair"
    assert schema["operator_values"]["is_set"] == "none"
    assert ["items.category", "text"] in schema["event_properties"]["order_placed"]


def test_a_host_condition_appears_in_the_builder_and_reads_in_words(admin_client: Client) -> None:
    @register_condition(
        "loyalty_points",
        label="Loyalty points at least",
        group="Loyalty",
        params=[Param("points", "int", min_value=0)],
    )
    def loyalty_points(params: dict[str, Any], context: Any) -> Q:
        return Q(attributes__points__gte=params["points"])

    try:
        html = admin_client.get(reverse("oneonone_segment:add")).content.decode()
        assert '"name": "loyalty_points"' in html
        assert '"group": "Loyalty"' in html
        node = {"condition": "loyalty_points", "points": 100}
        assert describe_condition(node) == "Loyalty points at least: Points 100"
    finally:
        unregister_condition("loyalty_points")


@pytest.mark.parametrize(
    ("node", "words"),
    [
        (
            event(
                "cart_updated",
                window={"type": "last", "amount": 24, "unit": "hours"},
                without_event="order_placed",
            ),
            "Did something: Updated their cart at least 1 time in the last 24 hours, "
            "and no Placed an order since",
        ),
        (
            event(
                "product_viewed",
                count_operator="none",
                filters=[
                    {"property": "category", "type": "text", "operator": "equals", "value": "tea"}
                ],
                window={"type": "between", "from": 7, "to": 14, "unit": "days"},
            ),
            "Did something: Viewed a product where category is “tea” zero times "
            "between 7 and 14 days ago",
        ),
        (
            {
                "condition": "money",
                "metric": "order_count",
                "operator": "between",
                "value": [2, 5],
            },
            "Spend and orders: Number of orders is between 2 and 5",
        ),
        (
            {"condition": "field", "field": "birthday", "operator": "gt", "value": "2000-01-01"},
            "Contact field: Birthday is after 2000-01-01",
        ),
        (
            {
                "condition": "field",
                "field": "first_name",
                "operator": "in",
                "value": ["Ada", "Bo"],
            },
            "Contact field: First name is one of “Ada”, “Bo”",
        ),
        (
            {"condition": "attribute", "attribute": "vip", "type": "bool", "operator": "is_true"},
            "Custom attribute: vip (yes/no) is yes",
        ),
        (
            {"condition": "consent", "status": ["subscribed", "pending"]},
            "Consent: Subscribed or Pending double opt-in",
        ),
        (
            {"condition": "suppressed", "suppressed": True, "reasons": ["complaint"]},
            "On the suppression list: suppressed for Spam complaint",
        ),
        (
            {"condition": "anniversary", "field": "birthday", "days": 7},
            "Birthday or anniversary coming up: Birthday today or in the next 7 days",
        ),
        (
            {"condition": "email_engagement", "action": "opened", "did": False, "days": 30},
            "Opened, clicked or replied: not opened an email in the last 30 days",
        ),
        (
            {"condition": "activity", "status": "dormant", "days": 90},
            "Active or dormant: dormant for 90 days",
        ),
        (
            {"condition": "lifecycle", "stages": ["at_risk", "lapsed"]},
            "Lifecycle stage: At risk or Lapsed",
        ),
        (
            {"condition": "segment", "segment": 424242, "member": False},
            "In another segment: not in segment #424242 (deleted)",
        ),
    ],
)
def test_every_built_in_condition_reads_in_words(node: dict[str, Any], words: str) -> None:
    assert describe_condition(node) == words


def test_every_built_in_condition_has_words() -> None:
    from wagtail_oneonone.admin.segment_words import _DESCRIBERS

    built_in = {
        c.name for c in registered_conditions() if c.compile.__module__.endswith("builtins")
    }
    assert built_in <= set(_DESCRIBERS)


def test_trees_read_as_one_sentence() -> None:
    assert rules_in_words(NESTED) == (
        "All of: (Any of: Consent: Subscribed, or Did something: Updated their cart at least "
        "1 time), and Not: Did something: Placed an order at least 1 time"
    )
    assert rules_in_words(tree()) == "Everyone (no conditions)"


def test_paths_read_as_places_in_the_outline() -> None:
    rules = tree(SUBSCRIBED, {"not": {"any": [event("order_placed", filters=[{}])]}})
    assert describe_path(rules, "rules.all[1].not.any[0].filters[0].value") == (
        "Rule 2 » not » Rule 2.1 » Did something » Where » filter 1 » value"
    )
    assert describe_path(rules, "rules.all[0]") == "Rule 1 » Consent"
    assert describe_path(rules, "rules") == "The top group"
    assert describe_path(rules, "version") == "Schema version"


def test_a_review_of_a_complete_tree_cleans_it() -> None:
    review = review_rules(tree(SUBSCRIBED))
    assert review.complete
    assert review.cleaned == review.countable == tree(SUBSCRIBED)


def test_the_chart_places_counts_by_time() -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    chart = count_chart(
        [(start, 0), (start + dt.timedelta(days=1), 10), (start + dt.timedelta(days=4), 5)]
    )
    assert chart is not None
    xs = [point.x for point in chart.points]
    assert xs[0] == chart.left and xs[-1] == chart.right
    assert xs[1] - xs[0] == pytest.approx((xs[2] - xs[0]) / 4, abs=0.1)
    assert [tick.label for tick in chart.y_ticks] == ["0", "3", "6", "9", "12"]
    assert chart.points[0].y == chart.bottom
    assert count_chart([]) is None
    assert [nice_ceiling(n) for n in (0, 3, 5, 100, 101, 12_345)] == [4, 4, 8, 100, 120, 16_000]
