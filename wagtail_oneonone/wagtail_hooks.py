"""Wagtail hooks: page-view recording and the admin (menu, viewsets)."""

from __future__ import annotations

from typing import Any

from wagtail import hooks

from .pageviews import record_page_view, should_record


# A positive order runs inside Wagtail's own view-restriction check, so visitors who only
# get a password or login form are not counted.
@hooks.register("on_serve_page", order=100)
def track_page_views(next_serve: Any) -> Any:
    def serve(page: Any, request: Any, args: Any, kwargs: Any) -> Any:
        response = next_serve(page, request, args, kwargs)
        if should_record(request, response):
            record_page_view(page, request)
        return response

    return serve
