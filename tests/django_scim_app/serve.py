"""Run the app: create its tables, then serve it over HTTP on a free loopback port, printing the
port on the first line of stdout. `python -m tests.django_scim_app.serve` (DJANGO_SCIM_DB set)."""

from __future__ import annotations

import os
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.django_scim_app.settings")
    import django
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application

    django.setup()
    # No migration files: the app's tables come from its models, as `migrate --run-syncdb` makes them.
    call_command("migrate", run_syncdb=True, verbosity=0)
    server = make_server("127.0.0.1", 0, get_wsgi_application(), server_class=_Server, handler_class=_Quiet)
    print(server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
