"""OpenAPI extensions: our bearer-key auth, and list answers described as ``{"items": [...]}``."""

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


def wrap_list_responses(result, generator, request, public):
    """Postprocessing hook: a GET whose 200 answer is declared as an array of objects is a paged
    list, which the API answers as ``{"items": [...]}`` (dodo_billing.api.pagination)."""
    for item in result.get("paths", {}).values():
        operation = item.get("get") or {}
        content = operation.get("responses", {}).get("200", {}).get("content", {}).get("application/json")
        if content and content.get("schema", {}).get("type") == "array":
            content["schema"] = {
                "type": "object",
                "properties": {"items": content["schema"]},
                "required": ["items"],
            }
    return result
