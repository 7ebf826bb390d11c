from django.urls import path

from wallets.api import views

urlpatterns = [
    path("customers/<str:customer_id>/wallets", views.WalletListView.as_view(), name="api-wallets"),
    path(
        "customers/<str:customer_id>/wallets/ledger-entries",
        views.LedgerEntryListCreateView.as_view(),
        name="api-wallet-ledger-entries",
    ),
]
