"""A SCIM app written by others, for the end-to-end tests: django-scim2 (from PyPI) inside a
minimal Django project, as an application team would build it for Microsoft Entra.

django-scim2 is a framework: it brings the SCIM views, the filter parser and the PATCH plumbing,
and each app writes its models and adapters (its docs and demo do exactly this). What this app
adds for Entra is in `adapters.py`; `launcher.py` runs it as a real HTTP server in a subprocess.
"""

TOKEN = "django-scim2-e2e-token"
