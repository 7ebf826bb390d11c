"""The Celery app: configured from Django settings (``CELERY_*``), tasks found in each app."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dodo_billing.settings")

app = Celery("dodo_billing")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
