import pytest
from django.contrib.auth import get_user_model

from dodo_billing.services import api_key_create, membership_set
from wallets.services import wallet_credit

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(business):
    user = get_user_model().objects.create_user(username="staff", password="s3cret-pass!")
    membership_set(user=user, business=business)
    return user


def test_overview_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_login_page_renders(client):
    response = client.get("/login/")
    assert response.status_code == 200 and b"Sign in" in response.content


def test_overview_shows_only_the_staff_members_business(client, staff, make_customer, other_business):
    mine = make_customer(name="Mine Customer")
    wallet_credit(customer=mine, currency="USD", amount=123_45, reason="Top-up from the dashboard test")
    theirs = make_customer(business=other_business, name="Foreign Customer")
    wallet_credit(customer=theirs, currency="USD", amount=999_99, reason="Foreign top-up")
    api_key_create(business=staff.membership.business, name="visible key")
    client.force_login(staff)
    page = client.get("/").content.decode()
    assert "Mine Customer" in page and "$123.45" in page and "Top-up from the dashboard test" in page
    assert "visible key" in page
    assert "Foreign" not in page and "$999.99" not in page


def test_user_without_business_sees_an_explanation(client):
    user = get_user_model().objects.create_user(username="lonely", password="s3cret-pass!")
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 403 and b"not linked to a business" in response.content


def test_login_and_logout(client, staff):
    response = client.post("/login/", {"username": "staff", "password": "s3cret-pass!"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    client.post("/logout/")
    assert client.get("/").status_code == 302


def test_unknown_page_uses_the_project_404(client, staff):
    client.force_login(staff)
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and b"Page not found" in response.content
