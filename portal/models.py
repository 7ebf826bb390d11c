"""Customer-portal links and sessions.

A ``PortalLink`` is what the merchant hands to a customer: a URL carrying a random secret. Only
the secret's SHA-256 digest is stored, so a database reader cannot open anyone's portal. A link
opens once (``used_at``) and only until ``expires_at``; opening it starts a ``PortalSession``
bound to the link's customer, which the portal cookie names (signed) until it ends.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from customers.models import Customer
from dodo_billing.ids import MAX_LENGTH, PublicId

RETURN_URL_MAX_LENGTH = 2000


class PortalLink(models.Model):
    id = models.CharField(primary_key=True, max_length=MAX_LENGTH, default=PublicId("pln"), editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="portal_links")
    token_digest = models.CharField(max_length=64, unique=True, editable=False)
    return_url = models.URLField(max_length=RETURN_URL_MAX_LENGTH, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "-created_at"], name="portallink_customer_newest")]

    def __str__(self):
        return f"{self.id} for {self.customer_id}"


class PortalSession(models.Model):
    id = models.CharField(primary_key=True, max_length=MAX_LENGTH, default=PublicId("pss"), editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="portal_sessions")
    link = models.OneToOneField(
        PortalLink, on_delete=models.SET_NULL, null=True, blank=True, related_name="session"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(help_text="Absolute end; idle sessions end sooner.")
    last_seen_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")), name="portalsession_expires_after_start"
            )
        ]

    def __str__(self):
        return f"{self.id} for {self.customer_id}"

    @property
    def return_url(self) -> str | None:
        return self.link.return_url if self.link_id else None
