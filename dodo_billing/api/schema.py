"""OpenAPI extensions: our bearer-key auth, list answers described as ``{"items": [...]}``, and the
422 that any query parameter may cause."""

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


def document_query_parameter_errors(result, generator, request, public):
    """Postprocessing hook: every operation that takes query parameters may answer 422
    ``INVALID_QUERY_PARAMS`` (``BusinessAPIView`` refuses a NUL byte in any of them)."""
    error = {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        "description": "",
    }
    for item in result.get("paths", {}).values():
        for operation in item.values():
            if any(parameter.get("in") == "query" for parameter in operation.get("parameters", [])):
                operation.setdefault("responses", {}).setdefault("422", error)
    return result
