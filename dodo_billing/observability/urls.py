from django.urls import path

from dodo_billing.observability import health, views

urlpatterns = [
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("metrics", views.metrics, name="metrics"),
]
