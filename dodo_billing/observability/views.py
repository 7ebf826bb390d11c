"""``/metrics``: Prometheus text format, for a bearer METRICS_TOKEN or an OPS_INTERNAL_NETWORKS
address."""

import os

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from dodo_billing.observability import access
from dodo_billing.observability.collectors import ScrapeTimeCollector


class _ThisProcess:
    """The default registry's metrics (one process: runserver, tests)."""

    def collect(self):
        yield from REGISTRY.collect()


def scrape_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # every process's files, summed
    else:
        registry.register(_ThisProcess())
    registry.register(ScrapeTimeCollector())
    return registry


@require_GET
def metrics(request):
    if not access.allowed(request, settings.METRICS_TOKEN):
        response = JsonResponse(
            {"code": "FORBIDDEN", "message": "Metrics need 'Authorization: Bearer <METRICS_TOKEN>'."},
            status=403,
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)
