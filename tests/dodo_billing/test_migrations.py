"""Migrations match the models, and the currency list is not part of any schema."""

from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from dodo_billing.money import CURRENCIES, CurrencyField

pytestmark = pytest.mark.django_db


def test_the_models_need_no_new_migration():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=StringIO())
    assert "No changes detected" in out.getvalue()


def test_a_currency_field_records_no_choices():
    """Adding or removing a currency changes no migration: the field deconstructs the same."""
    _, path, args, kwargs = CurrencyField().deconstruct()
    assert (path, args, kwargs) == ("dodo_billing.money.CurrencyField", [], {})
    assert CurrencyField(choices=[("XTS", "XTS")]).deconstruct()[1:] == (path, args, kwargs)
    assert CurrencyField(primary_key=True).deconstruct()[3] == {"primary_key": True}
    field = CurrencyField()
    assert [code for code, _ in field.choices] == list(CURRENCIES)  # forms still offer the list


def test_no_migration_spells_the_currency_list_out():
    root = Path(settings.BASE_DIR)
    for migration in root.glob("*/migrations/0*.py"):
        assert '("AED", "AED")' not in migration.read_text(), migration
