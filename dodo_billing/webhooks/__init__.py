"""Outbound webhooks, split by responsibility (docs/webhooks.md has the merchant's view):

* ``endpoints``: the endpoint services and selectors (register, list, update, delete, headers, a
  test event) that the API and admin call.
* ``outbox``: ``webhook_event_emit`` and the transaction-scoped cache of a business's enabled
  endpoints; events and deliveries written with the change, their tasks enqueued after commit.
* ``delivery``: one attempt of a delivery (claim, sign, POST through the egress checks, record),
  the retry policy with its backoff, and the selection of deliveries the sweep re-enqueues.
* ``tasks``: the Celery tasks ``deliver_webhook`` and ``sweep_webhook_deliveries``.

Flow:

1. A service that changes something calls ``outbox.webhook_event_emit`` inside its own
   transaction. When an enabled endpoint of the business wants the event type, one WebhookEvent
   row (the exact JSON body to send) and one WebhookDelivery per such endpoint are written in that
   transaction, and ``transaction.on_commit`` enqueues one ``deliver_webhook`` task per delivery.
   A rollback leaves nothing behind and sends nothing.
2. ``deliver_webhook`` claims the delivery (``delivery.webhook_delivery_claim``: row lock, due
   check, a lease, an attempt row), POSTs outside any transaction, then records the outcome
   (``delivery.webhook_delivery_record``): 2xx → succeeded; otherwise the next attempt is scheduled
   with exponential backoff, and after the last retry the delivery is failed.
3. Every 30 s ``sweep_webhook_deliveries`` re-enqueues deliveries that are due but have no task in
   flight: long backoffs, tasks lost with a broker or a killed worker (the lease runs out).

Imports go one way: endpoints → outbox → tasks → delivery. This package's ``__init__`` imports
nothing; callers import the module they need.
"""
