"""Cart, checkout and account views; thin, the work is in cart, checkout and tracking."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from wagtail_oneonone import identify, signals, track
from wagtail_oneonone.exceptions import OneOnOneError

from .cart import Cart
from .checkout import EmptyCartError, can_view_order, place_order
from .forms import AddToCartForm, CheckoutForm, NewsletterForm, SignUpForm, UpdateCartForm
from .models import Order, ProductPage
from .tracking import track_cart_change, track_checkout_started

logger = logging.getLogger(__name__)


def cart_detail(request: HttpRequest) -> HttpResponse:
    return render(request, "shop/cart.html", {"cart": Cart(request.session)})


@require_POST
def cart_add(request: HttpRequest) -> HttpResponse:
    form = AddToCartForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Please choose a quantity between 1 and 99.")
        return redirect("shop:cart")
    product = get_object_or_404(ProductPage.objects.live(), pk=form.cleaned_data["product_id"])
    cart = Cart(request.session)
    cart.add(product.pk, form.cleaned_data["quantity"])
    track_cart_change(request, cart, "added", product.pk)
    messages.success(request, f"Added {product.title} to your cart.")
    return redirect("shop:cart")


@require_POST
def cart_update(request: HttpRequest) -> HttpResponse:
    form = UpdateCartForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Please enter a quantity between 0 and 99.")
        return redirect("shop:cart")
    cart = Cart(request.session)
    product_id = form.cleaned_data["product_id"]
    before = cart.quantity_of(product_id)
    quantity = 0 if "remove" in request.POST else form.cleaned_data["quantity"] or 0
    if quantity == before:
        return redirect("shop:cart")
    cart.set(product_id, quantity)
    track_cart_change(request, cart, "removed" if quantity == 0 else "changed", product_id)
    return redirect("shop:cart")


def checkout(request: HttpRequest) -> HttpResponse:
    cart = Cart(request.session)
    if not cart:
        messages.info(request, "Your cart is empty.")
        return redirect("shop:cart")
    if request.method == "POST":
        form = CheckoutForm(request.POST)
        if form.is_valid():
            try:
                order = place_order(request, cart, **form.cleaned_data)
            except EmptyCartError:
                return redirect("shop:cart")
            return redirect("shop:order_confirmation", number=order.number)
    else:
        user = request.user
        initial = (
            {"email": user.email, "first_name": user.first_name, "last_name": user.last_name}
            if user.is_authenticated
            else {}
        )
        form = CheckoutForm(initial=initial)
        track_checkout_started(request, cart)
    return render(request, "shop/checkout.html", {"cart": cart, "form": form})


def order_confirmation(request: HttpRequest, number: str) -> HttpResponse:
    order = get_object_or_404(Order, number=number)
    if not can_view_order(request, order):
        # 404 rather than 403: order numbers must not be probeable.
        return render(request, "shop/order_missing.html", status=404)
    return render(request, "shop/order_confirmation.html", {"order": order})


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("/")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        consent = form.cleaned_data["marketing_consent"]
        # The signal path, for code that would rather not import the app: the receivers
        # call identify() and track(). send_robust() keeps a refused contact from
        # breaking the sign-up.
        results = signals.identify_contact.send_robust(
            sender=SignUpForm,
            email=user.email,
            user=user,
            request=request,
            first_name=user.first_name,
            time_zone=form.cleaned_data["time_zone"] or None,
            locale=form.cleaned_data["locale"] or None,
            source="sign-up",
            consent="subscribed" if consent else None,
            consent_source="sign-up form" if consent else None,
        )
        _log_failures("identify_contact", results)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        signals.track_event.send(
            sender=SignUpForm,
            event_type="signed_up",
            user=user,
            properties={"source": "shop", "form": "sign-up"},
            fail_silently=True,
        )
        messages.success(request, f"Welcome, {user.first_name}! Your account is ready.")
        return redirect(_safe_next(request))
    return render(request, "shop/signup.html", {"form": form})


@require_POST
def newsletter(request: HttpRequest) -> HttpResponse:
    """The footer form: ticking nothing, the act of subscribing is the consent."""
    form = NewsletterForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Please enter a valid email address.")
        return redirect(_safe_referrer(request))
    email = form.cleaned_data["email"]
    try:
        identify(
            email,
            request=request,
            source="newsletter",
            consent="subscribed",
            consent_source="newsletter form",
        )
    except OneOnOneError as exc:
        logger.warning("Newsletter sign-up refused: %s", exc)
        messages.error(request, "Sorry, we could not sign up that address.")
        return redirect(_safe_referrer(request))
    track(
        "signed_up",
        email=email,
        properties={"source": "footer", "form": "newsletter"},
        fail_silently=True,
    )
    messages.success(request, "Thanks! You are on the list.")
    return redirect(_safe_referrer(request))


def _safe_referrer(request: HttpRequest) -> str:
    return _same_site(request, request.META.get("HTTP_REFERER", ""))


def _safe_next(request: HttpRequest) -> str:
    return _same_site(request, request.GET.get("next", ""))


def _same_site(request: HttpRequest, target: str) -> str:
    """``target`` if it stays on this site (no open redirects), else the home page."""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return "/"


def _log_failures(signal_name: str, results: Sequence[tuple[Any, Any]]) -> None:
    for receiver, outcome in results:
        if isinstance(outcome, Exception):
            logger.warning("%s receiver %r failed: %s", signal_name, receiver, outcome)
