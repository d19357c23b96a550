from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WagtailOneOnOneConfig(AppConfig):
    name = "wagtail_oneonone"
    label = "wagtail_oneonone"
    verbose_name = _("One-to-one email")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, receivers  # noqa: F401  (registers checks and receivers)

        receivers.connect()

        from .campaigns.content import register_campaign_sources
        from .flows.content import register_flow_sources

        register_campaign_sources()
        register_flow_sources()
