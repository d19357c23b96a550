"""Names of the admin log actions the app records (kept light: wagtail_hooks imports it)."""

EXPORT_LOG_ACTION = "wagtail_oneonone.export_contact"
