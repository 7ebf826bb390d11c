"""Dashboard sign-in throttling, security headers, and the production settings module."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def sign_in(client, password, username="staff"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR="203.0.113.7")


def test_repeated_failed_sign_ins_lock_that_username_out(client, staff_user, settings):
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit - 1):
        response = sign_in(client, "wrong")
        assert response.status_code == 200 and b"didn't match" in response.content
    locked = sign_in(client, "wrong")
    assert locked.status_code == 429 and b"Too many failed sign-ins" in locked.content
    # Now even the right password is refused for this username from this address...
    refused = sign_in(client, "s3cret-pass!")
    assert refused.status_code == 429 and "_auth_user_id" not in client.session
    # ...while another address signs in fine.
    other = client.post(
        "/login/", {"username": "staff", "password": "s3cret-pass!"}, REMOTE_ADDR="198.51.100.9"
    )
    assert other.status_code == 302 and other["Location"] == "/"


def test_a_success_resets_the_failure_count(client, staff_user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(client, "wrong")
    assert sign_in(client, "s3cret-pass!").status_code == 302
    client.post("/logout/")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, "wrong").status_code == 200
    assert sign_in(client, "s3cret-pass!").status_code == 302


def test_admin_sign_in_is_throttled_too(client, staff_user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/admin/login/", {"username": "staff", "password": "wrong"}, REMOTE_ADDR="203.0.113.8")
    response = client.post(
        "/admin/login/", {"username": "staff", "password": "wrong"}, REMOTE_ADDR="203.0.113.8"
    )
    assert response.status_code == 429


@pytest.mark.parametrize("path", ["/login/", "/api/customers"])
def test_security_headers(client, path):
    response = client.get(path)
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert policy["script-src"] == "'self'"  # no inline script, no eval
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"


def test_api_docs_pages_are_exempt_from_the_policy(client):
    """Swagger UI and ReDoc boot with inline scripts; they would be blank under the policy."""
    for path in ("/api/docs", "/api/redoc"):
        response = client.get(path)
        assert response.status_code == 200
        assert "Content-Security-Policy" not in response


def test_session_cookie_is_http_only_and_same_site(client, staff_user):
    response = client.post("/login/", {"username": "staff", "password": "s3cret-pass!"})
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


def _check_deploy(env_changes):
    env = {**os.environ, **env_changes}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set by the browser tests; not a production setting
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_check_deploy():
    result = _check_deploy(
        {
            "DJANGO_SETTINGS_MODULE": "dodo_billing.settings_production",
            "SECRET_KEY": secrets.token_urlsafe(60),
        }
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_refuse_to_start_without_a_secret_key():
    result = _check_deploy({"DJANGO_SETTINGS_MODULE": "dodo_billing.settings_production", "SECRET_KEY": ""})
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr
