"""Check a template when it is saved: syntax, size, unknown names, unavailable features."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from jinja2 import meta, nodes
from jinja2.exceptions import TemplateSyntaxError

from ..conf import app_settings
from .context import CONTACT_FIELDS, CONTEXT_VARIABLES, EVENT_FIELDS, SITE_FIELDS
from .environment import get_environment
from .render import PARTS, TemplateSource, did_you_mean, environment_kind, unknown_name_message
from .segments import segment_slugs_used

ERROR = "error"
WARNING = "warning"

# Dicts whose keys are known, so ``contact.frist_name`` can be flagged.
_KNOWN_FIELDS: dict[str, tuple[str, ...]] = {
    "contact": (*CONTACT_FIELDS, "in_segment"),
    "site": SITE_FIELDS,
    "trigger": EVENT_FIELDS,
}
_DICT_METHODS = frozenset({"get", "items", "keys", "values"})


@dataclass(frozen=True)
class TemplateIssue:
    part: str  # "subject" | "preheader" | "html" | "text"
    message: str
    line: int | None
    severity: str  # "error" | "warning"

    def __str__(self) -> str:
        where = f"{self.part}, line {self.line}" if self.line else self.part
        return f"{where}: {self.message}"


def validate_template(source: TemplateSource) -> list[TemplateIssue]:
    """Errors (the part cannot render) and warnings (probably a typo) for every part."""
    issues: list[TemplateIssue] = []
    for part in PARTS:
        issues.extend(validate_part(part, getattr(source, part)))
    return issues


def validate_part(part: str, text: str) -> list[TemplateIssue]:
    if not text:
        return []
    limit = int(app_settings.MAX_TEMPLATE_BYTES)
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limit:
        message = f"the template is {size} bytes; the limit is {limit} (MAX_TEMPLATE_BYTES)"
        return [TemplateIssue(part, message, None, ERROR)]
    env = get_environment(environment_kind(part))
    try:
        tree = env.parse(text)
    except TemplateSyntaxError as exc:
        return [TemplateIssue(part, exc.message or str(exc), exc.lineno, ERROR)]
    issues = list(_feature_errors(part, tree))
    if not issues:
        try:
            env.compile(tree)
        except TemplateSyntaxError as exc:
            issues.append(TemplateIssue(part, exc.message or str(exc), exc.lineno, ERROR))
    return issues + list(_unknown_names(part, tree)) + list(_unknown_segments(part, tree))


def _unknown_segments(part: str, tree: nodes.Template) -> Iterator[TemplateIssue]:
    """``contact.in_segment("slug")`` naming no segment would fail every message."""
    from ..models import Segment

    used = segment_slugs_used(tree)
    if not used:
        return
    known = set(
        Segment.objects.filter(slug__in={slug for slug, _ in used}).values_list("slug", flat=True)
    )
    for slug, line in used:
        if slug not in known:
            hint = did_you_mean(slug, list(Segment.objects.values_list("slug", flat=True)))
            message = f"there is no segment with the slug {slug!r}{hint}"
            yield TemplateIssue(part, message, line, ERROR)


def _feature_errors(part: str, tree: nodes.Template) -> Iterator[TemplateIssue]:
    env = get_environment(environment_kind(part))
    for call in tree.find_all((nodes.Filter, nodes.Test)):
        assert isinstance(call, nodes.Filter | nodes.Test)
        kind = "filter" if isinstance(call, nodes.Filter) else "test"
        if call.name not in (env.filters if kind == "filter" else env.tests):
            message = unknown_name_message(kind, call.name, part)
            yield TemplateIssue(part, message, call.lineno, ERROR)
    for tag in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        name = type(tag).__name__.lower().replace("fromimport", "from … import")
        message = f"{{% {name} %}} is not available: an email template stands alone"
        yield TemplateIssue(part, message, tag.lineno, ERROR)
    for attribute, line in _attribute_names(tree):
        if attribute.startswith("_"):
            message = f"names starting with '_' are not available ({attribute!r})"
            yield TemplateIssue(part, message, line, ERROR)


def _attribute_names(tree: nodes.Template) -> Iterator[tuple[str, int]]:
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            yield node.attr, node.lineno
        elif isinstance(node, nodes.Getitem):
            key = node.arg.value if isinstance(node.arg, nodes.Const) else None
            if isinstance(key, str):
                yield key, node.lineno


def _unknown_names(part: str, tree: nodes.Template) -> Iterator[TemplateIssue]:
    env = get_environment(environment_kind(part))
    known = set(CONTEXT_VARIABLES) | {name for name in env.globals if not name.startswith("_")}
    try:
        from_context = meta.find_undeclared_variables(tree)
    except TemplateSyntaxError:  # an unknown filter, already reported as an error
        return
    first_line: dict[str, int] = {}
    for name_node in tree.find_all(nodes.Name):
        assert isinstance(name_node, nodes.Name)
        first_line.setdefault(name_node.name, name_node.lineno)
    for name in sorted(from_context - known, key=lambda name: (first_line.get(name, 0), name)):
        if name in CONTACT_FIELDS:
            hint = f" (did you mean 'contact.{name}'?)"
        else:
            hint = did_you_mean(name, known)
        message = f"unknown variable {name!r}{hint}; it will print nothing"
        yield TemplateIssue(part, message, first_line.get(name), WARNING)
    for node in tree.find_all(nodes.Getattr):
        assert isinstance(node, nodes.Getattr)
        owner = node.node
        if not isinstance(owner, nodes.Name) or owner.name not in from_context:
            continue
        fields = _KNOWN_FIELDS.get(owner.name)
        if fields and node.attr not in fields and node.attr not in _DICT_METHODS:
            hint = did_you_mean(node.attr, fields)
            message = f"{owner.name} has no field {node.attr!r}{hint}; it will print nothing"
            yield TemplateIssue(part, message, node.lineno, WARNING)
