from django import forms

from customers.api.serializers import phone_validator


class BootstrapForm(forms.Form):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            field.widget.attrs.setdefault("class", css)

    def mark_invalid(self):
        """Bootstrap's is-invalid on every field with an error (after validation)."""
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                widget.attrs["class"] = widget.attrs.get("class", "") + " is-invalid"
                widget.attrs["aria-invalid"] = "true"
                widget.attrs["aria-describedby"] = f"id_{name}_error"


class ProfileForm(BootstrapForm):
    """The customer's own details: the same rules as the API's customer update."""

    name = forms.CharField(max_length=255, strip=True, widget=forms.TextInput(attrs={"autocomplete": "name"}))
    email = forms.EmailField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    phone_number = forms.CharField(
        max_length=32,
        required=False,
        strip=True,
        validators=[phone_validator],
        label="Phone number",
        help_text="Optional, e.g. +1 415 555 0100.",
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )

    def clean_phone_number(self):
        return self.cleaned_data["phone_number"] or None


class CancelForm(forms.Form):
    when = forms.ChoiceField(choices=[("now", "Cancel now"), ("period_end", "At the end of the period")])
