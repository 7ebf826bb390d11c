"""OpenAPI extensions: describe our bearer-key auth to drf-spectacular."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "dodo_billing.api.auth.ApiKeyAuthentication"
    name = "API_KEY"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key: `Authorization: Bearer dbk_…`",
        }
