from django.apps import AppConfig


class DodoBillingConfig(AppConfig):
    name = "dodo_billing"
    verbose_name = "Businesses and API keys"

    def ready(self):
        from django.contrib import admin

        from dodo_billing import checks  # noqa: F401  (registers system checks)
        from dodo_billing.api import schema  # noqa: F401  (registers OpenAPI extensions)
        from dodo_billing.email import receivers as email_receivers  # noqa: F401  (receipts)
        from dodo_billing.forms import admin_reads_json_safely
        from dodo_billing.observability import logs, receivers  # noqa: F401  (request ids in tasks; counters)

        # django.contrib.admin comes first in INSTALLED_APPS: every model admin is registered now.
        admin_reads_json_safely(admin.site)
