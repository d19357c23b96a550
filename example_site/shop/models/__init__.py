from .orders import Order, OrderLine
from .pages import Category, HomePage, ProductIndexPage, ProductPage

__all__ = ["Category", "HomePage", "Order", "OrderLine", "ProductIndexPage", "ProductPage"]
