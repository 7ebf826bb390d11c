import json

from django import forms
from django.core.validators import RegexValidator

from customers.models import Customer
from dodo_billing.api.fields import LOCALES
from dodo_billing.json_input import JSONRejected, load_json
from dodo_billing.validation import metadata_problem

phone_validator = RegexValidator(
    r"^\+?[0-9][0-9 ().-]{3,30}$",
    "Enter a phone number: digits with an optional leading +, spaces, dots, dashes or brackets.",
)


def _clean_metadata(metadata):
    problem = metadata_problem(metadata)
    if problem is not None:
        raise forms.ValidationError(problem[1])
    return metadata


class CustomerAdminForm(forms.ModelForm):
    class Meta:
        model = Customer
        fields = ["business", "name", "email", "phone_number", "preferred_locale", "metadata"]

    def clean_metadata(self):
        return _clean_metadata(self.cleaned_data.get("metadata") or {})


class CustomerForm(forms.Form):
    """Create or edit a customer from the dashboard (the same rules as the API)."""

    name = forms.CharField(max_length=255, strip=True)
    email = forms.EmailField(max_length=254)
    phone_number = forms.CharField(
        max_length=32,
        required=False,
        validators=[phone_validator],
        help_text="Optional, e.g. +1 415 555 0100.",
    )
    preferred_locale = forms.ChoiceField(
        choices=[("", "—"), *((code, code) for code in LOCALES)],
        required=False,
        label="Preferred locale",
    )
    metadata = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text=(
            'A JSON object of up to 50 keys with string, number or boolean values, e.g. {"plan": "pro"}.'
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            field.widget.attrs.setdefault("class", css)
        self.fields["metadata"].widget.attrs["class"] += " font-monospace"

    @classmethod
    def initial_for(cls, customer: Customer) -> dict:
        return {
            "name": customer.name,
            "email": customer.email,
            "phone_number": customer.phone_number or "",
            "preferred_locale": customer.preferred_locale or "",
            "metadata": json.dumps(customer.metadata, indent=2, ensure_ascii=False)
            if customer.metadata
            else "",
        }

    def clean_metadata(self):
        text = (self.cleaned_data.get("metadata") or "").strip()
        if not text:
            return {}
        try:
            metadata = load_json(text)
        except JSONRejected as exc:
            raise forms.ValidationError(exc.message) from None
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            ) from None
        except ValueError as exc:  # NaN or Infinity, which JSON does not have
            raise forms.ValidationError(f"Not valid JSON: {exc}.") from None
        return _clean_metadata(metadata)

    def full_clean(self):
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                widget.attrs["class"] = widget.attrs.get("class", "") + " is-invalid"

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "email": data["email"],
            "phone_number": data["phone_number"] or None,
            "preferred_locale": data["preferred_locale"] or None,
            "metadata": data["metadata"],
        }
