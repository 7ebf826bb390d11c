"""Dashboard pages of the wallets app (mounted at the site root by dodo_billing.urls)."""

from django.urls import path

from wallets import views

app_name = "wallets"

urlpatterns = [
    path("customers/<str:customer_id>/wallet", views.CustomerLedgerView.as_view(), name="customer-ledger"),
]
