"""Sandboxed Jinja2 email templates: the environment, the context, rendering, validation.

``render_email(source, build_context(contact, ...))`` is the whole sending-side API;
``validate_template(source)`` runs when a template is saved.
"""

from .context import build_context, build_contexts, load_context_events, preview_context
from .render import (
    RenderedEmail,
    TemplateRenderError,
    TemplateSource,
    cache_info,
    clear_template_cache,
    html_to_text,
    render_email,
)
from .validate import TemplateIssue, validate_template

__all__ = [
    "RenderedEmail",
    "TemplateIssue",
    "TemplateRenderError",
    "TemplateSource",
    "build_context",
    "build_contexts",
    "cache_info",
    "clear_template_cache",
    "html_to_text",
    "load_context_events",
    "preview_context",
    "render_email",
    "validate_template",
]
