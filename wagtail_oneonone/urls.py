"""Public URLs reached from email; include them with ``path("email/", include(...))``."""

from django.urls import path

from .tracking import views

app_name = "wagtail_oneonone"

urlpatterns = [
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("preferences/<str:token>/", views.preferences, name="preferences"),
]
