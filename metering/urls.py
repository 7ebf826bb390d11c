"""Dashboard pages of the metering app (mounted at the site root by dodo_billing.urls)."""

from metering.views import billing, meters

app_name = "metering"

urlpatterns = [*billing.urlpatterns, *meters.urlpatterns]
