"""Dashboard forms of wallets: the merchant's add/deduct credits form.

Amounts are typed in major units ("12.50") and become integer minor units with the currency's
exponent from Babel (``dodo_billing.money``): never a float, and never rounded — an amount with
more decimals than the currency has (12.345 USD, 1.5 JPY) is refused with a clear error.
"""

import secrets
from decimal import Decimal, InvalidOperation

from django import forms

from dodo_billing.money import MAX_AMOUNT, currency_exponent, major_to_minor, minor_to_major
from wallets.models import IDEMPOTENCY_KEY_MAX_LENGTH, REASON_MAX_LENGTH


def major_units_to_minor(text: str, currency: str) -> int:
    """``"12.50", "USD"`` → ``1250``. Raises ``forms.ValidationError`` for anything that is not a
    positive amount with at most the currency's number of decimals, up to the largest amount."""
    cleaned = (text or "").strip().replace(",", "")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise forms.ValidationError("Enter an amount such as 12.50.", code="invalid") from None
    if not amount.is_finite():
        raise forms.ValidationError("Enter an amount such as 12.50.", code="invalid")
    if amount <= 0:
        raise forms.ValidationError("The amount must be more than zero.", code="min_value")
    minor = major_to_minor(amount, currency)
    if minor != minor.to_integral_value():
        exponent = currency_exponent(currency)
        raise forms.ValidationError(
            f"{currency} amounts have at most {exponent} decimal place{'s' if exponent != 1 else ''}."
            if exponent
            else f"{currency} has no minor unit: enter a whole amount.",
            code="precision",
        )
    minor = int(minor)
    if minor > MAX_AMOUNT:
        raise forms.ValidationError(
            f"The amount may be at most {minor_to_major(MAX_AMOUNT, currency)} {currency}.", code="max_value"
        )
    return minor


def new_idempotency_key() -> str:
    """A fresh key for one rendering of a form that moves money."""
    return f"dashboard-{secrets.token_urlsafe(24)}"


class AmountInput(forms.TextInput):
    input_type = "text"

    def __init__(self, attrs=None):
        super().__init__(
            {"inputmode": "decimal", "autocomplete": "off", "placeholder": "0.00", **(attrs or {})}
        )


class BootstrapFormMixin:
    """Bootstrap classes on every widget, and ``is-invalid`` (with ``aria-invalid``) on the ones
    whose field has errors once the form is validated."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.HiddenInput):
                continue
            if isinstance(widget, forms.RadioSelect | forms.CheckboxInput):
                css = "form-check-input"
            elif isinstance(widget, forms.Select):
                css = "form-select"
            else:
                css = "form-control"
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()

    def add_error(self, field, error):
        super().add_error(field, error)
        for name in list(self.errors):
            if name in self.fields:
                attrs = self.fields[name].widget.attrs
                if "is-invalid" not in attrs.get("class", ""):
                    attrs["class"] = f"{attrs.get('class', '')} is-invalid".strip()
                attrs["aria-invalid"] = "true"


class WalletAdjustForm(BootstrapFormMixin, forms.Form):
    """Add credits to or deduct them from one of the customer's wallets, with a reason.

    ``idempotency_key`` is generated when the form is rendered and travels as a hidden field: a
    second submit of the same rendering (double click, browser resend) reuses it, and the ledger
    service refuses the second entry."""

    DIRECTIONS = (("credit", "Add credits"), ("debit", "Deduct credits"))

    direction = forms.ChoiceField(choices=DIRECTIONS, initial="credit", widget=forms.RadioSelect)
    currency = forms.ChoiceField(choices=())
    amount = forms.CharField(max_length=40, widget=AmountInput(), help_text="In major units, e.g. 12.50.")
    reason = forms.CharField(
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Why? Shown in the ledger."}),
    )
    idempotency_key = forms.CharField(
        max_length=IDEMPOTENCY_KEY_MAX_LENGTH,
        widget=forms.HiddenInput,
        error_messages={"required": "This form has lost its submission key: reload the page and try again."},
    )

    def __init__(self, *args, currencies: list[str], **kwargs):
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("idempotency_key", new_idempotency_key())
        if currencies:
            kwargs["initial"].setdefault("currency", currencies[0])
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = [(code, code) for code in currencies]

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Give a reason: it is kept in the ledger.")
        return reason

    def clean(self):
        data = super().clean()
        currency = data.get("currency")
        if currency and "amount" in data:
            try:
                data["amount_minor"] = major_units_to_minor(data["amount"], currency)
            except forms.ValidationError as error:
                self.add_error("amount", error)
        return data
