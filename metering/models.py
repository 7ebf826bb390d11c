"""Usage events, meters, products, subscriptions, payments and invoices (not built yet)."""
