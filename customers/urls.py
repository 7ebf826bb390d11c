"""Dashboard pages of the customers app (mounted at the site root by dodo_billing.urls)."""

from django.urls import path

from customers.views import customers, reports

app_name = "customers"

urlpatterns = [
    path("customers/", customers.CustomerListView.as_view(), name="list"),
    path("customers/new/", customers.customer_create_view, name="create"),
    path("customers/<str:customer_id>/", customers.customer_detail, name="detail"),
    path("customers/<str:customer_id>/edit/", customers.customer_edit_view, name="edit"),
    *reports.urlpatterns,
]
