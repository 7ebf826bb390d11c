"""Webhooks go to public addresses only (WEBHOOK_ALLOW_PRIVATE_TARGETS off, the default): a URL on
a private, loopback, link-local … address, in any notation, is refused at registration (API and
admin: 422, nothing written), and at delivery the host is resolved, every address checked, and the
request sent to the checked address, so a name that resolves to a private address fails the
delivery at once with the reason, never retried."""

import json
import socket
from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model

from dodo_billing import egress
from dodo_billing.egress import TargetRefused, pinned_target, url_refusal
from dodo_billing.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint
from dodo_billing.webhooks.endpoints import webhook_endpoint_create
from dodo_billing.webhooks.tasks import deliver_webhook
from tests.conftest import assert_error, post_json
from tests.dodo_billing.test_webhooks import emit_committed, receiver  # noqa: F401 (a fixture)
from tests.dodo_billing.test_webhooks_api import patch_json

REFUSED = [
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.5/hook",
    "http://10.255.255.255/",
    "http://172.16.0.1/",
    "http://192.168.1.20:8080/hook",
    "http://127.0.0.1:8000/",
    "http://[::1]:5432/",
    "http://0x7f000001/",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://0/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::127.0.0.1]/",
    "http://[64:ff9b::a00:1]/",
    "http://[2002:a9fe:a9fe::]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[ff02::1]/",
    "http://224.0.0.1/",
    "http://100.64.0.1/",
    "http://198.18.0.1/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://localhost:8000/",
    "http://LOCALHOST./",
    "http://api.localhost/",
    "http://printer.local/",
    "http://postgres:5432/",
]
ALLOWED = ["https://merchant.example.com/hooks", "http://93.184.216.34/", "https://[2606:4700::1111]:8443/x"]


@pytest.fixture(autouse=True)
def public_only(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False


@pytest.mark.parametrize("url", REFUSED)
def test_private_targets_are_refused(url):
    assert url_refusal(url) is not None


@pytest.mark.parametrize("url", ALLOWED)
def test_public_targets_are_allowed(url):
    assert url_refusal(url) is None


def test_the_setting_allows_private_targets(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    assert all(url_refusal(url) is None for url in REFUSED)


@pytest.mark.django_db
@pytest.mark.parametrize("url", REFUSED)
def test_the_api_refuses_to_register_a_private_target(api, url):
    response = post_json(api, "/api/webhooks", {"url": url, "headers": {"Authorization": "Bearer x"}})
    error = assert_error(response, 422, "INVALID_REQUEST_BODY")
    assert (
        error["message"].startswith("url: Webhooks go to public addresses only") and "url" in error["errors"]
    )
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_the_api_refuses_to_move_an_endpoint_to_a_private_target(api):
    created = post_json(api, "/api/webhooks", {"url": ALLOWED[0]}).json()
    for url in ("http://169.254.169.254/", "http://[::1]:5432/"):
        response = patch_json(api, f"/api/webhooks/{created['id']}", {"url": url})
        assert_error(response, 422, "INVALID_REQUEST_BODY")
    assert WebhookEndpoint.objects.get().url == ALLOWED[0]


@pytest.mark.django_db
def test_admin_refuses_a_private_target(client, business):
    user = get_user_model().objects.create_superuser(username="op", email="op@example.com", password="pw")
    client.force_login(user)
    form = {"business": business.pk, "url": "http://0x7f000001:5432/", "filter_types": "[]", "metadata": "{}"}
    page = client.post(
        "/admin/dodo_billing/webhookendpoint/add/", {**form, "headers": "{}", "rate_limit": ""}
    )
    assert page.status_code == 200 and b"Webhooks go to public addresses only" in page.content
    assert not WebhookEndpoint.objects.exists()
    endpoint = webhook_endpoint_create(business=business, url=ALLOWED[0])
    change = f"/admin/dodo_billing/webhookendpoint/{quote(endpoint.pk)}/change/"
    page = client.post(change, {**form, "url": "http://169.254.169.254/", "headers": "{}", "rate_limit": ""})
    assert page.status_code == 200 and WebhookEndpoint.objects.get().url == ALLOWED[0]


def resolving(monkeypatch, answers: dict[str, list[str]]):
    """Stand in for DNS for the names in ``answers`` (no resolver serves them here); every other
    name (the broker's, the database's) is resolved as usual."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers[host]
        ]

    monkeypatch.setattr(egress.socket, "getaddrinfo", getaddrinfo)


def test_delivery_checks_every_resolved_address(monkeypatch):
    resolving(monkeypatch, {"hooks.merchant.example": ["93.184.216.34", "127.0.0.1"]})
    with pytest.raises(TargetRefused, match=r"resolves to 127\.0\.0\.1, which is a loopback address"):
        pinned_target("https://hooks.merchant.example/x")


def test_delivery_connects_to_the_checked_address(monkeypatch):
    resolving(monkeypatch, {"hooks.merchant.example": ["2606:4700::1111", "93.184.216.34"]})
    target = pinned_target("https://hooks.merchant.example:8443/in?a=1")
    assert target.url == "https://[2606:4700::1111]:8443/in?a=1"
    assert (target.host_header, target.sni_hostname) == (
        "hooks.merchant.example:8443",
        "hooks.merchant.example",
    )


@pytest.mark.django_db
def test_delivery_to_a_private_address_fails_at_once_and_sends_nothing(business, receiver, settings):  # noqa: F811
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True  # registered while allowed (or before this check)
    endpoint = webhook_endpoint_create(
        business=business, url=receiver.url, headers={"Authorization": "Bearer k"}
    )
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    emit_committed(business)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert deliver_webhook(delivery.pk) == "failed"
    assert deliver_webhook(delivery.pk) == "skipped"  # failed for good: not retried
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 1, None)
    assert "127.0.0.1 is a loopback address" in delivery.last_error
    attempt = WebhookDeliveryAttempt.objects.get(delivery=delivery)
    assert attempt.status_code is None and "loopback" in attempt.error
    assert receiver.requests == []


@pytest.mark.django_db
def test_a_name_that_resolves_to_a_private_address_is_refused_at_delivery(
    business,
    receiver,  # noqa: F811
    monkeypatch,
):
    port = receiver.url.split(":")[2].split("/")[0]
    endpoint = webhook_endpoint_create(business=business, url=f"http://hooks.merchant.example:{port}/in")
    resolving(monkeypatch, {"hooks.merchant.example": ["127.0.0.1"]})  # DNS rebinding
    event = emit_committed(business)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert deliver_webhook(delivery.pk) == "failed"
    assert deliver_webhook(delivery.pk) == "skipped"  # failed for good: not retried
    delivery.refresh_from_db()
    assert delivery.status == "failed" and "resolves to 127.0.0.1" in delivery.last_error
    assert receiver.requests == []
    assert json.loads(event.payload)["type"] == "payment.succeeded"


@pytest.mark.django_db
def test_the_request_goes_to_the_checked_address_with_the_hosts_name(business, receiver, monkeypatch):  # noqa: F811
    """A real POST: the connection is made to the address the check passed (here the receiver's,
    let through for this test), while the Host header keeps the endpoint's name."""
    port = receiver.url.split(":")[2].split("/")[0]
    endpoint = webhook_endpoint_create(business=business, url=f"http://hooks.merchant.example:{port}/in")
    resolving(monkeypatch, {"hooks.merchant.example": ["127.0.0.1"]})
    monkeypatch.setattr(egress, "address_refusal", lambda address: None)
    emit_committed(business)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert deliver_webhook(delivery.pk) == "succeeded"
    (request,) = receiver.requests
    assert request["path"] == "/in" and request["headers"]["host"] == f"hooks.merchant.example:{port}"
