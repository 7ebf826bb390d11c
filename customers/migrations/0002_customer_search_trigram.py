"""Trigram indexes for the dashboard's customer search (a fragment of a name or an email, any
case) on PostgreSQL; SQLite scans, which is fine at its scale."""

from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS customer_name_trgm ON customers_customer USING gin (name gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS customer_email_trgm ON customers_customer USING gin (email gin_trgm_ops)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS customer_email_trgm",
    "DROP INDEX IF EXISTS customer_name_trgm",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("customers", "0001_initial")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
