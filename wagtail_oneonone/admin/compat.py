"""Wagtail 7.x / 8.x differences the admin needs, in one place.

Wagtail 8 looks permission policies up in ``wagtail.permissions.policy_registry``; 7.x has no
registry and asks each viewset's ``permission_policy``. On 7.x a small registry of our own
stands in, and :class:`RegisteredPolicyMixin` hands its policy to the viewset.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model

try:
    from wagtail.permissions import policy_registry, register_permission_policy

    HAS_POLICY_REGISTRY = True
except ImportError:  # Wagtail < 8
    HAS_POLICY_REGISTRY = False
    _policies: dict[type[Model], Any] = {}

    def register_permission_policy(model: type[Model], policy: Any) -> None:  # type: ignore[misc,unused-ignore]
        _policies[model] = policy

    class _PolicyRegistry:
        def get_by_type(self, model: type[Model]) -> Any:
            from wagtail.permission_policies import ModelPermissionPolicy

            return _policies.get(model) or ModelPermissionPolicy(model)

    policy_registry = _PolicyRegistry()  # type: ignore[assignment,unused-ignore]


class RegistryPolicyViewMixin:
    """On Wagtail 7.x, a view outside a ModelViewSet finds its model's policy here.

    Put it first among a view's bases; on Wagtail 8 it does nothing.
    """

    if not HAS_POLICY_REGISTRY:

        def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            if getattr(self, "permission_policy", None) is None and getattr(self, "model", None):
                self.permission_policy = policy_registry.get_by_type(self.model)  # type: ignore[attr-defined]
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


def more_button(label: Any, *, url: str, icon_name: str, priority: int) -> Any:
    """An entry for a listing row's "More" menu (a menu item on 8.x, a button on 7.x)."""
    try:
        from wagtail.admin.ui.menus import MenuItem
    except ImportError:  # Wagtail < 8
        from wagtail.admin.widgets import ListingButton

        return ListingButton(label, url, icon_name=icon_name, priority=priority)
    return MenuItem(label, url=url, icon_name=icon_name, priority=priority)


class RegisteredPolicyMixin:
    """On Wagtail 7.x, make a viewset use the policy registered for its model."""

    model: type[Model]

    if not HAS_POLICY_REGISTRY:

        @property
        def permission_policy(self) -> Any:
            return policy_registry.get_by_type(self.model)


__all__ = [
    "HAS_POLICY_REGISTRY",
    "RegisteredPolicyMixin",
    "RegistryPolicyViewMixin",
    "policy_registry",
    "register_permission_policy",
]
