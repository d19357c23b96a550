"""A flow's steps as Wagtail blocks: the flow editor is a StreamField of these.

Each step's block id is its identity: enrollments remember the step they are at by it,
and each email step's outbox rows carry it in their key. ``flows.spec.spec_of`` turns a
value into the engine's :class:`~wagtail_oneonone.flows.engine.FlowSpec`.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from wagtail import blocks

from ..blocks import (
    PERSONALISATION_HELP,
    ConditionBlock,
    EmailBodyBlock,
    raise_field_errors,
    tag_errors,
)

UNIT_CHOICES = [("minutes", _("minutes")), ("hours", _("hours")), ("days", _("days"))]
UNIT_SECONDS = {"minutes": 60, "hours": 3600, "days": 86400}
WEEKDAY_CHOICES = [
    ("0", _("Monday")),
    ("1", _("Tuesday")),
    ("2", _("Wednesday")),
    ("3", _("Thursday")),
    ("4", _("Friday")),
    ("5", _("Saturday")),
    ("6", _("Sunday")),
]
#: Longest wait a step may ask for.
MAX_WAIT_DAYS = 365


class WaitBlock(blocks.StructBlock):
    amount = blocks.IntegerBlock(min_value=0, max_value=MAX_WAIT_DAYS * 24 * 60, default=1)
    unit = blocks.ChoiceBlock(choices=UNIT_CHOICES, default="hours")
    until = blocks.TimeBlock(
        required=False,
        help_text=_("Then wait until this time on the contact's clock (their time zone)."),
    )
    weekdays = blocks.MultipleChoiceBlock(
        choices=WEEKDAY_CHOICES,
        required=False,
        help_text=_("With a time: only on these days. None chosen: any day."),
    )

    class Meta:
        icon = "time"
        label = _("Wait")

    def clean(self, value: Any) -> Any:
        value = super().clean(value)
        seconds = (value.get("amount") or 0) * UNIT_SECONDS[value.get("unit") or "hours"]
        if seconds > MAX_WAIT_DAYS * 86400:
            raise_field_errors({"amount": ValidationError(_("Wait at most a year."))})
        if not seconds and value.get("until") is None:
            raise_field_errors(
                {"amount": ValidationError(_("Wait some time, or until a time of day."))}
            )
        if value.get("weekdays") and value.get("until") is None:
            raise_field_errors(
                {"until": ValidationError(_("Choose the time of day to wait for."))}
            )
        return value


class SendEmailBlock(blocks.StructBlock):
    subject = blocks.CharBlock(max_length=500, help_text=PERSONALISATION_HELP)
    preheader = blocks.CharBlock(max_length=500, required=False, label=_("Preview text"))
    body = EmailBodyBlock()
    frequency_capped = blocks.BooleanBlock(
        required=False,
        default=True,
        label=_("Skip if recently emailed"),
        help_text=_(
            "Follow the frequency cap: skip this email for a contact who has had as many "
            "marketing emails lately as the cap allows. Turn it off for an email the "
            "contact expects straight after what they did (thanks for an order, a reward); "
            "it still counts towards the cap, and a contact's own frequency choice still holds."
        ),
    )

    class Meta:
        icon = "mail"
        label = _("Send an email")

    def clean(self, value: Any) -> Any:
        value = super().clean(value)
        errors = {
            name: "; ".join(tag_errors(value.get(name) or "")) for name in ("subject", "preheader")
        }
        raise_field_errors(
            {name: ValidationError(message) for name, message in errors.items() if message}
        )
        return value


class UpdateContactBlock(blocks.StructBlock):
    action = blocks.ChoiceBlock(
        choices=[
            ("set_attribute", _("Set an attribute")),
            ("add_tag", _("Add a tag")),
            ("remove_tag", _("Remove a tag")),
        ],
        default="set_attribute",
    )
    name = blocks.CharBlock(
        max_length=100, help_text=_("The attribute's name, or the tag, e.g. win_back_sent.")
    )
    value = blocks.CharBlock(
        max_length=500, required=False, help_text=_("For an attribute: its new value.")
    )

    class Meta:
        icon = "user"
        label = _("Update the contact")


class NotifyBlock(blocks.StructBlock):
    to = blocks.EmailBlock(help_text=_("The staff member who should follow up personally."))
    message = blocks.TextBlock(
        help_text=_(
            "What to do, e.g. 'Call {{ contact.first_name }} about their order'. The "
            "contact's details and a link to their timeline are added."
        )
    )

    class Meta:
        icon = "mail"
        label = _("Notify a staff member")

    def clean(self, value: Any) -> Any:
        value = super().clean(value)
        errors = tag_errors(value.get("message") or "")
        if errors:
            raise_field_errors({"message": ValidationError("; ".join(errors))})
        return value


class EventSinceEntryBlock(blocks.StructBlock):
    """Yes when the contact did ``event_type`` after entering the flow."""

    event_type = blocks.CharBlock(max_length=64, help_text=_("e.g. order_placed"))

    class Meta:
        icon = "date"
        label = _("Did something since entering the flow")

    def clean(self, value: Any) -> Any:
        from ..events.types import get_event_type
        from ..exceptions import UnknownEventType

        value = super().clean(value)
        try:
            get_event_type(value["event_type"])
        except UnknownEventType as exc:
            raise_field_errors({"event_type": ValidationError(str(exc))})
        return value


class BranchConditionBlock(ConditionBlock):
    event_since_entry = EventSinceEntryBlock()


class EndBlock(blocks.StaticBlock):
    class Meta:
        icon = "cross"
        label = _("End")
        admin_text = _("The contact leaves the flow here.")


class BasicStepBlock(blocks.StreamBlock):
    """The steps a branch's sides hold: all but another branch."""

    wait = WaitBlock()
    send_email = SendEmailBlock()
    update_contact = UpdateContactBlock()
    notify = NotifyBlock()
    end = EndBlock()

    class Meta:
        required = False


class BranchStepBlock(blocks.StructBlock):
    label = blocks.CharBlock(max_length=80, help_text=_("e.g. 'First order?'"))
    condition = BranchConditionBlock()
    yes = BasicStepBlock(required=False)
    no = BasicStepBlock(required=False)

    class Meta:
        icon = "sliders"
        label = _("Branch: yes or no")


class FlowStepsBlock(blocks.StreamBlock):
    wait = WaitBlock()
    send_email = SendEmailBlock()
    branch = BranchStepBlock()
    update_contact = UpdateContactBlock()
    notify = NotifyBlock()
    end = EndBlock()


def with_step_ids(raw: Any) -> Any:
    """Raw StreamField data with an id on every stream child, nested ones included.

    Wagtail gives ids to the top level when saving, but a branch's steps written in code
    (built-in flows, imports) would otherwise have none, and a step is known by its id.
    """
    if isinstance(raw, list):
        items = []
        for item in raw:
            if isinstance(item, dict) and "type" in item and "value" in item:
                item = {**item, "id": item.get("id") or str(uuid.uuid4())}
                item["value"] = with_step_ids(item["value"])
            else:
                item = with_step_ids(item)
            items.append(item)
        return items
    if isinstance(raw, dict):
        return {key: with_step_ids(value) for key, value in raw.items()}
    return raw
