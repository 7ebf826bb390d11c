"""The dashboard shell in a real browser: sign in through the form, the sidebar, sign out."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def test_sign_in_see_overview_and_sign_out(anonymous_page, staff_user, make_customer):
    make_customer(name="Ada Lovelace")
    page = anonymous_page
    page.goto("/")
    expect(page).to_have_url("/login/?next=/")
    screenshot(page, "login")
    page.get_by_label("Username").fill("staff")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("didn't match")
    page.get_by_label("Password").fill("s3cret-pass!")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(
        page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Overview")
    ).to_have_attribute("aria-current", "page")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_sidebar_collapses_on_a_phone(page):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    sidebar = page.locator("#sidebar")
    expect(sidebar).not_to_be_visible()
    page.get_by_role("button", name="Open navigation").click()
    expect(sidebar.get_by_role("link", name="Overview")).to_be_visible()
