"""Public pages reached from email: unsubscribe (RFC 8058) and the preference centre.

Both are reached through a signed token and need no login. Nothing here sets a cookie
or records an event, and every response is private: not cached, not indexed, and no
Referer leaves the page (the token in its URL is a key to the contact's settings).
"""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.clickjacking import xframe_options_deny
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from ..conf import app_settings
from ..models import ConsentStatus, Contact
from ..models.contacts import SuppressionReason
from .forms import PreferencesForm
from .preferences import (
    contact_for_link,
    is_paused,
    link_where,
    mask_email,
    resubscribe_contact,
    save_preferences,
    suppression_reason,
    unsubscribe_contact,
)
from .tokens import PREFERENCES, UNSUBSCRIBE, BadToken, LinkToken, make_token

logger = logging.getLogger(__name__)

TEMPLATE_DIR = "wagtail_oneonone/public/"

#: Shown after the preference centre's POST-redirect-GET, keyed by ``?done=``.
DONE_MESSAGES = {
    "saved": _("Saved. Your preferences are up to date."),
    "resubscribed": _("Welcome back: you are subscribed again."),
    "unsubscribed": _("Done: you are unsubscribed from all marketing email."),
    "resumed": _("Marketing email is no longer paused."),
}

#: Why resubscribing does not bring email back, by suppression reason.
BLOCKED_MESSAGES = {
    SuppressionReason.HARD_BOUNCE.value: _(
        "Email to this address bounced, so we no longer send to it, even to subscribers. "
        "If the address works again, please get in touch with us."
    ),
    SuppressionReason.COMPLAINT.value: _(
        "Our email to this address was reported as spam, so we no longer send to it, even "
        "to subscribers. If that was a mistake, please get in touch with us."
    ),
    SuppressionReason.MANUAL.value: _(
        "We have stopped all email to this address, even to subscribers. "
        "Please get in touch with us if you would like it back."
    ),
}


def _private(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _site_name(request: HttpRequest) -> str:
    from wagtail.models import Site

    try:
        site = Site.find_for_request(request)
    except Exception:  # a misconfigured site must not stop an unsubscribe
        site = None
    if site is not None and site.site_name:
        return str(site.site_name)
    return str(getattr(settings, "WAGTAIL_SITE_NAME", "") or "")


def _page(
    request: HttpRequest, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HttpResponse:
    context = {"site_name": _site_name(request), **(context or {})}
    return _private(render(request, TEMPLATE_DIR + template, context, status=status))


def _bad_link(request: HttpRequest) -> HttpResponse:
    return _page(request, "bad_link.html", status=400)


def _no_contact(request: HttpRequest) -> HttpResponse:
    # 200, not 410: a mail client's one-click POST that gets an error tells the person
    # the unsubscribe failed, yet there is no one left to send to.
    return _page(request, "no_contact.html")


def _preferences_path(link: LinkToken) -> str:
    token = make_token(link.contact_id, PREFERENCES, link.message_id)
    return reverse("wagtail_oneonone:preferences", args=[token])


def _is_one_click(request: HttpRequest) -> bool:
    try:
        return request.POST.get("List-Unsubscribe") == "One-Click"
    except MultiPartParserError:
        return False


@csrf_exempt  # RFC 8058: the one-click POST comes without cookies or a CSRF token
@xframe_options_deny
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a page and changes nothing (link scanners fetch it); POST unsubscribes."""
    try:
        link, contact = contact_for_link(token, UNSUBSCRIBE)
    except BadToken:
        return _bad_link(request)
    if contact is None:
        return _no_contact(request)
    context: dict[str, Any] = {
        "email": mask_email(contact.email),
        "preferences_path": _preferences_path(link),
    }
    if request.method == "POST":
        one_click = _is_one_click(request)
        unsubscribe_contact(
            contact,
            source="one-click unsubscribe" if one_click else "unsubscribe page",
            where=link_where(link, "unsubscribe link"),
        )
        logger.info("Contact %s unsubscribed (one-click: %s)", contact.pk, one_click)
        # Always 200 with a page, never a redirect (RFC 8058), however often it is repeated.
        return _page(request, "unsubscribed.html", context)
    context["already"] = contact.consent_status == ConsentStatus.UNSUBSCRIBED
    return _page(request, "unsubscribe.html", context)


def _local_date(contact: Contact) -> str:
    if contact.paused_until is None:
        return ""
    try:
        zone = ZoneInfo(contact.time_zone or app_settings.default_time_zone)
    except (ValueError, ZoneInfoNotFoundError):
        zone = ZoneInfo("UTC")
    return str(formats.date_format(timezone.localtime(contact.paused_until, zone), "DATE_FORMAT"))


@xframe_options_deny
@require_http_methods(["GET", "HEAD", "POST"])
def preferences(request: HttpRequest, token: str) -> HttpResponse:
    """The preference centre: frequency, topics, pause, resubscribe, unsubscribe."""
    try:
        link, contact = contact_for_link(token, PREFERENCES)
    except BadToken:
        return _bad_link(request)
    if contact is None:
        return _no_contact(request)
    paused = is_paused(contact)
    paused_until_text = _local_date(contact) if paused else ""
    where = link_where(link, "preference centre link")
    form = PreferencesForm(contact=contact, paused_until_text=paused_until_text)
    if request.method == "POST":
        action = request.POST.get("action", "save")
        done = ""
        if action == "resubscribe":
            resubscribe_contact(contact, where=where)
            done = "resubscribed"
        elif action == "unsubscribe":
            unsubscribe_contact(contact, source="preference centre", where=where)
            done = "unsubscribed"
        elif action == "resume":
            save_preferences(contact, pause_weeks=0)
            done = "resumed"
        else:
            form = PreferencesForm(
                request.POST, contact=contact, paused_until_text=paused_until_text
            )
            if form.is_valid():
                save_preferences(
                    contact,
                    frequency=form.cleaned_data["frequency"],
                    topics_opted_out=form.topics_opted_out(),
                    pause_weeks=form.pause_weeks(),
                )
                done = "saved"
        if done:
            return _private(HttpResponseRedirect(f"{request.path}?done={done}"))
    reason = suppression_reason(contact)
    status = contact.consent_status
    context = {
        "email": mask_email(contact.email),
        "form": form,
        "done_message": DONE_MESSAGES.get(request.GET.get("done", "")),
        "subscribed": status == ConsentStatus.SUBSCRIBED,
        "unsubscribed": status == ConsentStatus.UNSUBSCRIBED,
        # Bounces, complaints and staff blocks are not lifted by resubscribing.
        "blocked_message": BLOCKED_MESSAGES.get(reason) if reason else None,
        "can_subscribe": status != ConsentStatus.SUBSCRIBED
        or reason == SuppressionReason.UNSUBSCRIBE,
        "paused_until": paused_until_text,
        "has_topics": bool(app_settings.TOPICS),
    }
    return _page(request, "preferences.html", context)
