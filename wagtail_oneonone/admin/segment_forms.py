"""The segment form: name, slug, description, and the rules edited by the segment builder.

The builder (``static/wagtail_oneonone/js/segment-builder.js``) is driven by
:func:`builder_schema`: ``conditions_schema()`` plus the few facts about comparisons it
needs to pick inputs, so a condition a host registers appears in it without more code.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from wagtail.admin.forms import WagtailAdminModelForm

from ..events.types import ITEM_SCHEMA, registered_event_types
from ..exceptions import SegmentRuleError
from ..models import Segment
from ..segments import check_segment_rules, empty_rules, registered_conditions
from ..segments.builtins import CONTACT_FIELDS
from ..segments.conditions import UNITS, Condition
from ..segments.properties import (
    DAYS_VALUE,
    LIST_VALUE,
    NO_VALUE,
    OPERATORS,
    PAIR_VALUE,
)
from ..segments.schema import conditions_schema
from .segment_rules import RuleProblem, review_rules
from .segment_words import TYPED_OPERATOR_LABELS

PREVIEW_URL_NAME = "oneonone_segment:preview"
#: Event property kinds as the comparison types a filter uses.
_PROPERTY_TYPES = {"str": "text", "int": "number", "number": "number", "bool": "bool"}


def value_type_of(condition: Condition) -> dict[str, Any] | None:
    """How the builder learns the type of a condition's ``value`` parameter.

    From a ``type`` parameter (custom attributes), from the chosen contact field, or fixed
    when every operator the condition offers belongs to one type (spend is a number).
    """
    params = {param.name: param for param in condition.params}
    if "value" not in params or params["value"].kind != "value":
        return None
    if "type" in params and params["type"].kind == "choice":
        return {"param": "type"}
    if condition.name == "field":
        return {"param": "field", "map": {key: kind for key, (_l, kind) in CONTACT_FIELDS.items()}}
    operator = params.get("operator")
    offered = {value for value, _label in operator.choice_list()} if operator else set()
    for value_type, operators in OPERATORS.items():
        if offered and offered <= set(operators):
            return {"fixed": value_type}
    return {"fixed": "text"}


def event_properties() -> dict[str, list[list[str]]]:
    """Each event type's declared properties with their comparison type, for suggestions;
    a list of cart or order lines offers ``items.<key>``."""
    found: dict[str, list[list[str]]] = {}
    for event_type in registered_event_types():
        names: list[list[str]] = []
        for name, prop in event_type.properties.items():
            if prop.kind == "items":
                names.extend(
                    [f"items.{key}", _PROPERTY_TYPES.get(item.kind, "text")]
                    for key, item in ITEM_SCHEMA.items()
                )
            elif prop.kind in _PROPERTY_TYPES:
                names.append([name, _PROPERTY_TYPES[prop.kind]])
        found[event_type.name] = names
    return found


def builder_schema() -> dict[str, Any]:
    """Everything the builder shows, as JSON: conditions, comparisons and its words."""
    schema = conditions_schema()
    value_types = {
        condition.name: value_type_of(condition) for condition in registered_conditions()
    }
    for described in schema["conditions"]:
        described["value_type"] = value_types.get(described["name"])
    shapes = {op: "none" for op in NO_VALUE}
    shapes.update({op: "list" for op in LIST_VALUE})
    shapes.update({op: "pair" for op in PAIR_VALUE})
    shapes.update({op: "days" for op in DAYS_VALUE})
    schema.update(
        operator_values=shapes,
        typed_operator_labels=TYPED_OPERATOR_LABELS,
        window_units=[[unit, _(unit)] for unit in UNITS],
        event_properties=event_properties(),
        text=builder_text(),
    )
    return schema


def builder_text() -> dict[str, str]:
    """The builder's words, translated here so the script has none of its own."""
    return {
        "match": _("Match"),
        "all": _("all"),
        "any": _("any"),
        "of_these": _("of these rules"),
        "and": _("and"),
        "or": _("or"),
        "not": _("Not"),
        "negate": _("Negate"),
        "unnegate": _("Remove “not”"),
        "remove": _("Remove"),
        "remove_group": _("Remove group"),
        "add_condition": _("Add condition"),
        "add_group": _("Add group"),
        "condition": _("Condition"),
        "choose": _("Choose…"),
        "choose_condition": _("Choose a condition…"),
        "empty_root": _("No rules yet: every contact matches. Add a condition."),
        "empty_group": _("This group is empty: add a condition to it, or remove it."),
        "yes": _("Yes"),
        "no": _("No"),
        "ever": _("Ever"),
        "last": _("In the last"),
        "between": _("Between"),
        "ago": _("ago"),
        "and_value": _("and"),
        "one_per_line": _("One value per line."),
        "days": _("days"),
        "filters_none": _("No filters: every event counts."),
        "add_filter": _("Add a filter"),
        "remove_filter": _("Remove filter"),
        "property": _("Property"),
        "type": _("Type"),
        "unit": _("Unit"),
        "operator": _("Operator"),
        "value": _("Value"),
        "filter": _("Filter"),
        "unknown_condition": _("Unknown condition “%(name)s”: remove it."),
        "unreadable": _("This part is not a rule the builder understands: remove it."),
        "unreadable_tree": _("The saved rules could not be read; the builder starts afresh."),
        "counting": _("Counting…"),
        "count_one": _("1 contact matches"),
        "count_many": _("%(count)s contacts match"),
        "incomplete": _("Incomplete rules are left out of the count until they are finished."),
        "problems": _("To finish:"),
        "sample": _("Some of them"),
        "sample_empty": _("No contacts match."),
        "sample_hidden": _("You may not see contact details, so no sample is shown."),
        "slow": _("The count is taking too long; it will be tried again after your next change."),
        "failed": _("The count could not be fetched (%(reason)s); the rules are not affected."),
        "rule": _("Rule %(number)s"),
    }


class SegmentBuilderWidget(forms.Widget):
    """The rules as a hidden JSON input, edited by the builder script around it."""

    template_name = "wagtail_oneonone/segments/builder_widget.html"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.segment_id: int | None = None
        self.problems: list[RuleProblem] = []

    class Media:
        js = ["wagtail_oneonone/js/segment-builder.js"]
        css = {"all": ["wagtail_oneonone/css/segment-builder.css"]}

    def id_for_label(self, id_: str) -> str:
        return ""  # nothing to focus: the builder's own inputs carry their labels

    def format_value(self, value: Any) -> str:
        if value is None or value == "":
            return json.dumps(empty_rules())
        return value if isinstance(value, str) else json.dumps(value)

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        widget_id = context["widget"]["attrs"].get("id") or f"id_{name}"
        try:
            preview_url = reverse(PREVIEW_URL_NAME)
        except NoReverseMatch:  # the viewset is not registered: the builder counts nothing
            preview_url = ""
        context["builder"] = {
            "id": widget_id,
            "schema_id": f"{widget_id}-schema",
            "problems_id": f"{widget_id}-problems",
            "schema": builder_schema(),
            "problems": [problem.as_json() for problem in self.problems],
            "preview_url": preview_url,
            "segment_id": self.segment_id or "",
        }
        return context


class SegmentForm(WagtailAdminModelForm):
    """Checked with ``check_segment_rules``; every incomplete part is named, with its place."""

    rules = forms.JSONField(
        label=gettext_lazy("Rules"),
        widget=SegmentBuilderWidget,
        help_text=gettext_lazy(
            "Add conditions and groups; the count and a sample of matching contacts follow "
            "your changes."
        ),
    )

    class Meta:
        model = Segment
        fields = ["name", "slug", "description", "rules"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["rules"].widget.segment_id = self.instance.pk
        if self.instance.pk is None and not self.is_bound:
            self.initial.setdefault("rules", empty_rules())

    def clean_rules(self) -> dict[str, Any]:
        rules = self.cleaned_data.get("rules")
        review = review_rules(rules, self.instance.pk)
        self.fields["rules"].widget.problems = review.problems
        if review.problems:
            raise ValidationError([str(problem) for problem in review.problems])
        try:
            return check_segment_rules(rules, self.instance.pk)
        except SegmentRuleError as exc:  # the review should have found it; say it anyway
            raise ValidationError(f"{exc.field}: {exc.message}") from None
