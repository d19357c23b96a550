from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from wagtail_oneonone.models import Contact, Event


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Any) -> Any:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    # Staff logging in to the admin would otherwise become contacts of their own.
    settings.WAGTAIL_ONEONONE = {"MERGE_ON_LOGIN": False}
    return tmp_path / "media"


@pytest.fixture
def make_user(db: None) -> Callable[..., Any]:
    """A Wagtail admin user holding the given ``app_label.codename`` permissions."""

    def make(username: str, *perms: str) -> Any:
        user = get_user_model().objects.create_user(
            username=username, email=f"{username}@staff.example", password="pw"
        )
        for perm in ("wagtailadmin.access_admin", *perms):
            app_label, codename = perm.split(".")
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        return get_user_model().objects.get(pk=user.pk)  # fresh permission cache

    return make


@pytest.fixture
def client_for(make_user: Callable[..., Any]) -> Callable[..., Client]:
    def make(username: str, *perms: str) -> Client:
        client = Client()
        client.force_login(make_user(username, *perms))
        return client

    return make


@pytest.fixture
def contact(db: None) -> Contact:
    return Contact.objects.create(
        email="ada@example.com",
        first_name="Ada",
        last_name="Lovelace",
        time_zone="Europe/Paris",
        attributes={"shoe_size": 38, "vip": True},
    )


@pytest.fixture
def make_event() -> Callable[..., Event]:
    def make(contact: Contact, type: str, minutes_ago: int = 0, **kwargs: Any) -> Event:
        return Event.objects.create(
            contact=contact,
            type=type,
            occurred_at=timezone.now() - dt.timedelta(minutes=minutes_ago),
            **kwargs,
        )

    return make


@pytest.fixture
def timeline(contact: Contact, make_event: Callable[..., Event]) -> list[Event]:
    return [
        make_event(
            contact,
            "product_viewed",
            minutes_ago=30,
            properties={"product_id": "p1", "name": "Blue Mug", "url": "https://shop.example/mug"},
        ),
        make_event(
            contact,
            "order_placed",
            minutes_ago=10,
            value=Decimal("24.50"),
            currency="GBP",
            properties={
                "order_id": "ORD-77",
                "total": 24.5,
                "items": [
                    {"product_id": "p1", "name": "Blue Mug", "quantity": 2},
                    {"product_id": "p2", "name": "Tea", "quantity": 1},
                ],
            },
        ),
    ]
