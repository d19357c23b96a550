"""Sandboxed Jinja2 email templates: the environment, the context, rendering, validation.

``render_email(source, build_context(contact, ...))`` is the whole sending-side API;
``validate_template(source)`` runs when a template is saved. Email built from blocks:
``body_template(stream_value, layout, ...)`` once per revision, then
``render_body(body, context, contact_id=...)`` per contact (docs/email-content.md).
"""

from .context import build_context, build_contexts, load_context_events, preview_context
from .dynamic import DynamicChoices, DynamicOutcome, choices_for_contacts
from .email_html import EmailBody, RenderedBody, body_template, render_body
from .email_layout import EmailLayoutSpec, email_size_warnings, finish_email_html
from .render import (
    RenderedEmail,
    TemplateRenderError,
    TemplateSource,
    cache_info,
    clear_template_cache,
    html_to_text,
    render_email,
)
from .tags import validate_body
from .validate import TemplateIssue, validate_template

__all__ = [
    "DynamicChoices",
    "DynamicOutcome",
    "EmailBody",
    "EmailLayoutSpec",
    "RenderedBody",
    "RenderedEmail",
    "TemplateIssue",
    "TemplateRenderError",
    "TemplateSource",
    "body_template",
    "build_context",
    "build_contexts",
    "cache_info",
    "choices_for_contacts",
    "clear_template_cache",
    "email_size_warnings",
    "finish_email_html",
    "html_to_text",
    "load_context_events",
    "preview_context",
    "render_body",
    "render_email",
    "validate_body",
    "validate_template",
]
