from decimal import Decimal

from django.db import migrations

# Starting values only; operators keep them current in admin (Exchange rates).
DEFAULT_RATES = {"USD": Decimal("1"), "INR": Decimal("0.0114")}


def add_rates(apps, schema_editor):
    ExchangeRate = apps.get_model("dodo_billing", "ExchangeRate")
    for currency, rate in DEFAULT_RATES.items():
        ExchangeRate.objects.get_or_create(currency=currency, defaults={"usd_per_unit": rate})


class Migration(migrations.Migration):
    dependencies = [("dodo_billing", "0001_initial")]

    operations = [migrations.RunPython(add_rates, migrations.RunPython.noop)]
