"""Sentry: off unless SENTRY_DSN is set; when set, an error reaches a real HTTP receiver that stands
in for Sentry's ingest endpoint, with secrets scrubbed."""

import gzip
import json
import os
import subprocess
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import sentry_sdk
from django.conf import settings

from tests.stack import ROOT


class SentryReceiver:
    """Records the envelopes POSTed to /api/<project>/envelope/, decompressed."""

    def __init__(self):
        self.bodies: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    raw = gzip.decompress(raw)
                elif encoding == "deflate":
                    raw = zlib.decompress(raw)
                receiver.bodies.append(f"{self.path}\n{raw.decode('utf-8', 'replace')}")
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def dsn(self) -> str:
        return f"http://publickey@127.0.0.1:{self.server.server_address[1]}/42"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_off_by_default():
    assert not os.environ.get("SENTRY_DSN")
    assert settings.SENTRY_ENABLED is False
    assert not sentry_sdk.get_client().is_active()


def test_an_error_reaches_the_configured_dsn():
    receiver = SentryReceiver()
    key = "dbk_AbCdEfGhIjKl_" + "Q" * 43
    script = (
        "import django, logging\n"
        "django.setup()\n"
        "from django.conf import settings\n"
        "assert settings.SENTRY_ENABLED\n"
        f"logging.getLogger('dodo_billing').error('sentry-marker-51 with key %s', '{key}')\n"
        "raise RuntimeError('sentry-marker-52 unhandled')\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dodo_billing.settings",
        "SENTRY_DSN": receiver.dsn,
        "SENTRY_ENVIRONMENT": "tests",
    }
    try:
        result = subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
    finally:
        receiver.close()
    assert result.returncode == 1 and "sentry-marker-52" in result.stderr
    received = "\n".join(receiver.bodies)
    assert "/api/42/envelope/" in received
    events = [
        json.loads(line) for body in receiver.bodies for line in body.splitlines()[1:] if line.startswith("{")
    ]
    messages = [e for e in events if "sentry-marker-51" in json.dumps(e)]
    crashes = [e for e in events if "sentry-marker-52" in json.dumps(e)]
    assert messages and crashes, received[:3000]
    assert all(e.get("environment") == "tests" for e in messages + crashes if "environment" in e)
    assert "Q" * 43 not in received  # the key's secret was scrubbed
