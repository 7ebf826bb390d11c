"""Production settings: the defaults of ``dodo_billing.settings`` plus HTTPS-only cookies, HSTS and
a required SECRET_KEY. ``DJANGO_SETTINGS_MODULE=dodo_billing.settings_production`` passes
``python manage.py check --deploy`` when served behind HTTPS (a proxy that sets
``X-Forwarded-Proto``) with DATABASE_URL, CELERY_BROKER_URL, CACHE_URL and SECRET_KEY set.
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from dodo_billing.settings import *  # noqa: F403
from dodo_billing.settings import STATICFILES_DIRS, STORAGES, env_bool

if len(os.environ.get("SECRET_KEY", "")) < 50:
    raise ImproperlyConfigured(
        "Production needs SECRET_KEY in the environment (50 or more random characters)."
    )

DEBUG = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 60 * 60)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SECURE_REDIRECT_EXEMPT = [r"^api/", r"^health/", r"^metrics$"]  # API clients and probes: no redirect

# Static files: `manage.py collectstatic` at build time copies the project's files and the
# front-end packages into STATIC_ROOT, with content-hashed names and compressed copies; the
# server then reads STATIC_ROOT only (no finders), so node_modules and npm are not needed to run.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}}
WHITENOISE_USE_FINDERS = False
WHITENOISE_AUTOREFRESH = False
STATICFILES_DIRS = [
    entry for entry in STATICFILES_DIRS if Path(entry[1] if isinstance(entry, tuple) else entry).is_dir()
]
