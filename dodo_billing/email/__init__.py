"""Emails to customers: portal links and receipts (payment succeeded with the invoice PDF, payment
failed, balance low), branded per business and sent by a Celery task with a timeout and retries.
docs/email.md describes them."""
