"""The shop's Wagtail pages: a home page, a product listing and products."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.http import HttpRequest, HttpResponse
from wagtail.admin.panels import FieldPanel, MultiFieldPanel
from wagtail.fields import RichTextField
from wagtail.models import Page
from wagtail.search import index


class Category(models.TextChoices):
    SHOES = "shoes", "Shoes"
    JACKETS = "jackets", "Jackets"
    KNITWEAR = "knitwear", "Knitwear"
    BAGS = "bags", "Bags"
    ACCESSORIES = "accessories", "Accessories"
    HOME = "home", "Home"


class HomePage(Page):
    intro = models.CharField(max_length=300, blank=True)

    content_panels = [*Page.content_panels, FieldPanel("intro")]
    subpage_types = ["shop.ProductIndexPage"]
    max_count = 1

    def get_context(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context(request, *args, **kwargs)
        products = ProductPage.objects.live().descendant_of(self).select_related("image")
        by_category: dict[str, list[ProductPage]] = {}
        for product in products.order_by("title"):
            by_category.setdefault(product.category, []).append(product)
        context["categories"] = [
            {"value": value, "label": label, "products": by_category[value][:4]}
            for value, label in Category.choices
            if value in by_category
        ]
        context["product_index"] = ProductIndexPage.objects.live().descendant_of(self).first()
        return context


class ProductIndexPage(Page):
    intro = models.CharField(max_length=300, blank=True)

    content_panels = [*Page.content_panels, FieldPanel("intro")]
    parent_page_types = ["shop.HomePage"]
    subpage_types = ["shop.ProductPage"]

    def get_context(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context(request, *args, **kwargs)
        products = ProductPage.objects.live().child_of(self).select_related("image")
        category = request.GET.get("category", "")
        if category in Category.values:
            products = products.filter(category=category)
        else:
            category = ""
        context["products"] = products.order_by("category", "title")
        context["categories"] = Category.choices
        context["current_category"] = category
        return context


class ProductPage(Page):
    sku = models.CharField("SKU", max_length=40, blank=True)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    category = models.CharField(max_length=30, choices=Category.choices)
    short_description = models.CharField(max_length=300, blank=True)
    body = RichTextField(blank=True)
    image = models.ForeignKey(
        "wagtailimages.Image", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    content_panels = [
        *Page.content_panels,
        MultiFieldPanel(
            [FieldPanel("sku"), FieldPanel("price"), FieldPanel("category")], heading="Product"
        ),
        FieldPanel("short_description"),
        FieldPanel("image"),
        FieldPanel("body"),
    ]
    search_fields = [
        *Page.search_fields,
        index.SearchField("short_description"),
        index.FilterField("category"),
    ]
    parent_page_types = ["shop.ProductIndexPage"]
    subpage_types: list[str] = []

    def serve(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().serve(request, *args, **kwargs)
        # Wagtail calls serve() only after view restrictions passed and never for
        # previews, so this counts what shoppers actually saw.
        if request.method == "GET" and response.status_code == 200:
            from ..tracking import track_product_view

            track_product_view(self, request)
        return response

    def get_context(self, request: HttpRequest, *args: Any, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context(request, *args, **kwargs)
        context["related_products"] = (
            ProductPage.objects.live()
            .filter(category=self.category)
            .exclude(pk=self.pk)
            .select_related("image")
            .order_by("title")[:4]
        )
        return context
