from rest_framework import serializers

from dodo_billing.api.fields import AmountField, CurrencyField, StrictCharField, StrictChoiceField
from dodo_billing.money import CURRENCIES
from wallets.models import IDEMPOTENCY_KEY_MAX_LENGTH, REASON_MAX_LENGTH, EventType


class CustomerWalletSerializer(serializers.Serializer):
    customer_id = serializers.CharField()
    currency = serializers.ChoiceField(choices=CURRENCIES)
    balance = serializers.IntegerField(help_text="Minor units.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class WalletListSerializer(serializers.Serializer):
    items = CustomerWalletSerializer(many=True)
    total_balance_usd = serializers.IntegerField(help_text="Sum of all balances in US cents.")


class LedgerEntryCreateSerializer(serializers.Serializer):
    amount = AmountField()
    currency = CurrencyField()
    entry_type = StrictChoiceField(choices=["credit", "debit"])
    idempotency_key = StrictCharField(
        max_length=IDEMPOTENCY_KEY_MAX_LENGTH, required=False, allow_null=True, trim_whitespace=False
    )
    reason = StrictCharField(max_length=REASON_MAX_LENGTH, required=False, allow_null=True, allow_blank=True)


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
