"""Signals of the shared infrastructure, so that side concerns (metrics, emails) can follow domain
events without the services that record them importing those concerns."""

from django.dispatch import Signal

# Sent by ``webhook_event_emit`` for every event a service records (webhook endpoints or not),
# inside the service's transaction: keyword arguments ``business`` (a Business or its id),
# ``event_type`` and ``data`` (the payload, or a zero-argument callable that builds it).
# Receivers defer what they do with ``transaction.on_commit``, so a rollback leaves no trace.
event_recorded = Signal(use_caching=True)
