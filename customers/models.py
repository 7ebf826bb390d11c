from django.conf import settings
from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone

from dodo_billing.api.fields import LOCALES
from dodo_billing.ids import MAX_LENGTH, PublicId
from dodo_billing.models import Business


class Customer(models.Model):
    id = models.CharField(primary_key=True, max_length=MAX_LENGTH, default=PublicId("cus"), editable=False)
    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="customers")
    name = models.CharField(max_length=255)
    email = models.EmailField(max_length=254)
    phone_number = models.CharField(max_length=32, null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    preferred_locale = models.CharField(
        max_length=5, null=True, blank=True, choices=[(code, code) for code in LOCALES]
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["business", "-created_at", "-id"], name="customer_business_newest"),
            models.Index("business", Upper("email"), name="customer_business_email"),
        ]

    def __str__(self):
        return f"{self.name} <{self.email}>"


class SavedReport(models.Model):
    """A report builder definition saved by name (see the customers.reports package for its JSON shape)."""

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="saved_reports")
    name = models.CharField(max_length=100)
    dataset = models.CharField(max_length=32)
    definition = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["business", "name"], name="savedreport_business_name_unique"),
        ]

    def __str__(self):
        return self.name
