from django.conf import settings
from django.urls import include, path
from wagtail import urls as wagtail_urls
from wagtail.admin import urls as wagtailadmin_urls

urlpatterns = [
    path("admin/", include(wagtailadmin_urls)),
    *([path("shop/", include("example_site.shop.urls"))] if settings.WITH_SHOP else []),
    path("email/", include("wagtail_oneonone.urls")),
    path("", include(wagtail_urls)),
]
