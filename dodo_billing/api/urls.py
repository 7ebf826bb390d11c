"""All REST API routes, mounted at ``/api/``. No trailing slashes, no redirects."""

from csp.decorators import csp_exempt
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from dodo_billing.api.views import api_not_found

urlpatterns = [
    path(
        "schema",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]),
        name="api-schema",
    ),
    path(
        "docs",
        # Swagger UI and ReDoc start with inline scripts: no Content-Security-Policy on them.
        csp_exempt()(
            SpectacularSwaggerView.as_view(
                url_name="api-schema", authentication_classes=[], permission_classes=[]
            )
        ),
        name="api-docs",
    ),
    path(
        "redoc",
        csp_exempt()(
            SpectacularRedocView.as_view(
                url_name="api-schema", authentication_classes=[], permission_classes=[]
            )
        ),
        name="api-redoc",
    ),
    path("", include("customers.api.urls")),
    path("", include("wallets.api.urls")),
    path("", include("metering.api.urls")),
    path("", include("dodo_billing.api.webhooks")),
    # Not ".*": a path holding a newline (%0A) must reach the JSON 404 too, not the HTML one.
    re_path(r"^[\s\S]*$", api_not_found, name="api-not-found"),
]
