"""The product's own ledger keys get their own column, apart from the client's idempotency keys.

Before, payments and refunds wrote keys such as ``top-up:<payment id>`` into ``idempotency_key``,
the column a client's key also goes to, so a client could take one first (and the top-up then
answered 409 for ever). The entries the product wrote are moved: they are the ones whose event
type is a payment, refund or refund reversal (clients only write merchant adjustments) and whose
key is the product's form for the entry's own reference. On PostgreSQL the append-only trigger is
switched off for this one statement, inside the migration's transaction.
"""

from django.db import migrations, models
from django.db.models import F, Q, Value
from django.db.models.functions import Concat

TRIGGER = "wallets_ledgerentry_append_only"
SYSTEM_FORMS = [
    ("payment", "payment:"),
    ("payment", "top-up:"),
    ("refund", "refund:"),
    ("refund_reversal", "refund-failed:"),
]


def _system_made(field):
    condition = Q(pk__in=[])
    for event_type, prefix in SYSTEM_FORMS:
        condition |= Q(event_type=event_type, **{field: Concat(Value(prefix), F("reference_object_id"))})
    return condition


def _move(apps, schema_editor, *, source, target):
    LedgerEntry = apps.get_model("wallets", "LedgerEntry")
    entries = LedgerEntry.objects.using(schema_editor.connection.alias)
    postgresql = schema_editor.connection.vendor == "postgresql"
    if postgresql:
        schema_editor.execute(f"ALTER TABLE wallets_ledgerentry DISABLE TRIGGER {TRIGGER}")
    entries.filter(_system_made(source)).update(**{target: F(source), source: None})
    if postgresql:
        schema_editor.execute(f"ALTER TABLE wallets_ledgerentry ENABLE TRIGGER {TRIGGER}")


def forward(apps, schema_editor):
    _move(apps, schema_editor, source="idempotency_key", target="system_key")


def backward(apps, schema_editor):
    _move(apps, schema_editor, source="system_key", target="idempotency_key")


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0003_savedreport"),
        ("dodo_billing", "0006_user_preference"),
        ("wallets", "0003_wallet_low_balance_threshold"),
    ]

    operations = [
        migrations.AddField(
            model_name="ledgerentry",
            name="system_key",
            field=models.CharField(
                blank=True,
                editable=False,
                help_text="The product's own key (top-up:, payment:, refund:, refund-failed: and the object's id); "
                "no client input reaches it.",
                max_length=255,
                null=True,
            ),
        ),
        migrations.AlterField(
            model_name="ledgerentry",
            name="idempotency_key",
            field=models.CharField(
                blank=True, help_text="The client's key (API, dashboard).", max_length=255, null=True
            ),
        ),
        migrations.RunPython(forward, backward),
        migrations.AddConstraint(
            model_name="ledgerentry",
            constraint=models.UniqueConstraint(
                condition=models.Q(("system_key__isnull", False)),
                fields=("customer", "system_key"),
                name="ledgerentry_system_key_unique",
            ),
        ),
        migrations.AddConstraint(
            model_name="ledgerentry",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("idempotency_key__isnull", True), ("system_key__isnull", True), _connector="OR"
                ),
                name="ledgerentry_one_key_namespace",
            ),
        ),
    ]
