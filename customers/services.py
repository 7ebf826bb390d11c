"""Writes of customers. A customer and its wallets are created in one transaction."""

from django.db import transaction

from customers.models import Customer
from dodo_billing.errors import InvalidRequestBody, validate_fields
from dodo_billing.validation import metadata_problem
from wallets.services import wallets_create_for_customer

UPDATABLE_FIELDS = ("name", "email", "phone_number", "metadata", "preferred_locale")


def _check_metadata(metadata) -> None:
    problem = metadata_problem(metadata)
    if problem is not None:
        code, message = problem
        raise InvalidRequestBody(message, code=code)


@transaction.atomic
def customer_create(
    *,
    business,
    name: str,
    email: str,
    phone_number: str | None = None,
    metadata: dict | None = None,
    preferred_locale: str | None = None,
) -> Customer:
    _check_metadata(metadata or {})
    customer = Customer(
        business=business,
        name=name,
        email=email,
        phone_number=phone_number,
        metadata=metadata or {},
        preferred_locale=preferred_locale,
    )
    validate_fields(customer)
    customer.save(force_insert=True)
    wallets_create_for_customer(customer=customer)
    return customer


@transaction.atomic
def customer_update(*, customer: Customer, **changes) -> Customer:
    """Apply the given fields only; a field given as None is cleared (metadata becomes {})."""
    unknown = set(changes) - set(UPDATABLE_FIELDS)
    if unknown:
        raise TypeError(f"customer_update() got unexpected fields {sorted(unknown)}")
    if "metadata" in changes:
        changes["metadata"] = changes["metadata"] or {}
        _check_metadata(changes["metadata"])
    for field, value in changes.items():
        setattr(customer, field, value)
    if changes:
        validate_fields(customer)
        customer.save(update_fields=[*changes, "updated_at"])
    return customer
