"""Beffroi settings: one module, driven by environment variables with safe defaults.

Every variable read here is listed in the README's configuration table.
"""

from __future__ import annotations

import os
import zoneinfo
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from beffroi.core.secrets import load_or_create_secret_key, load_or_create_token_keys

BASE_DIR = Path(__file__).resolve().parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# Where Beffroi keeps what it creates: the SQLite database, generated secrets, uploaded media.
DATA_DIR = Path(os.environ.get("BEFFROI_DATA_DIR") or Path.cwd() / "data").resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG")
SECRET_KEY = os.environ.get("SECRET_KEY") or load_or_create_secret_key(DATA_DIR / "secret_key")
# Fernet keys for credentials at rest; the first encrypts, all decrypt (rotation: put the new key first).
TOKEN_ENCRYPTION_KEYS = env_list("BEFFROI_TOKEN_KEYS") or load_or_create_token_keys(DATA_DIR / "token_keys")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
BASE_URL = os.environ.get("BEFFROI_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "beffroi.core",
    "beffroi.accounts",
    "beffroi.organisations",
    "beffroi.channels",
    "beffroi.publishing",
    "beffroi.networks",
    "beffroi.media",
    "beffroi.insights",
    "beffroi.web",
    "beffroi.demo",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "django_tasks_db",
]

# Background jobs other than publishing (notifications, later statistics and inbox sync) go through
# Django's tasks API, stored in the database: run by `beffroi serve` in-process and by every `beffroi worker`.
# On PostgreSQL, django-tasks-db claims with SKIP LOCKED, so it scales out across hosts as publishing does.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "beffroi.core.middleware.RequestLogMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "beffroi.core.middleware.ViewerPreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "beffroi.urls"
ASGI_APPLICATION = "beffroi.asgi.application"
WSGI_APPLICATION = "beffroi.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "beffroi.organisations.context_processors.tenancy",
                "beffroi.core.context_processors.time_zones",
            ],
        },
    },
]

# Database: SQLite in the data folder unless DATABASE_URL says otherwise.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'beffroi.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + IMMEDIATE transactions: readers never block the writer and writers queue instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }
    # Tests use a file too, not a shared in-memory database: the worker's threads and processes then see
    # the same locking (WAL, busy timeout) as in production.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-beffroi.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"

# django-allauth: people log in by e-mail; accounts come from invitations, not open sign-up.
ACCOUNT_ADAPTER = "beffroi.accounts.adapter.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_RATE_LIMITS = {
    # Five wrong passwords for one account within five minutes lock that account's login for a while.
    "login_failed": os.environ.get("BEFFROI_LOGIN_RATE_LIMIT", "20/m/ip,5/5m/key"),
    "reset_password": "20/m/ip,5/m/key",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Beffroi"

# Internationalisation: French first, complete English translation.
LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("French")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = os.environ.get("TIME_ZONE", "Europe/Paris")
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
    raise ImproperlyConfigured(f"TIME_ZONE={TIME_ZONE!r} is not an IANA time zone") from exc
LANGUAGE_COOKIE_NAME = "beffroi_language"

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = True
MEDIA_URL = "/media/"
MEDIA_ROOT = DATA_DIR / "media"
# Where networks that fetch media themselves (Instagram, Facebook) download them: must be public HTTPS.
PUBLIC_MEDIA_URL = os.environ.get("BEFFROI_PUBLIC_MEDIA_URL", "").rstrip("/")
MAX_UPLOAD_MB = int(os.environ.get("BEFFROI_MAX_UPLOAD_MB", "200"))
# Connecting to a server a person types (a Mastodon instance, a Bluesky PDS) on a private or local address is
# refused (SSRF) unless DEBUG or these are set: for a network's own test server, or an intranet instance.
MASTODON_ALLOW_PRIVATE_INSTANCES = os.environ.get("BEFFROI_ALLOW_PRIVATE_SERVERS", "") == "1"
BLUESKY_ALLOW_PRIVATE_SERVICES = MASTODON_ALLOW_PRIVATE_INSTANCES
# Link previews in the composer fetch addresses people type: public ones only, unless this is set.
LINK_PREVIEW_ALLOW_PRIVATE = MASTODON_ALLOW_PRIVATE_INSTANCES
# Where Bluesky identities (did:plc) are resolved when connecting with OAuth.
BLUESKY_PLC_URL = os.environ.get("BEFFROI_BLUESKY_PLC_URL", "https://plc.directory")
# Meta's Graph API (Facebook Pages, Instagram): the version every call uses, and Beffroi's apps there.
BEFFROI_GRAPH_API_VERSION = os.environ.get("BEFFROI_GRAPH_API_VERSION", "v24.0")
BEFFROI_FACEBOOK_APP_ID = os.environ.get("BEFFROI_FACEBOOK_APP_ID", "")
BEFFROI_FACEBOOK_APP_SECRET = os.environ.get("BEFFROI_FACEBOOK_APP_SECRET", "")
BEFFROI_FACEBOOK_LOGIN_CONFIG_ID = os.environ.get("BEFFROI_FACEBOOK_LOGIN_CONFIG_ID", "")
BEFFROI_INSTAGRAM_APP_ID = os.environ.get("BEFFROI_INSTAGRAM_APP_ID", "")
BEFFROI_INSTAGRAM_APP_SECRET = os.environ.get("BEFFROI_INSTAGRAM_APP_SECRET", "")
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# E-mail: printed on the console unless an SMTP host is configured (Django 6.1 MAILERS).
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
if EMAIL_HOST:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": EMAIL_HOST,
                "port": int(os.environ.get("EMAIL_PORT", "587")),
                "username": os.environ.get("EMAIL_HOST_USER", ""),
                "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
                "use_tls": env_bool("EMAIL_USE_TLS", True),
                "timeout": 20,
            },
        }
    }
else:
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
del EMAIL_HOST
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Beffroi <beffroi@localhost>")

# Security headers and cookies. BEFFROI_HTTPS=1 when served over HTTPS behind a reverse proxy.
HTTPS = env_bool("BEFFROI_HTTPS")
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 31536000
SECURE_CSP = {
    "default-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "style-src": ["'self'"],
    "script-src": ["'self'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
}
MIDDLEWARE.insert(1, "django.middleware.csp.ContentSecurityPolicyMiddleware")

# Structured logs: one JSON object per line (LOG_FORMAT=text for humans), secrets redacted.
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
LOG_FORMAT = os.environ.get("LOG_FORMAT", "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "beffroi.core.logging.RedactSecretsFilter"}},
    "formatters": {
        "json": {"()": "beffroi.core.logging.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "text",
            "filters": ["redact"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "uvicorn.access": {"level": "WARNING"},
    },
}

INVITATION_VALIDITY_DAYS = int(os.environ.get("BEFFROI_INVITATION_DAYS", "14"))
