from rest_framework import serializers

from dodo_billing.api.fields import AmountField, CurrencyField, StrictCharField, StrictChoiceField
from wallets.models import IDEMPOTENCY_KEY_MAX_LENGTH, REASON_MAX_LENGTH
from wallets.payloads import CustomerWalletSerializer


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
