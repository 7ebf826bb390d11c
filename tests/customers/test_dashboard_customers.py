"""Dashboard pages of customers: the list (sorting, search, filters, columns, rows per page, CSV
export, query count), create and edit (bad input writes nothing), and the detail page shell."""

from datetime import UTC, datetime

import pytest

from customers.models import Customer
from customers.tables import CustomerTable
from dodo_billing.selectors import user_preference_get
from tests.dashboard import (
    assert_queries_flat,
    assert_sorts_both_ways,
    csv_rows,
    orderable_columns,
    query_count,
)
from wallets.services import wallet_credit

pytestmark = pytest.mark.django_db

URL = "/customers/"
ALL_COLUMNS = [name for name in CustomerTable.base_columns if name not in CustomerTable.exempt_columns]


def names_on(response) -> list[str]:
    """Customer names in table order (the name cell links to the detail page)."""
    import re

    assert response.status_code == 200, response.status_code
    html = response.content.decode()
    body = html.split("<tbody", 1)[1].split("</tbody>", 1)[0]
    return re.findall(
        r'<a class="d-inline-flex[^"]*" href="/customers/[^"]+/">.*?<span>(.*?)</span></a>', body
    )


def save_columns(client, columns):
    response = client.post(f"/preferences/tables/{CustomerTable.__name__}", {"columns": columns, "next": URL})
    assert response.status_code == 302


@pytest.fixture
def three(make_customer):
    """Three customers with distinct names, emails, phones and creation dates."""
    return [
        make_customer(
            name="Ada Lovelace",
            email="ada@analytical.example",
            phone_number="+44 20 7946 0001",
            metadata={"plan": "pro"},
            created_at=datetime(2026, 1, 10, 9, 0, tzinfo=UTC),
        ),
        make_customer(
            name="Grace Hopper",
            email="grace@navy.example",
            phone_number="+1 202 555 0199",
            created_at=datetime(2026, 2, 10, 9, 0, tzinfo=UTC),
        ),
        make_customer(
            name="Alan Turing",
            email="alan@bletchley.example",
            created_at=datetime(2026, 3, 10, 9, 0, tzinfo=UTC),
        ),
    ]


# --- The list ---------------------------------------------------------------------------------


def test_list_shows_the_business_customers_newest_first(staff_client, three, make_customer, other_business):
    make_customer(business=other_business, name="Foreign Buyer", email="foreign@other.example")
    response = staff_client.get(URL)
    html = response.content.decode()
    assert names_on(response) == ["Alan Turing", "Grace Hopper", "Ada Lovelace"]
    assert "Foreign Buyer" not in html
    for header in ("Customer Name", "Customer Id", "Email", "Phone Number", "Created At (UTC)", "Invite"):
        assert header in html
    assert ">AL</span>" in html and ">GH</span>" in html  # initials avatars
    assert three[0].id in html and f'data-copy="{three[0].id}"' in html
    assert "2026-01-10 09:00" in html
    invite = html.split(f'action="/portal/invite/{three[0].id}"', 1)[1][:600]
    assert 'data-confirm="Email a customer-portal link to ' in invite and "csrfmiddlewaretoken" in invite
    assert "1–3 of 3" in html


def test_empty_list_explains(staff_client):
    html = staff_client.get(URL).content.decode()
    assert "No customers match" in html and "New customer" in html


def test_requires_login(client):
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_every_sortable_column_sorts_both_ways(staff_client, three):
    save_columns(staff_client, ALL_COLUMNS)  # optional columns sort too once shown
    assert {
        "name",
        "id",
        "email",
        "phone_number",
        "created_at",
        "balance_usd",
        "active_subscriptions",
    } <= set(orderable_columns(CustomerTable))
    assert_sorts_both_ways(staff_client, URL, CustomerTable)


@pytest.mark.parametrize(
    "sort, expected",
    [
        ("name", ["Ada Lovelace", "Alan Turing", "Grace Hopper"]),
        ("-name", ["Grace Hopper", "Alan Turing", "Ada Lovelace"]),
        ("email", ["Ada Lovelace", "Alan Turing", "Grace Hopper"]),
        ("created_at", ["Ada Lovelace", "Grace Hopper", "Alan Turing"]),
        ("-created_at", ["Alan Turing", "Grace Hopper", "Ada Lovelace"]),
        ("balance_usd", ["Alan Turing", "Ada Lovelace", "Grace Hopper"]),
        ("-balance_usd", ["Grace Hopper", "Ada Lovelace", "Alan Turing"]),
    ],
)
def test_sorting_orders_rows(staff_client, three, sort, expected):
    wallet_credit(customer=three[0], currency="USD", amount=100)
    wallet_credit(customer=three[1], currency="USD", amount=500)
    # balance_usd is not shown by default: sorting by it still works (the selector adds it).
    assert names_on(staff_client.get(URL, {"sort": sort})) == expected


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"q": "grace"}, ["Grace Hopper"]),  # name fragment, any case
        ({"q": "BLETCHLEY"}, ["Alan Turing"]),  # email fragment
        ({"q": "a"}, ["Alan Turing", "Grace Hopper", "Ada Lovelace"]),
        ({"q": "  lovelace "}, ["Ada Lovelace"]),
        ({"q": "%"}, []),  # LIKE wildcards are literal
        ({"q": "nobody"}, []),
        ({"email": "GRACE@navy.example"}, ["Grace Hopper"]),
        ({"email": "grace@"}, []),  # exact email only
        ({"name": "tur"}, ["Alan Turing"]),
        ({"created_at_gte": "2026-02-01T00:00"}, ["Alan Turing", "Grace Hopper"]),
        ({"created_at_lte": "2026-02-10T09:00"}, ["Grace Hopper", "Ada Lovelace"]),
        ({"created_at_gte": "2026-02-01T00:00", "created_at_lte": "2026-02-28T00:00"}, ["Grace Hopper"]),
        ({"has_balance": "true"}, ["Grace Hopper", "Ada Lovelace"]),
        ({"has_balance": "false"}, ["Alan Turing"]),
        ({"currency": "INR"}, ["Ada Lovelace"]),
        ({"currency": "USD"}, ["Grace Hopper"]),
        ({"currency": "USD", "has_balance": "false"}, ["Alan Turing", "Ada Lovelace"]),
        ({"currency": "INR", "has_balance": "true"}, ["Ada Lovelace"]),
        ({"q": "a", "has_balance": "true", "created_at_gte": "2026-02-01T00:00"}, ["Grace Hopper"]),
    ],
)
def test_each_filter(staff_client, three, params, expected):
    wallet_credit(customer=three[0], currency="INR", amount=10_000)
    wallet_credit(customer=three[1], currency="USD", amount=2_500)
    assert names_on(staff_client.get(URL, params)) == expected


def test_search_by_exact_customer_id(staff_client, three):
    assert names_on(staff_client.get(URL, {"q": three[1].id})) == ["Grace Hopper"]
    assert names_on(staff_client.get(URL, {"q": three[1].id[:-1]})) == []  # ids match exactly


def test_bad_filter_value_is_shown_and_lists_nothing(staff_client, three):
    response = staff_client.get(URL, {"created_at_gte": "yesterday", "currency": "XXX"})
    html = response.content.decode()
    assert names_on(response) == []
    assert "invalid-feedback" in html and "Select a valid choice" in html
    assert 'id="filters"' in html and 'class="collapse show"' in html  # the filters stay open


def test_search_keeps_api_parameters_working(api, three):
    data = api.get("/api/customers", {"q": "hopper"}).json()["items"]
    assert [item["name"] for item in data] == ["Grace Hopper"]
    data = api.get("/api/customers", {"email": "ada@analytical.example"}).json()["items"]
    assert [item["name"] for item in data] == ["Ada Lovelace"]
    data = api.get("/api/customers", {"has_balance": "true"}).json()["items"]
    assert data == []
    assert api.get("/api/customers", {"currency": "XXX"}).status_code == 422


def test_csv_export_honours_columns_filters_and_sort(staff_client, three):
    wallet_credit(customer=three[0], currency="USD", amount=1_234)
    save_columns(staff_client, ["email", "balance_usd", "metadata", "invite"])
    rows = csv_rows(
        staff_client.get(URL, {"export": "csv", "q": "a", "sort": "name", "has_balance": "false"})
    )
    assert rows == [
        ["Customer Name", "Email", "Balance USD", "Metadata"],  # Invite is not exported
        ["Alan Turing", "alan@bletchley.example", "0.00", ""],
        ["Grace Hopper", "grace@navy.example", "0.00", ""],
    ]
    rows = csv_rows(staff_client.get(URL, {"export": "csv", "q": "ada"}))
    assert rows[1] == ["Ada Lovelace", "ada@analytical.example", "12.34", '{"plan": "pro"}']


def test_csv_export_has_all_rows_not_one_page(staff_client, make_customer):
    for _ in range(30):
        make_customer()
    staff_client.get(URL, {"per_page": 25})
    rows = csv_rows(staff_client.get(URL, {"export": "csv"}))
    assert len(rows) == 31 and rows[0][:2] == ["Customer Name", "Customer Id"]


def test_edit_columns_persist_across_requests(staff_client, staff_user, three):
    save_columns(staff_client, ["created_at", "balance_inr", "email"])
    assert user_preference_get(user=staff_user, path="tables.CustomerTable.columns") == [
        "created_at",
        "balance_inr",
        "email",
    ]
    html = staff_client.get(URL).content.decode()
    thead = html.split("<thead", 1)[1].split("</thead>", 1)[0]
    positions = [
        thead.index(header) for header in ("Customer Name", "Created At (UTC)", "Balance INR", "Email")
    ]
    assert positions == sorted(positions)
    assert "Phone Number" not in thead and "Customer Id" not in thead
    assert "₹0.00" in html
    # Reset goes back to the defaults.
    staff_client.post(f"/preferences/tables/{CustomerTable.__name__}", {"reset": "1", "next": URL})
    thead = staff_client.get(URL).content.decode().split("<thead", 1)[1].split("</thead>", 1)[0]
    assert "Phone Number" in thead and "Balance INR" not in thead


def test_rows_per_page_persists(staff_client, make_customer):
    for _ in range(30):
        make_customer()
    assert len(names_on(staff_client.get(URL))) == 30  # default 50
    response = staff_client.get(URL, {"per_page": 25})
    assert len(names_on(response)) == 25 and "1–25 of 30" in response.content.decode()
    response = staff_client.get(URL)  # remembered
    assert len(names_on(response)) == 25
    assert len(names_on(staff_client.get(URL, {"page": 2}))) == 5
    assert len(names_on(staff_client.get(URL, {"per_page": 7}))) == 25  # not a choice: ignored


def test_htmx_sort_returns_only_the_table_block(staff_client, three):
    response = staff_client.get(URL, {"sort": "name"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="table-block")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="table-block"') and "<html" not in html


def test_list_query_count_does_not_grow_with_rows(staff_client, make_customer):
    save_columns(staff_client, ALL_COLUMNS)
    for _ in range(3):
        make_customer(metadata={"k": "v"})

    def add_rows():
        for _ in range(20):
            customer = make_customer(metadata={"k": "v"})
            wallet_credit(customer=customer, currency="USD", amount=5)

    assert_queries_flat(staff_client, URL, add_rows)
    assert_queries_flat(staff_client, URL, add_rows, {"q": "customer", "has_balance": "true"})
    assert query_count(staff_client, URL, {"export": "csv"}) <= 12


# --- Create and edit ------------------------------------------------------------------------------

VALID = {"name": "Katherine Johnson", "email": "kj@nasa.example", "phone_number": "+1 757 555 0100"}


def test_create_customer(staff_client, business):
    response = staff_client.post(
        "/customers/new/", {**VALID, "preferred_locale": "fr", "metadata": '{"plan": "pro", "seats": 3}'}
    )
    customer = Customer.objects.get(business=business)
    assert response.status_code == 302 and response["Location"] == f"/customers/{customer.id}/"
    assert (customer.name, customer.email, customer.phone_number) == (
        "Katherine Johnson",
        "kj@nasa.example",
        "+1 757 555 0100",
    )
    assert customer.metadata == {"plan": "pro", "seats": 3} and customer.preferred_locale == "fr"
    assert sorted(customer.wallets.values_list("currency", flat=True)) == ["INR", "USD"]
    page = staff_client.get(response["Location"]).content.decode()
    assert "Customer Katherine Johnson created" in page


def test_create_form_renders(staff_client):
    html = staff_client.get("/customers/new/").content.decode()
    assert 'for="id_name"' in html and 'name="metadata"' in html and "Create customer" in html


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"name": ""}, "name", "This field is required"),
        ({"name": "   "}, "name", "This field is required"),
        ({"name": "x" * 256}, "name", "at most 255 characters"),
        ({"email": ""}, "email", "This field is required"),
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"phone_number": "call me"}, "phone_number", "Enter a phone number"),
        ({"phone_number": "+1" + "2" * 40}, "phone_number", "at most 32 characters"),
        ({"preferred_locale": "xx-XX"}, "preferred_locale", "Select a valid choice"),
        ({"metadata": "{plan: pro}"}, "metadata", "Not valid JSON"),
        ({"metadata": '["a", "b"]'}, "metadata", "must be a JSON object"),
        ({"metadata": '{"nested": {"a": 1}}'}, "metadata", "string, number or boolean"),
        ({"metadata": '{"a": null}'}, "metadata", "string, number or boolean"),
        ({"metadata": '{"k": "' + "v" * 501 + '"}'}, "metadata", "longer than 500"),
    ],
)
def test_create_with_bad_input_writes_nothing(staff_client, business, changes, field, message):
    response = staff_client.post("/customers/new/", {**VALID, **changes})
    html = response.content.decode()
    assert response.status_code == 400
    assert message in html
    assert f'id="id_{field}-error"' in html and "is-invalid" in html
    assert not Customer.objects.exists()
    # What was typed is kept.
    if field != "email":
        assert VALID["email"] in html


def test_edit_customer(staff_client, customer):
    page = staff_client.get(f"/customers/{customer.id}/edit/").content.decode()
    assert 'value="Jane Doe"' in page and "Save changes" in page
    response = staff_client.post(
        f"/customers/{customer.id}/edit/",
        {
            "name": "Jane Q. Doe",
            "email": "jane.doe@example.com",
            "phone_number": "",
            "metadata": '{"tier": "gold"}',
        },
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.name, customer.email, customer.phone_number, customer.metadata) == (
        "Jane Q. Doe",
        "jane.doe@example.com",
        None,
        {"tier": "gold"},
    )
    assert "Customer Jane Q. Doe saved" in staff_client.get(response["Location"]).content.decode()


@pytest.mark.parametrize(
    "changes",
    [{"email": "broken"}, {"name": ""}, {"metadata": "[1]"}, {"phone_number": "abc"}],
)
def test_edit_with_bad_input_writes_nothing(staff_client, customer, changes):
    before = Customer.objects.values().get(pk=customer.pk)
    data = {"name": "Changed Name", "email": "changed@example.com", **changes}
    response = staff_client.post(f"/customers/{customer.id}/edit/", data)
    assert response.status_code == 400 and "is-invalid" in response.content.decode()
    assert Customer.objects.values().get(pk=customer.pk) == before


def test_another_business_customer_is_404(staff_client, make_customer, other_business):
    theirs = make_customer(business=other_business, name="Their Customer")
    before = Customer.objects.values().get(pk=theirs.pk)
    for url in (f"/customers/{theirs.id}/", f"/customers/{theirs.id}/edit/", "/customers/cus_nope/"):
        response = staff_client.get(url)
        assert response.status_code == 404 and b"Page not found" in response.content
        assert b"Their Customer" not in response.content
    response = staff_client.post(
        f"/customers/{theirs.id}/edit/", {"name": "Hijacked", "email": "h@example.com"}
    )
    assert response.status_code == 404
    assert Customer.objects.values().get(pk=theirs.pk) == before


# --- Detail ---------------------------------------------------------------------------------------


def test_detail_page_shell_and_about_tab(staff_client, customer):
    customer.metadata = {"plan": "pro", "seats": 5}
    customer.phone_number = "+1 415 555 0100"
    customer.save()
    wallet_credit(customer=customer, currency="USD", amount=12_50)
    wallet_credit(customer=customer, currency="USD", amount=50)
    response = staff_client.get(f"/customers/{customer.id}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1" in html and "Jane Doe" in html and "mailto:jane@example.com" in html
    assert ">JD</span>" in html
    assert f'data-copy="{customer.id}"' in html and "+1 415 555 0100" in html
    assert customer.created_at.strftime("%Y-%m-%d %H:%M") in html
    assert f'href="/customers/{customer.id}/edit/"' in html
    assert f'action="/portal/invite/{customer.id}"' in html
    # Tabs: the About tab is registered first and active here.
    tabs = html.split('aria-label="Customer sections"', 1)[1].split("</ul>", 1)[0]
    assert 'aria-current="page"' in tabs and "About" in tabs.split("</li>", 1)[0]
    # Key figures and metadata.
    assert "$13.00" in html and "2 ledger entries" in html and "seats" in html


def test_detail_query_count_is_fixed(staff_client, customer):
    before = query_count(staff_client, f"/customers/{customer.id}/")
    for _ in range(5):
        wallet_credit(customer=customer, currency="USD", amount=1)
        wallet_credit(customer=customer, currency="INR", amount=1)
    assert query_count(staff_client, f"/customers/{customer.id}/") <= before + 1  # + exchange rates


def test_sidebar_marks_customers_active(staff_client, customer):
    html = staff_client.get(f"/customers/{customer.id}/").content.decode()
    nav = html.split('aria-label="Main navigation"', 1)[1].split("</nav>", 1)[0]
    assert 'href="/customers/" aria-current="page"' in nav


def test_paging_and_export_links_carry_the_current_view(staff_client, make_customer):
    for _ in range(30):
        make_customer()
    html = staff_client.get(URL, {"per_page": 25, "q": "customer"}).content.decode()
    assert (
        'href="?q=customer&amp;per_page=25&amp;page=2"' in html
        or "page=2" in html.split('rel="next"')[0][-120:]
    )
    export = html.split("Export CSV")[0].rsplit("href=", 1)[1]
    assert "export=csv" in export and "q=customer" in export
