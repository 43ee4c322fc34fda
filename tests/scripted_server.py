"""A real HTTP server that answers what a test scripts, per path: for apps that misbehave in
ways scim2-server never does (wrong status, not JSON, a malformed ListResponse, paging)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/scim+json"


def json_answer(value: Any, status: int = 200) -> Answer:
    return Answer(status, json.dumps(value).encode())


# An answer may depend on the query string (paging).
Script = dict[str, Answer | Callable[[dict[str, list[str]]], Answer]]


@dataclass
class ScriptedServer:
    url: str
    script: Script
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)


@contextmanager
def scripted_server(script: Script) -> Iterator[ScriptedServer]:
    """Serve `script` (path → answer; anything else is 404) on a free loopback port."""
    state = ScriptedServer("", script)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            state.requests.append(("GET", self.path, dict(self.headers.items())))
            entry = state.script.get(parts.path)
            answer = (
                Answer(404, b'{"detail":"not found"}')
                if entry is None
                else entry(parse_qs(parts.query))
                if callable(entry)
                else entry
            )
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/scim"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
