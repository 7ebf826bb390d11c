from django.urls import path

from customers.api import views

urlpatterns = [
    path("customers", views.CustomerListCreateView.as_view(), name="api-customers"),
    path("customers/<str:customer_id>", views.CustomerDetailView.as_view(), name="api-customer"),
    path(
        "customers/<str:customer_id>/customer-portal/session",
        views.CustomerPortalSessionView.as_view(),
        name="api-customer-portal-session",
    ),
]
