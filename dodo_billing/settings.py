"""Settings for dodo_billing.

Everything that differs between machines comes from environment variables; every default is safe
for a developer laptop (SQLite, a broker that needs no server, DEBUG off unless asked for).
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url

from dodo_billing.observability.logs import logging_config
from dodo_billing.observability.sentry import sentry_init

BASE_DIR = Path(__file__).resolve().parent.parent
RUN_DIR = Path(os.environ.get("DODO_RUN_DIR", BASE_DIR / ".run"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _secret_key() -> str:
    """SECRET_KEY from the environment, else a random key kept in the run folder (never in git)."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    key_file = RUN_DIR / "secret_key"
    try:
        return key_file.read_text().strip()
    except FileNotFoundError:
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        key_file.write_text(key)
        key_file.chmod(0o600)
        return key


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "django_tables2",
    "django_htmx",
    "axes",
    "corsheaders",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "dodo_billing",
    "customers",
    "wallets",
    "metering",
    "portal",
]

MIDDLEWARE = [
    "dodo_billing.observability.logs.RequestIdMiddleware",
    "dodo_billing.observability.middleware.MetricsMiddleware",
    # Before everything that may answer, so that every answer of the API (errors and preflights too)
    # gets the CORS policy.
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything that resolves the path: a NUL byte in it is a 404 (see the class).
    "dodo_billing.middleware.NulPathMiddleware",
    "dodo_billing.api.middleware.ApiOptionsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dodo_billing.urls"
WSGI_APPLICATION = "dodo_billing.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dodo_billing.context_processors.business",
            ],
        },
    },
]

# Database: PostgreSQL through psycopg 3 when DATABASE_URL says so, else a SQLite file here.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        # Check a reused connection before each request's first query, so a database restart
        # costs no failed request (one extra round trip per request; off with DB_CONN_HEALTH_CHECKS=0).
        conn_health_checks=env_bool("DB_CONN_HEALTH_CHECKS", True),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several threads (server, worker, tests) share the file: wait for locks instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A file, not an in-memory database, for tests: live-server threads then open connections of
    # their own instead of sharing the test's one across threads.
    DATABASES["default"]["TEST"] = {"NAME": str(RUN_DIR / "test.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in throttling (django-axes): after AXES_FAILURE_LIMIT failed sign-ins for one username from
# one address, that pair is locked out for AXES_COOLOFF_MINUTES; a success resets the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("AXES_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# Security headers on every answer (the production module adds HTTPS-only settings).
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Content-Security-Policy (django-csp): scripts only from our own static files (no inline script,
# no event-handler attribute, no eval), nothing embeds our pages, forms post only to us. Inline
# style attributes stay allowed (templates size a card here and there; htmx adds its indicator
# style). The API's Swagger and ReDoc pages, which run inline scripts, are exempt.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
# The project's own files, then the front-end packages that `make install` puts in node_modules
# (package.json pins them); collectstatic copies both into STATIC_ROOT. Production serves from
# STATIC_ROOT alone (settings_production): node_modules is needed at build time only.
NODE_MODULES = Path(os.environ.get("NODE_MODULES_DIR", BASE_DIR / "node_modules"))
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/bootstrap", NODE_MODULES / "bootstrap" / "dist"),
    ("vendor/bootstrap-icons", NODE_MODULES / "bootstrap-icons" / "font"),
    ("vendor/htmx", NODE_MODULES / "htmx.org" / "dist"),
    ("vendor/chart.js", NODE_MODULES / "chart.js" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedStaticFilesStorage"
        )
    },
}
# Serve straight from the app/static folders when collectstatic has not been run (make run, tests).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Largest request body accepted (API: 413 PAYLOAD_TOO_LARGE above it). A maximal ingest request of
# 1,000 events is ~1 MB in practice; 8 MiB leaves room for large metadata.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("API_MAX_BODY_BYTES", str(8 * 1024 * 1024)))

# --- Money ---------------------------------------------------------------------------------------
# Currencies a customer holds a wallet in; every new customer gets one zero-balance wallet each.
WALLET_CURRENCIES = env_list("WALLET_CURRENCIES", "USD,INR")

# --- REST API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["dodo_billing.api.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["dodo_billing.api.auth.HasApiKey"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["dodo_billing.api.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "dodo_billing.api.pagination.PageNumberPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "dodo_billing.api.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "STRICT_JSON": True,
    "COERCE_DECIMAL_TO_STRING": True,
    "DEFAULT_THROTTLE_CLASSES": ["dodo_billing.api.throttling.ApiKeyRateThrottle"],
}
# The cache holds the API's rate-limit counters: Redis shares them between web workers
# (CACHE_URL=redis://127.0.0.1:6379/1); the default keeps them in each process.
CACHE_URL = os.environ.get("CACHE_URL", "")
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "dodo-billing"}
    }
# Per-API-key limits ("<n>/min,<n>/s", or "off"); see dodo_billing/api/throttling.py.
API_RATE_LIMIT = os.environ.get("API_RATE_LIMIT", "6000/min,200/s")
# Webhook deliveries go to public internet addresses only (dodo_billing/egress.py): a URL on
# loopback, private, link-local, CGNAT … addresses is refused at registration and at delivery. A
# self-hosted install whose receivers live on its own network turns this on.
WEBHOOK_ALLOW_PRIVATE_TARGETS = env_bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", False)
# CORS (django-cors-headers), on /api/ only: browsers may call the API from these origins
# ("https://app.example.com,http://localhost:3000"); none by default. API keys travel in the
# Authorization header, never in cookies, so credentials stay off.
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", "")
CORS_ALLOW_CREDENTIALS = False
# The official JavaScript SDK sends its x-stainless-* headers with every request.
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "idempotency-key",
    "x-stainless-arch",
    "x-stainless-lang",
    "x-stainless-os",
    "x-stainless-package-version",
    "x-stainless-retry-count",
    "x-stainless-runtime",
    "x-stainless-runtime-version",
    "x-stainless-timeout",
)
CORS_EXPOSE_HEADERS = ("retry-after", "x-should-retry")
CORS_PREFLIGHT_MAX_AGE = 600
SPECTACULAR_SETTINGS = {
    "TITLE": "dodo_billing API",
    "DESCRIPTION": (
        "Wire-compatible with the Dodo Payments API: point the official SDK at "
        "`http://HOST:PORT/api` and use it unchanged."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "dodo_billing.api.schema.wrap_list_responses",
        "dodo_billing.api.schema.document_query_parameter_errors",
    ],
    "ENUM_NAME_OVERRIDES": {
        "CurrencyEnum": "dodo_billing.money.CURRENCY_CHOICES",
        # pending / succeeded / failed: a refund's state (webhook deliveries share the values)
        "SettlementStatusEnum": "metering.models.RefundStatus.choices",
    },
}

# --- Celery --------------------------------------------------------------------------------------
# With no CELERY_BROKER_URL the broker is a folder on disk: `make run` needs no server.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = RUN_DIR / "broker"
    for _folder in ("queue", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
# Three queues, so that a burst of one kind of work cannot starve another: cycle billing and
# payment retries on "billing", webhook deliveries on "webhooks", the rest (reconciliation,
# e-mail) on "celery". A worker started without -Q consumes all three, taking from each in
# turn; a busy deployment can run workers for one queue only (`celery worker -Q webhooks`).
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = {"celery": {}, "billing": {}, "webhooks": {}}
CELERY_TASK_ROUTES = {
    "metering.tasks.*": {"queue": "billing"},
    # Task names, not module paths: these tasks live in dodo_billing/webhooks/tasks.py.
    "dodo_billing.tasks.deliver_webhook": {"queue": "webhooks"},
    "dodo_billing.tasks.sweep_webhook_deliveries": {"queue": "webhooks"},
}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes every database connection after every task unless this is set; then
# it closes them only every this many tasks. Connections are kept under Django's rules instead
# (CONN_MAX_AGE, health checks; dodo_billing/celery.py), which saves a new PostgreSQL connection
# (several ms) per task.
CELERY_DB_REUSE_MAX = 1000
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(RUN_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "reconcile-wallets-nightly": {
        "task": "wallets.tasks.reconcile_wallets",
        "schedule": 24 * 60 * 60,
    },
    # Webhook deliveries that are due with no task in flight (long backoffs, lost tasks).
    "sweep-webhook-deliveries": {
        "task": "dodo_billing.tasks.sweep_webhook_deliveries",
        "schedule": float(os.environ.get("WEBHOOK_SWEEP_SECONDS", "30")),
    },
    # Every period that has ended and is not billed, whatever happened to earlier task messages.
    "bill-due-subscriptions": {
        "task": "metering.tasks.bill_due_subscriptions",
        "schedule": float(os.environ.get("BILLING_SWEEP_SECONDS", "60")),
    },
    "retry-failed-payments": {"task": "metering.tasks.retry_failed_payments", "schedule": 5 * 60},
}

# Billing's and the ledger's hot reads run as server-side prepared statements (dodo_billing.db.compiled).
# Turn off behind a pooler in transaction mode, which gives each transaction another server session.
DB_PREPARED_STATEMENTS = env_bool("DB_PREPARED_STATEMENTS", True)

# A subscription-period whose billing fails this many times (any cause but an unreachable database)
# is not retried again: it needs attention, shown in the dashboard and admin, until an operator
# retries it.
BILLING_MAX_ATTEMPTS = int(os.environ.get("BILLING_MAX_ATTEMPTS", "5"))

# --- Operations: health, metrics (docs/operations.md) -----------------------------------------------
# Beat enqueues a heartbeat task on every queue this often; /health/ready fails when a queue's last
# heartbeat is older than HEALTH_HEARTBEAT_MAX_AGE_SECONDS (0: not checked).
HEARTBEAT_SECONDS = float(os.environ.get("HEARTBEAT_SECONDS", "30"))
HEALTH_HEARTBEAT_MAX_AGE_SECONDS = float(os.environ.get("HEALTH_HEARTBEAT_MAX_AGE_SECONDS", "180"))
for _queue in CELERY_TASK_QUEUES:
    CELERY_BEAT_SCHEDULE[f"heartbeat-{_queue}"] = {
        "task": "dodo_billing.observability.tasks.heartbeat",
        "schedule": HEARTBEAT_SECONDS,
        "args": [_queue],
        "options": {"queue": _queue, "expires": HEARTBEAT_SECONDS},
    }
# /health/ready fails above these many due webhook deliveries / ended, unbilled periods.
HEALTH_WEBHOOK_BACKLOG_MAX = int(os.environ.get("HEALTH_WEBHOOK_BACKLOG_MAX", "10000"))
HEALTH_BILLING_BACKLOG_MAX = int(os.environ.get("HEALTH_BILLING_BACKLOG_MAX", "10000"))
HEALTH_CHECK_TIMEOUT_SECONDS = float(os.environ.get("HEALTH_CHECK_TIMEOUT_SECONDS", "3"))
# /health/ready shows each check's outcome, and /metrics answers, to a request carrying
# "Authorization: Bearer <token>" or coming from one of OPS_INTERNAL_NETWORKS (CIDRs; none by
# default: behind a proxy every request may seem to come from 127.0.0.1).
HEALTH_TOKEN = os.environ.get("HEALTH_TOKEN", "")
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
OPS_INTERNAL_NETWORKS = env_list("OPS_INTERNAL_NETWORKS", "")
# /metrics reads its database and broker gauges at most this often per process, each query limited
# to METRICS_QUERY_TIMEOUT_SECONDS. PROMETHEUS_MULTIPROC_DIR (environment only, read by
# prometheus-client) makes every process's counters add up across gunicorn and Celery workers.
METRICS_CACHE_SECONDS = float(os.environ.get("METRICS_CACHE_SECONDS", "10"))
METRICS_QUERY_TIMEOUT_SECONDS = float(os.environ.get("METRICS_QUERY_TIMEOUT_SECONDS", "5"))

# --- Retention (docs/retention.md) ------------------------------------------------------------------
# Days kept: webhook attempts, finished deliveries and their events; ended portal sessions and
# expired links; raw usage events (0 = forever; never those of a period not yet billed).
RETENTION_WEBHOOK_DAYS = float(os.environ.get("RETENTION_WEBHOOK_DAYS", "30"))
RETENTION_PORTAL_DAYS = float(os.environ.get("RETENTION_PORTAL_DAYS", "30"))
RETENTION_EVENTS_DAYS = float(os.environ.get("RETENTION_EVENTS_DAYS", "0"))
# Beat prunes every RETENTION_SECONDS, RETENTION_BATCH_SIZE rows per DELETE, for at most
# RETENTION_MAX_SECONDS per run.
RETENTION_SECONDS = float(os.environ.get("RETENTION_SECONDS", "3600"))
RETENTION_BATCH_SIZE = int(os.environ.get("RETENTION_BATCH_SIZE", "1000"))
RETENTION_MAX_SECONDS = float(os.environ.get("RETENTION_MAX_SECONDS", "120"))
CELERY_BEAT_SCHEDULE["retention-prune"] = {
    "task": "dodo_billing.retention.tasks.prune",
    "schedule": RETENTION_SECONDS,
    "options": {"expires": RETENTION_SECONDS},
}

# A webhook attempt that has not reported back this long after it started (its worker was killed)
# is due again; a delivery whose first task has not run this long after its event is re-enqueued.
WEBHOOK_LEASE_SECONDS = float(os.environ.get("WEBHOOK_LEASE_SECONDS", "60"))
WEBHOOK_NEVER_RAN_GRACE_SECONDS = float(os.environ.get("WEBHOOK_NEVER_RAN_GRACE_SECONDS", "60"))

# Logs: plain text, or JSON lines with LOG_FORMAT=json; every line carries the request id (see
# dodo_billing/observability/logs.py); LOG_REQUESTS logs one line per request (on with JSON).
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain").strip().lower()
LOGGING = logging_config(
    log_format=LOG_FORMAT,
    level=os.environ.get("LOG_LEVEL", "INFO"),
    access=env_bool("LOG_REQUESTS", LOG_FORMAT == "json"),
)
# JSON logs in workers too: Celery then leaves the root logger as configured above.
CELERY_WORKER_HIJACK_ROOT_LOGGER = LOG_FORMAT != "json"

# Errors (Django requests, Celery tasks, ERROR log lines) go to Sentry, or any service that speaks
# its protocol, when SENTRY_DSN is set; off by default.
SENTRY_DSN = os.environ.get("SENTRY_DSN", "")
SENTRY_ENABLED = sentry_init(
    dsn=SENTRY_DSN,
    environment=os.environ.get("SENTRY_ENVIRONMENT", ""),
    release=os.environ.get("SENTRY_RELEASE", ""),
    traces_sample_rate=float(os.environ.get("SENTRY_TRACES_SAMPLE_RATE", "0")),
)

# --- Customer portal and email -------------------------------------------------------------------
# Email goes through Django's backend: the console backend (prints the message) unless set.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "billing@localhost")
# Emails are sent by a Celery task (docs/email.md): the SMTP connection gives up after EMAIL_TIMEOUT
# seconds, and a failed send is retried EMAIL_MAX_RETRIES times, EMAIL_RETRY_SECONDS·2^n apart.
EMAIL_TIMEOUT = float(os.environ.get("EMAIL_TIMEOUT", "10"))
EMAIL_MAX_RETRIES = int(os.environ.get("EMAIL_MAX_RETRIES", "5"))
EMAIL_RETRY_SECONDS = float(os.environ.get("EMAIL_RETRY_SECONDS", "30"))
# A portal link opens once, within this many seconds of its creation (24 h).
PORTAL_LINK_MAX_AGE = int(os.environ.get("PORTAL_LINK_MAX_AGE", str(24 * 60 * 60)))
# A portal session ends after this long without a request (1 h), and at the latest this long after
# it started (12 h), whichever comes first; the customer can sign out sooner.
PORTAL_SESSION_IDLE_AGE = int(os.environ.get("PORTAL_SESSION_IDLE_AGE", str(60 * 60)))
PORTAL_SESSION_MAX_AGE = int(os.environ.get("PORTAL_SESSION_MAX_AGE", str(12 * 60 * 60)))
PORTAL_COOKIE_NAME = "dodo_portal"
