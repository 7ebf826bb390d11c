from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from dodo_billing import views

urlpatterns = [
    path("api/", include("dodo_billing.api.urls")),
    path("", include("dodo_billing.observability.urls")),
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("preferences/tables/<str:table_name>", views.table_config, name="table-config"),
    path("portal/", include("portal.urls")),
    path("", views.home, name="home"),
    path("", include("customers.urls")),
    path("", include("wallets.urls")),
    path("", include("metering.urls")),
]
