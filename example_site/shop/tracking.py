"""What the shop tells wagtail-oneonone, through its public API as any host site would.

Page views are recorded by the app's own page-serve hook; this module adds the
commerce events. Tracking never breaks shopping: browsing and cart events are
fire-and-forget, and the order's event is written in the order's own transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from wagtail_oneonone import identify, track

from .cart import Cart
from .models import Order, ProductPage

logger = logging.getLogger(__name__)

IMAGE_SPEC = "fill-400x400"


def order_dedup_key(number: str) -> str:
    """The order's unique key in the event log: a resubmitted checkout logs it once."""
    return f"order-{number}"


def product_image_url(product: ProductPage) -> str:
    """Absolute URL of the product's listing image, or "" (emails need absolute URLs)."""
    if product.image is None:
        return ""
    try:
        return product.image.get_rendition(IMAGE_SPEC).full_url
    except Exception:  # a missing source file must not cost us the event
        logger.warning("No rendition for the image of product %s", product.pk, exc_info=True)
        return ""


def item_properties(
    *,
    product_id: Any,
    name: str,
    quantity: int,
    price: Decimal,
    category: str = "",
    url: str = "",
    image_url: str = "",
) -> dict[str, Any]:
    """One cart or order line in the shape of the app's item schema."""
    item: dict[str, Any] = {
        "product_id": str(product_id),
        "name": name,
        "quantity": quantity,
        "price": price,
    }
    for key, value in (("category", category), ("url", url), ("image_url", image_url)):
        if value:
            item[key] = value
    return item


def product_item(
    product: ProductPage, quantity: int, request: HttpRequest | None = None
) -> dict[str, Any]:
    return item_properties(
        product_id=product.pk,
        name=product.title,
        quantity=quantity,
        price=product.price,
        category=product.category,
        url=product.get_full_url(request) or "",
        image_url=product_image_url(product),
    )


def cart_items(cart: Cart, request: HttpRequest | None = None) -> list[dict[str, Any]]:
    return [product_item(line.product, line.quantity, request) for line in cart.lines]


def track_product_view(product: ProductPage, request: HttpRequest) -> None:
    properties = product_item(product, 1, request)
    del properties["quantity"]
    track("product_viewed", request=request, properties=properties, fail_silently=True)


def track_cart_change(request: HttpRequest, cart: Cart, action: str, product_id: int) -> None:
    """Log the whole cart after a change, so a flow can show exactly what was left."""
    track(
        "cart_updated",
        request=request,
        properties={
            "items": cart_items(cart, request),
            "cart_total": cart.subtotal,
            "action": action,
            "product_id": str(product_id),
        },
        fail_silently=True,
    )


def track_checkout_started(request: HttpRequest, cart: Cart) -> None:
    track(
        "checkout_started",
        request=request,
        properties={"items": cart_items(cart, request), "cart_total": cart.subtotal},
        fail_silently=True,
    )


def order_properties(order: Order, lines: Iterable[Any] | None = None) -> dict[str, Any]:
    """The order_placed properties for an order (the demo loader uses this too)."""
    items = []
    for line in order.lines.select_related("product") if lines is None else lines:
        product = line.product
        items.append(
            item_properties(
                product_id=line.product_id or line.sku,
                name=line.name,
                quantity=line.quantity,
                price=line.unit_price,
                category=line.category,
                url=(product.get_full_url() or "") if product is not None else "",
            )
        )
    properties: dict[str, Any] = {
        "order_id": order.number,
        "items": items,
        "total": order.total,
    }
    if order.shipping:
        properties["shipping"] = order.shipping
    return properties


def record_order(
    order: Order,
    request: HttpRequest,
    *,
    marketing_consent: bool,
    first_order: bool,
    time_zone: str = "",
    locale: str = "",
) -> None:
    """Identify the buyer and log the order. Call inside the order's transaction.

    The order row and its event then commit together: the log never shows an order
    that was rolled back, and no crash between the two can lose the event. Each call
    runs in its own savepoint, so a refused contact or event never costs the order.
    """
    user = getattr(request, "user", None)
    same_person = (
        user is not None
        and user.is_authenticated
        and (user.email or "").strip().lower() == order.email.strip().lower()
    )
    try:
        with transaction.atomic():
            identify(
                order.email,
                request=request,
                # Link the account only when the buyer used its address; a gift bought
                # for someone else must not move the account onto their contact.
                user=user if same_person else None,
                first_name=order.first_name or None,
                last_name=order.last_name or None,
                time_zone=time_zone or None,
                locale=locale or None,
                customer_since=timezone.localdate(order.created_at) if first_order else None,
                source="checkout",
                consent="subscribed" if marketing_consent else None,
                consent_source="checkout" if marketing_consent else None,
            )
    except Exception:
        logger.exception("Could not identify the buyer of order %s", order.number)
    track(
        "order_placed",
        email=order.email,
        value=order.total,
        currency=order.currency,
        properties=order_properties(order),
        occurred_at=order.created_at,
        dedup_key=order_dedup_key(order.number),
        fail_silently=True,
    )
