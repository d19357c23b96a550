"""The shop's orders in the Wagtail admin, next to the contacts and their events."""

from __future__ import annotations

from wagtail import hooks
from wagtail.admin.viewsets.model import ModelViewSet

from .models import Order


class OrderViewSet(ModelViewSet):
    model = Order
    icon = "list-ul"
    menu_label = "Orders"
    add_to_admin_menu = True
    menu_order = 250
    list_display = ["number", "email", "total", "currency", "created_at"]
    list_filter = ["created_at"]
    search_fields = ["number", "email", "first_name", "last_name"]
    inspect_view_enabled = True
    form_fields = ["email", "first_name", "last_name"]
    copy_view_enabled = False


@hooks.register("register_admin_viewset")
def register_order_viewset() -> OrderViewSet:
    # An explicit, prefixed name keeps the URL namespace clear of other apps' "order".
    return OrderViewSet("shop_orders")
