"""Answers a plain ``OPTIONS`` on an API route with 204 and the route's methods in ``Allow``, before
authentication. CORS preflights (``OPTIONS`` with ``Access-Control-Request-Method``) never get here:
django-cors-headers answers them first, with the origin policy of the ``CORS_*`` settings."""

from django.http import HttpResponse
from django.urls import Resolver404, resolve

ALLOWED_METHODS = "GET, POST, PATCH, PUT, DELETE, OPTIONS"


def _methods(view) -> str:
    """The methods the route's view implements (``Allow`` must list exactly those)."""
    view_class = getattr(view, "cls", None) or getattr(view, "view_class", None)
    if view_class is None:
        return ALLOWED_METHODS
    names = [name for name in view_class.http_method_names if name != "options" and hasattr(view_class, name)]
    return ", ".join([*(name.upper() for name in names), "OPTIONS"])


class ApiOptionsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "OPTIONS" and request.path.startswith("/api/"):
            try:
                match = resolve(request.path_info)
            except Resolver404:
                match = None
            if match is not None and match.url_name != "api-not-found":
                response = HttpResponse(status=204)
                response["Allow"] = _methods(match.func)
                return response
        return self.get_response(request)
