"""The Celery app: configured from Django settings (``CELERY_*``), tasks found in each app.

Database connections in a worker follow the same rules as in a web request: Django's
``close_old_connections`` runs before and after every task, so a connection is reused for
``CONN_MAX_AGE`` seconds, health-checked before a task's first query (``CONN_HEALTH_CHECKS``) and
dropped after an error that left it unusable. Celery's own Django fixup would instead close every
connection after every task (Celery ≥ 5.6), so each task would pay a new PostgreSQL connection;
``CELERY_DB_REUSE_MAX`` in the settings turns that off (see there).
"""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dodo_billing.settings")

app = Celery("dodo_billing")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(
    ["dodo_billing.observability", "dodo_billing.email", "dodo_billing.retention", "dodo_billing.webhooks"]
)


@task_prerun.connect
@task_postrun.connect
def close_old_connections(**kwargs) -> None:
    """Django's per-request connection upkeep, per task (not for tasks run eagerly, in-process)."""
    task = kwargs.get("task")
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections as django_close_old_connections

    django_close_old_connections()
