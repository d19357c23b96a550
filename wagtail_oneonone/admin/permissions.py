"""Permission policies: every admin screen of the app is gated by the app's own permissions.

They are registered with ``wagtail.permissions.register_permission_policy`` at the top of
``wagtail_hooks.py``, so every generic view and menu item finds them in the policy registry.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_permission_codename, get_user_model
from django.db.models import QuerySet
from wagtail.permission_policies import BasePermissionPolicy, ModelPermissionPolicy

from ..models import Contact, OutboxMessage
from .compat import policy_registry

#: Every action on contacts; a user with any of them may see the app's admin.
CONTACT_ACTIONS: tuple[str, ...] = ("view", "add", "change", "delete", "import", "export", "erase")

# Actions that are not Django's default model permissions, with their codenames.
_CUSTOM_CODENAMES = {
    "import": "import_contacts",
    "export": "export_contact",
    "erase": "erase_contact",
}


class ContactPermissionPolicy(ModelPermissionPolicy):
    """Model permissions for contacts, plus the ``import``, ``export`` and ``erase`` actions."""

    # Wagtail 8 maps every action through _get_permission_codename; 7.x has no such method
    # and builds codenames in the two methods below, so all three are overridden.
    def _get_permission_codename(self, action: str) -> str:
        return _CUSTOM_CODENAMES.get(action) or get_permission_codename(action, self.model._meta)

    def _get_permission_codenames(self, actions: Any) -> set[str]:
        return {self._get_permission_codename(action) for action in actions}

    def _get_permission_name(self, action: str) -> str:
        return f"{self.app_label}.{self._get_permission_codename(action)}"

    def user_has_any_app_permission(self, user: Any) -> bool:
        return bool(self.user_has_any_permission(user, CONTACT_ACTIONS))


class ContactImportPermissionPolicy(BasePermissionPolicy):
    """Every action on a CSV import needs the ``import_contacts`` permission."""

    def user_has_permission(self, user: Any, action: str) -> bool:
        return contact_policy().user_has_permission(user, "import")

    def users_with_any_permission(self, actions: Any) -> QuerySet[Any]:
        return contact_policy().users_with_permission("import")


class SuppressionPermissionPolicy(BasePermissionPolicy):
    """The suppression list is read-only in the admin; any of the app's permissions may view it."""

    def user_has_permission(self, user: Any, action: str) -> bool:
        return action == "view" and contact_policy().user_has_any_app_permission(user)

    def users_with_any_permission(self, actions: Any) -> QuerySet[Any]:
        if "view" in actions:
            return contact_policy().users_with_any_permission(CONTACT_ACTIONS)
        return get_user_model()._default_manager.none()


class OutboxMessagePermissionPolicy(ModelPermissionPolicy):
    """Sent messages are a record: only ``view`` is ever granted, superusers included."""

    def user_has_permission(self, user: Any, action: str) -> bool:
        return action == "view" and bool(super().user_has_permission(user, action))

    def users_with_any_permission(self, actions: Any) -> QuerySet[Any]:
        if "view" in actions:
            return super().users_with_any_permission(["view"])
        return get_user_model()._default_manager.none()


def message_policy() -> Any:
    return policy_registry.get_by_type(OutboxMessage)


def user_can_view_contacts(user: Any) -> bool:
    """Contact data (pages, previews as a contact) is shown to holders of any contact action."""
    return contact_policy().user_has_any_app_permission(user)


def contact_policy() -> ContactPermissionPolicy:
    policy = policy_registry.get_by_type(Contact)
    if not isinstance(policy, ContactPermissionPolicy):
        # Registered in wagtail_hooks; a fallback here means the hooks module was not loaded.
        raise TypeError(f"expected ContactPermissionPolicy for Contact, got {policy!r}")
    return policy


def user_can_access_app(user: Any) -> bool:
    """True if the user holds any of the app's permissions (or is a superuser)."""
    return contact_policy().user_has_any_app_permission(user)
