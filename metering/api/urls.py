from django.urls import path

from metering.api import views

urlpatterns = [
    path("events/ingest", views.EventIngestView.as_view(), name="api-events-ingest"),
    path("events", views.EventListView.as_view(), name="api-events"),
    path("events/<path:event_id>", views.EventDetailView.as_view(), name="api-event"),
    path("meters", views.MeterListCreateView.as_view(), name="api-meters"),
    path("meters/<str:meter_id>", views.MeterDetailView.as_view(), name="api-meter"),
    path("meters/<str:meter_id>/unarchive", views.MeterUnarchiveView.as_view(), name="api-meter-unarchive"),
]
