from django.urls import path

from portal import views

app_name = "portal"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("open/<str:token>", views.open_link, name="open"),
    path("sign-out", views.sign_out, name="sign-out"),
    path("signed-out", views.signed_out, name="signed-out"),
    path("billing", views.billing, name="billing"),
    path("billing/<str:payment_id>/invoice.pdf", views.invoice_pdf, name="invoice-pdf"),
    path("subscriptions", views.subscriptions, name="subscriptions"),
    path("subscriptions/<str:subscription_id>", views.subscription_detail, name="subscription-detail"),
    path(
        "subscriptions/<str:subscription_id>/cancel",
        views.subscription_cancel_view,
        name="subscription-cancel",
    ),
    path("license-keys", views.license_keys, name="license-keys"),
    path("license-keys/<str:license_key_id>", views.license_key_detail, name="license-key-detail"),
    path("wallet", views.wallet, name="wallet"),
    path("profile", views.profile, name="profile"),
    path("invite/<str:customer_id>", views.invite, name="invite"),
]
