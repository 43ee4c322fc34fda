"""Django settings: SQLite in the file DJANGO_SCIM_DB names, SCIM under /scim/v2/, one bearer token."""

from __future__ import annotations

import os

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "tests.django_scim_app.urls"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = ["django_scim", "tests.django_scim_app"]
MIDDLEWARE = ["tests.django_scim_app.auth.BearerTokenMiddleware"]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["DJANGO_SCIM_DB"],
        # Concurrent writes from the threaded server wait for each other instead of failing.
        "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE"},
    }
}

SCIM_SERVICE_PROVIDER = {
    "USER_MODEL_GETTER": "tests.django_scim_app.models.get_user_model",
    "USER_ADAPTER": "tests.django_scim_app.adapters.EntraUser",
    "GROUP_MODEL": "tests.django_scim_app.models.Group",
    "GROUP_ADAPTER": "tests.django_scim_app.adapters.EntraGroup",
    "USER_FILTER_PARSER": "tests.django_scim_app.filters.UserFilterQuery",
    "GROUP_FILTER_PARSER": "tests.django_scim_app.filters.GroupFilterQuery",
    "BASE_LOCATION_GETTER": "tests.django_scim_app.auth.base_location",
    "NETLOC": "127.0.0.1",  # mandatory; the locations come from the request's host instead
    "AUTHENTICATION_SCHEMES": [
        {
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "A static bearer token",
            "primary": True,
        }
    ],
    "EXPOSE_SCIM_EXCEPTIONS": True,
    "WWW_AUTHENTICATE_HEADER": 'Bearer realm="django-scim2"',
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django_scim": {"handlers": ["stderr"], "level": "ERROR"}},
}
