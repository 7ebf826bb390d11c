from django.urls import path

import metering.api.catalog as catalog
from metering.api import payments, views

urlpatterns = [
    path("events/ingest", views.EventIngestView.as_view(), name="api-events-ingest"),
    path("events", views.EventListView.as_view(), name="api-events"),
    path("events/<path:event_id>", views.EventDetailView.as_view(), name="api-event"),
    path("meters", views.MeterListCreateView.as_view(), name="api-meters"),
    path("meters/<str:meter_id>", views.MeterDetailView.as_view(), name="api-meter"),
    path("meters/<str:meter_id>/unarchive", views.MeterUnarchiveView.as_view(), name="api-meter-unarchive"),
    path("payments", payments.PaymentListCreateView.as_view(), name="api-payments"),
    path("payments/<str:payment_id>", payments.PaymentDetailView.as_view(), name="api-payment"),
    path(
        "payments/<str:payment_id>/line-items",
        payments.PaymentLineItemsView.as_view(),
        name="api-payment-line-items",
    ),
    path("payments/<str:payment_id>/retry", payments.PaymentRetryView.as_view(), name="api-payment-retry"),
    path(
        "payments/<str:payment_id>/mark-paid",
        payments.PaymentMarkPaidView.as_view(),
        name="api-payment-mark-paid",
    ),
    path("refunds", payments.RefundListCreateView.as_view(), name="api-refunds"),
    path("refunds/<str:refund_id>", payments.RefundDetailView.as_view(), name="api-refund"),
    path(
        "invoices/payments/<str:payment_id>",
        payments.InvoicePaymentPDFView.as_view(),
        name="api-invoice-payment",
    ),
    path("products", catalog.ProductListCreateView.as_view(), name="api-products"),
    path("products/<str:product_id>", catalog.ProductDetailView.as_view(), name="api-product"),
    path(
        "products/<str:product_id>/unarchive",
        catalog.ProductUnarchiveView.as_view(),
        name="api-product-unarchive",
    ),
    path("subscriptions", catalog.SubscriptionListCreateView.as_view(), name="api-subscriptions"),
    path(
        "subscriptions/<str:subscription_id>",
        catalog.SubscriptionDetailView.as_view(),
        name="api-subscription",
    ),
    path(
        "subscriptions/<str:subscription_id>/usage-history",
        catalog.SubscriptionUsageHistoryView.as_view(),
        name="api-subscription-usage-history",
    ),
    path(
        "customers/<str:customer_id>/payment-methods",
        catalog.CustomerPaymentMethodsView.as_view(),
        name="api-customer-payment-methods",
    ),
]
