"""Dashboard forms of billing: refund a payment, cancel a subscription.

The refund amount is typed in major units of the payment's currency and becomes integer minor
units with the currency's exponent (Babel), exactly as on the wallet form; it is never rounded.
"""

from django import forms

from metering.models import REFUND_REASON_MAX_LENGTH, Refund
from wallets.forms import AmountInput, BootstrapFormMixin, major_units_to_minor


class RefundForm(BootstrapFormMixin, forms.Form):
    amount = forms.CharField(
        max_length=40,
        widget=AmountInput(),
        help_text="In major units of the payment's currency, e.g. 12.50.",
    )
    destination = forms.ChoiceField(
        choices=[
            (Refund.Destination.GATEWAY, "Back to the payment method"),
            (Refund.Destination.WALLET, "To the customer's wallet"),
        ],
        initial=Refund.Destination.GATEWAY,
    )
    reason = forms.CharField(
        max_length=REFUND_REASON_MAX_LENGTH,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Optional; shown on the refund."}),
    )

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.fields["amount"].label = f"Amount ({currency})"

    def clean(self):
        data = super().clean()
        if "amount" in data:
            try:
                data["amount_minor"] = major_units_to_minor(data["amount"], self.currency)
            except forms.ValidationError as error:
                self.add_error("amount", error)
        data["reason"] = (data.get("reason") or "").strip() or None
        return data


class SubscriptionCancelForm(forms.Form):
    WHEN = (("now", "Cancel now"), ("period_end", "Cancel at the end of the period"))

    when = forms.ChoiceField(choices=WHEN)
