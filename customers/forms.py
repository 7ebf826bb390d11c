from django import forms

from customers.models import Customer
from dodo_billing.validation import metadata_problem


class CustomerAdminForm(forms.ModelForm):
    class Meta:
        model = Customer
        fields = ["business", "name", "email", "phone_number", "preferred_locale", "metadata"]

    def clean_metadata(self):
        metadata = self.cleaned_data.get("metadata") or {}
        problem = metadata_problem(metadata)
        if problem is not None:
            raise forms.ValidationError(problem[1])
        return metadata
