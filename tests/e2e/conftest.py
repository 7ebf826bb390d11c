"""Browser tests: Debian's Chromium driven by Playwright against ``live_server``.

Pages are saved as screenshots under docs/screenshots/ (``screenshot(page, "name")``), which the
README shows. Playwright's sync API runs an event loop in the test's thread, so Django's guard
against database access from async code is lifted for these tests only.
"""

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def pytest_collection_modifyitems(config, items):
    if os.path.exists(CHROMIUM):
        return
    skip = pytest.mark.skip(reason="needs Chromium (apt-get install -y chromium)")
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def anonymous_page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    violations = watch_for_policy_violations(page)
    yield page
    context.close()
    assert not violations, violations


@pytest.fixture
def page(browser, live_server, staff_user):
    """A browser tab signed in as ``staff_user`` (through the session cookie)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(staff_user)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 900})
    context.set_default_timeout(10_000)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    violations = watch_for_policy_violations(page)
    yield page
    context.close()
    assert not violations, violations


def watch_for_policy_violations(page) -> list[str]:
    """Collect what Chromium refuses under our Content-Security-Policy (an inline script or
    handler, a script from elsewhere) while a test browses: every test then asserts none."""
    violations: list[str] = []

    def on_console(message) -> None:
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    page.on("console", on_console)
    return violations


def screenshot(page, name: str) -> Path:
    """Save the whole page as docs/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
