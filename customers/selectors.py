"""Reads of customers, always scoped to one business."""

from customers.filtersets import CustomerFilterSet
from customers.models import Customer
from dodo_billing.errors import NotFound
from dodo_billing.filtersets import apply_filters


def customer_get(*, business, customer_id: str) -> Customer:
    """The business's customer, or NOT_FOUND (also for another business's customer)."""
    customer = Customer.objects.filter(business=business, id=customer_id).first()
    if customer is None:
        raise NotFound("Customer not found", extra={"customer_id": customer_id})
    return customer


def customer_list(*, business, filters=None):
    """The business's customers, newest first, narrowed by CustomerFilterSet parameters."""
    queryset = Customer.objects.filter(business=business).order_by("-created_at", "-id")
    return apply_filters(CustomerFilterSet, filters or {}, queryset)


def customer_count(*, business) -> int:
    return Customer.objects.filter(business=business).count()
