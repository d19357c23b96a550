"""Middleware that carries the anonymous visitor id and identified contact in cookies."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .visitors import apply_cookies


class VisitorMiddleware:
    """Sets the first-party cookies that ``track()`` and ``identify()`` asked for.

    Reading happens lazily in ``track()``; a request that tracks nothing costs nothing.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        apply_cookies(request, response)
        return response
