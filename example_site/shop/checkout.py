"""Placing an order: the one use case both the checkout view and tests call."""

from __future__ import annotations

import secrets

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from .cart import CURRENCY, Cart
from .models import Order, OrderLine
from .tracking import record_order

ORDERS_SESSION_KEY = "shop_orders"
# No 0/O or 1/I: order numbers get read out over the phone.
_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


class EmptyCartError(Exception):
    """Checkout was submitted with nothing (live) in the cart."""


def new_order_number() -> str:
    """e.g. ``W250614-7KQ3F``; the demo loader's orders start with ``D`` instead."""
    suffix = "".join(secrets.choice(_ALPHABET) for _ in range(5))
    return f"W{timezone.localdate():%y%m%d}-{suffix}"


def place_order(
    request: HttpRequest,
    cart: Cart,
    *,
    email: str,
    first_name: str,
    last_name: str = "",
    marketing_consent: bool = False,
    time_zone: str = "",
    locale: str = "",
) -> Order:
    """Turn the cart into an order, record it with the buyer, and empty the cart."""
    lines = cart.lines
    if not lines:
        raise EmptyCartError
    user = request.user if request.user.is_authenticated else None
    with transaction.atomic():
        first_order = not Order.objects.filter(email__iexact=email).exists()
        order = _create_order(
            user=user,
            email=email,
            first_name=first_name,
            last_name=last_name,
            subtotal=cart.subtotal,
            shipping=cart.shipping,
            total=cart.total,
            currency=CURRENCY,
        )
        OrderLine.objects.bulk_create(
            OrderLine(
                order=order,
                product=line.product,
                name=line.product.title,
                sku=line.product.sku,
                category=line.product.category,
                quantity=line.quantity,
                unit_price=line.product.price,
            )
            for line in lines
        )
        record_order(
            order,
            request,
            marketing_consent=marketing_consent,
            first_order=first_order,
            time_zone=time_zone,
            locale=locale,
        )
    cart.clear()
    placed = request.session.get(ORDERS_SESSION_KEY, [])
    request.session[ORDERS_SESSION_KEY] = [*placed[-19:], order.number]
    return order


def _create_order(**fields: object) -> Order:
    for _attempt in range(5):
        try:
            with transaction.atomic():
                return Order.objects.create(number=new_order_number(), **fields)
        except IntegrityError:
            continue  # the random number was taken; draw another
    raise RuntimeError("could not allocate a unique order number")


def can_view_order(request: HttpRequest, order: Order) -> bool:
    """Buyers see their own confirmations: placed in this session, or on their account."""
    if order.number in request.session.get(ORDERS_SESSION_KEY, []):
        return True
    user = request.user
    return bool(user.is_authenticated and (user.is_staff or order.user_id == user.pk))
