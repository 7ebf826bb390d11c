"""Operating the product: health endpoints, Prometheus metrics, structured logs with request ids,
error reporting. docs/operations.md describes what each one shows and its settings."""
