"""Request latency and status by route pattern (never the raw path: ids would explode the labels)."""

import time

from dodo_billing.observability import metrics

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_of(request) -> str:
    match = getattr(request, "resolver_match", None)
    return match.route if match is not None and match.route else "<unmatched>"


class MetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        route = route_of(request)
        method = request.method if request.method in METHODS else "other"
        metrics.HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)
        metrics.HTTP_REQUESTS.labels(method, route, str(response.status_code)).inc()
        return response
