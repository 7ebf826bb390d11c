"""Dashboard pages of the metering app: billing pages (payments, subscriptions, the customer
detail tabs for them) in ``billing``, meters and events in ``meters``."""
