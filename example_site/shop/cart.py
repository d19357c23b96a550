"""The session cart (product id → quantity) and the shop's shipping rule."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any

from .models import ProductPage

SESSION_KEY = "shop_cart"
CURRENCY = "GBP"
MAX_QUANTITY = 99
FREE_SHIPPING_FROM = Decimal("50.00")
SHIPPING_FEE = Decimal("4.95")


def shipping_for(subtotal: Decimal) -> Decimal:
    """Flat-rate shipping, free from £50."""
    if subtotal <= 0 or subtotal >= FREE_SHIPPING_FROM:
        return Decimal("0.00")
    return SHIPPING_FEE


@dataclass(frozen=True)
class CartLine:
    product: ProductPage
    quantity: int

    @property
    def line_total(self) -> Decimal:
        return self.product.price * self.quantity


class Cart:
    """A cart kept in the session; only live products count."""

    def __init__(self, session: Any) -> None:
        self.session = session
        raw = session.get(SESSION_KEY) or {}
        self._quantities: dict[int, int] = {}
        for key, value in raw.items():
            try:
                self._quantities[int(key)] = max(0, min(MAX_QUANTITY, int(value)))
            except (TypeError, ValueError):
                continue  # a tampered or outdated session entry is simply dropped

    def quantity_of(self, product_id: int) -> int:
        return self._quantities.get(product_id, 0)

    def set(self, product_id: int, quantity: int) -> None:
        quantity = max(0, min(MAX_QUANTITY, quantity))
        if quantity:
            self._quantities[product_id] = quantity
        else:
            self._quantities.pop(product_id, None)
        self._save()

    def add(self, product_id: int, quantity: int = 1) -> None:
        self.set(product_id, self.quantity_of(product_id) + quantity)

    def clear(self) -> None:
        self._quantities.clear()
        self._save()

    def _save(self) -> None:
        self.session[SESSION_KEY] = {str(pk): qty for pk, qty in self._quantities.items()}
        self.session.modified = True
        self.__dict__.pop("lines", None)

    @cached_property
    def lines(self) -> list[CartLine]:
        if not self._quantities:
            return []
        products = ProductPage.objects.live().filter(pk__in=self._quantities)
        by_id = {product.pk: product for product in products.select_related("image")}
        return [CartLine(by_id[pk], qty) for pk, qty in self._quantities.items() if pk in by_id]

    @property
    def subtotal(self) -> Decimal:
        return sum((line.line_total for line in self.lines), Decimal("0.00"))

    @property
    def shipping(self) -> Decimal:
        return shipping_for(self.subtotal)

    @property
    def total(self) -> Decimal:
        return self.subtotal + self.shipping

    @property
    def count(self) -> int:
        return sum(line.quantity for line in self.lines)

    def __bool__(self) -> bool:
        return bool(self.lines)
