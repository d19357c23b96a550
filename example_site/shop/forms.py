"""Checkout and sign-up forms."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm

from .cart import MAX_QUANTITY

_LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$")
CONSENT_LABEL = "Email me offers and news. I can unsubscribe at any time."


def _clean_address(value: str) -> str:
    value = value.strip()
    # RFC 5321 limits the local part to 64 characters; Django's validator does not.
    if len(value.rpartition("@")[0]) > 64:
        raise forms.ValidationError("That address is too long to deliver to.")
    return value


class BrowserProfileForm(forms.Form):
    """Time zone and language the browser reports (filled in by a line of JavaScript)."""

    time_zone = forms.CharField(required=False, widget=forms.HiddenInput, max_length=64)
    locale = forms.CharField(required=False, widget=forms.HiddenInput, max_length=35)

    def clean_time_zone(self) -> str:
        value = self.cleaned_data.get("time_zone", "")
        # Silently ignored when odd: it is a nicety, not something to make a shopper fix.
        return value if value in available_timezones() else ""

    def clean_locale(self) -> str:
        value = self.cleaned_data.get("locale", "")
        return value if _LOCALE.match(value or "") else ""


class AddToCartForm(forms.Form):
    product_id = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    quantity = forms.IntegerField(min_value=1, max_value=MAX_QUANTITY, initial=1)


class UpdateCartForm(forms.Form):
    product_id = forms.IntegerField(min_value=1)
    quantity = forms.IntegerField(min_value=0, max_value=MAX_QUANTITY, required=False)


class CheckoutForm(BrowserProfileForm):
    email = forms.EmailField(max_length=254)
    first_name = forms.CharField(max_length=150)
    last_name = forms.CharField(max_length=150, required=False)
    marketing_consent = forms.BooleanField(required=False, label=CONSENT_LABEL)

    def clean_email(self) -> str:
        return _clean_address(self.cleaned_data["email"])


class NewsletterForm(forms.Form):
    email = forms.EmailField(max_length=254, label="Your email")

    def clean_email(self) -> str:
        return _clean_address(self.cleaned_data["email"])


class EmailLoginForm(AuthenticationForm):
    """Customers' usernames are their (lower-case) addresses; accept any casing."""

    def clean_username(self) -> str:
        return (self.cleaned_data.get("username") or "").strip().lower()


class SignUpForm(BrowserProfileForm, UserCreationForm):
    """A customer account whose username is the email address."""

    email = forms.EmailField(max_length=150)
    first_name = forms.CharField(max_length=150)
    marketing_consent = forms.BooleanField(required=False, label=CONSENT_LABEL)

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("email", "first_name")

    def clean_email(self) -> str:
        email = _clean_address(self.cleaned_data["email"]).lower()
        users = get_user_model().objects
        if (
            users.filter(email__iexact=email).exists()
            or users.filter(username__iexact=email).exists()
        ):
            raise forms.ValidationError("An account with this address already exists.")
        return email

    def save(self, commit: bool = True) -> Any:
        user = super().save(commit=False)
        user.username = user.email = self.cleaned_data["email"]
        user.first_name = self.cleaned_data["first_name"]
        if commit:
            user.save()
        return user
