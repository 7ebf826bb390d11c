"""The contract's representations of wallets and ledger entries, used alike by the API's responses
and by the ``data`` of the wallet webhook events (docs/webhooks.md), so both always agree.

The API serializers of request bodies stay in ``wallets/api/serializers.py``; services build
webhook data with the functions here and never import the API.
"""

from rest_framework import serializers

from dodo_billing.money import CURRENCIES
from wallets.models import EventType, LedgerEntry


class CustomerWalletSerializer(serializers.Serializer):
    customer_id = serializers.CharField()
    currency = serializers.ChoiceField(choices=CURRENCIES)
    balance = serializers.IntegerField(help_text="Minor units.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class CustomerWalletTransactionSerializer(serializers.Serializer):
    id = serializers.CharField()
    business_id = serializers.CharField()
    customer_id = serializers.CharField()
    currency = serializers.ChoiceField(choices=CURRENCIES)
    amount = serializers.IntegerField()
    is_credit = serializers.BooleanField()
    before_balance = serializers.IntegerField()
    after_balance = serializers.IntegerField()
    event_type = serializers.ChoiceField(choices=EventType.choices)
    reason = serializers.CharField(allow_null=True)
    reference_object_id = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()


def ledger_entry_data(entry: LedgerEntry) -> dict:
    """``data`` of ``wallet.ledger_entry.created``: the entry as the API lists it."""
    return {**CustomerWalletTransactionSerializer(entry).data, "payload_type": "CustomerWalletTransaction"}


def wallet_balance_low_data(*, entry: LedgerEntry, threshold: int) -> dict:
    """``data`` of ``wallet.balance_low``: the entry that took the balance below ``threshold``."""
    return {
        "payload_type": "WalletBalanceLow",
        "customer_id": entry.customer_id,
        "currency": entry.currency,
        "balance": entry.after_balance,
        "threshold": threshold,
        "ledger_entry_id": entry.id,
    }
