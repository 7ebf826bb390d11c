"""The official SDK's customers.customer_portal.create against the live server."""

import dodopayments
import pytest
from django.core import mail

from portal.models import PortalLink
from portal.services import token_digest

pytestmark = pytest.mark.django_db(transaction=True)


def test_create_portal_link_through_the_sdk(sdk_factory, api_key, customer, live_server):
    client = sdk_factory(api_key)
    result = client.customers.customer_portal.create(
        customer.id, return_url="https://shop.example.com/account?tab=billing", send_email=False
    )
    assert result.link.startswith(f"{live_server.url}/portal/open/")
    link = PortalLink.objects.get()
    assert link.customer_id == customer.id
    assert link.return_url == "https://shop.example.com/account?tab=billing"
    assert link.token_digest == token_digest(result.link.rsplit("/", 1)[1])
    assert mail.outbox == []


def test_sdk_send_email_emails_the_link(sdk_factory, api_key, customer, celery_eager):
    result = sdk_factory(api_key).customers.customer_portal.create(customer.id, send_email=True)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [customer.email] and result.link in mail.outbox[0].body


def test_sdk_errors(sdk_factory, api_key, customer, other_business, make_customer):
    client = sdk_factory(api_key)
    with pytest.raises(dodopayments.UnprocessableEntityError) as bad:
        client.customers.customer_portal.create(customer.id, return_url="javascript:alert(1)")
    assert bad.value.body["code"] == "INVALID_QUERY_PARAMS"
    outsider = make_customer(business=other_business, email="o@example.com")
    with pytest.raises(dodopayments.NotFoundError):
        client.customers.customer_portal.create(outsider.id)
    with pytest.raises(dodopayments.NotFoundError):
        client.customers.customer_portal.create("cus_missing")
    assert PortalLink.objects.count() == 0
