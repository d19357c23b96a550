from __future__ import annotations

from typing import Any

from django import template

from ..cart import Cart

register = template.Library()


@register.simple_tag(takes_context=True)
def cart_count(context: dict[str, Any]) -> int:
    """Items in the visitor's cart, for the header."""
    request = context.get("request")
    if request is None or not hasattr(request, "session"):
        return 0
    return Cart(request.session).count


@register.simple_tag(takes_context=True)
def product_index_url(context: dict[str, Any]) -> str:
    """URL of the product listing, wherever editors put it."""
    from ..models import ProductIndexPage

    index = ProductIndexPage.objects.live().first()
    return (index.get_url(context.get("request")) or "/") if index else "/"
