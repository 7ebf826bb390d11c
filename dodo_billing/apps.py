from django.apps import AppConfig


class DodoBillingConfig(AppConfig):
    name = "dodo_billing"
    verbose_name = "Businesses and API keys"

    def ready(self):
        from dodo_billing import checks  # noqa: F401  (registers system checks)
