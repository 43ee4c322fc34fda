"""Console sign-in with OpenID Connect (authorization code + PKCE S256, state, nonce) against a
tiny identity provider served over HTTP in the test: its discovery document, an authorize
endpoint that redirects back with a code, a token endpoint that checks the PKCE verifier, and
its JWKS. The access token's claims become the console session's permissions."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from tests.api.helpers import make_app, make_job
from tests.conftest import APPLICATION_ADMINISTRATOR, LiveServer, serve_sqlite

from provisiond.config import Settings
from provisiond.store.db import DEFAULT_TENANT_ID

CLIENT_ID = "provisiond-console"


@dataclass
class IdentityProvider:
    """What the provider issues; tests change these to misbehave."""

    url: str = ""
    key: Any = field(default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048))
    scopes: str = "Synchronization.ReadWrite.All Application.ReadWrite.All"
    tenant: str = DEFAULT_TENANT_ID
    wrong_nonce: bool = False
    pending: dict[str, dict[str, str]] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "test-key"})

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": "test-key", "use": "sig", "alg": "RS256"}]}

    def tokens(self, code: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.token_requests.append(form)
        request = self.pending.pop(code, None)
        if (
            request is None
            or form.get("grant_type") != "authorization_code"
            or form.get("client_id") != CLIENT_ID
        ):
            return 400, {"error": "invalid_grant"}
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != request["code_challenge"] or form.get("redirect_uri") != request["redirect_uri"]:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        now = int(time.time())
        common = {"iss": self.url, "iat": now, "nbf": now, "exp": now + 3600, "tid": self.tenant}
        oid = str(uuid.uuid4())
        nonce = "not-yours" if self.wrong_nonce else request["nonce"]
        id_token = {**common, "aud": CLIENT_ID, "sub": oid, "nonce": nonce, "name": "Ada Lovelace"}
        access = {
            **common,
            "aud": "https://graph.microsoft.com",
            "scp": self.scopes,
            "wids": [APPLICATION_ADMINISTRATOR],
            "oid": oid,
            "azp": CLIENT_ID,
        }
        return 200, {
            "id_token": self.sign(id_token),
            "access_token": self.sign(access),
            "token_type": "Bearer",
        }


def _handler(idp: IdentityProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            if url.path == "/.well-known/openid-configuration":
                self._json(
                    200,
                    {
                        "issuer": idp.url,
                        "authorization_endpoint": f"{idp.url}/authorize",
                        "token_endpoint": f"{idp.url}/token",
                        "jwks_uri": f"{idp.url}/jwks",
                    },
                )
            elif url.path == "/jwks":
                self._json(200, idp.jwks())
            elif url.path == "/authorize":
                assert query["response_type"] == "code" and query["client_id"] == CLIENT_ID
                assert query["code_challenge_method"] == "S256" and "openid" in query["scope"].split()
                code = uuid.uuid4().hex
                idp.pending[code] = query
                back = urllib.parse.urlencode({"code": code, "state": query["state"]})
                self.send_response(302)
                self.send_header("Location", f"{query['redirect_uri']}?{back}")
                self.end_headers()
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            status, body = idp.tokens(form.get("code", ""), form)
            self._json(status, body)

    return Handler


@pytest.fixture
def idp() -> Iterator[IdentityProvider]:
    provider = IdentityProvider()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provider))
    provider.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield provider
    server.shutdown()


@pytest.fixture
def oidc_server(idp: IdentityProvider, sqlite_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    settings = Settings(
        data_dir=tmp_path / "data",
        jwt_secret="test-secret-" + uuid.uuid4().hex,
        jwks_url=f"{idp.url}/jwks",
        jwt_issuer=idp.url,
        oidc_client_id=CLIENT_ID,
    )
    yield from serve_sqlite(sqlite_url, settings)


def _sign_in(server: LiveServer) -> tuple[httpx.Client, httpx.Response]:
    browser = httpx.Client(base_url=server.url, timeout=30, follow_redirects=True)
    page = browser.get("/console/signin")
    assert "Sign in with your identity provider" in page.text
    return browser, browser.get("/console/signin/oidc")


def test_oidc_sign_in_with_pkce_makes_the_access_token_the_sessions_identity(
    oidc_server: LiveServer, idp: IdentityProvider
) -> None:
    browser, entered = _sign_in(oidc_server)
    assert entered.status_code == 200, entered.text
    assert "provisiond_console=" in entered.headers["set-cookie"]
    [request] = idp.token_requests
    assert request["code_verifier"] and "client_secret" not in request
    home = browser.get("/console")
    assert "Signed in as <strong>Ada Lovelace</strong>" in home.text
    with oidc_server.client() as api:
        sp_id = make_app(api)["servicePrincipal"]["id"]
        job_id = make_job(api, sp_id)["id"]
    job_page = browser.get(f"/console/apps/{sp_id}/jobs/{job_id}")
    assert job_page.status_code == 200
    assert f'action="/console/apps/{sp_id}/jobs/{job_id}/start"' in job_page.text
    browser.close()


def test_an_oidc_identity_with_read_permission_only_gets_no_actions(
    oidc_server: LiveServer, idp: IdentityProvider
) -> None:
    idp.scopes = "Synchronization.Read.All"
    browser, entered = _sign_in(oidc_server)
    assert entered.status_code == 200
    with oidc_server.client() as api:
        sp_id = make_app(api)["servicePrincipal"]["id"]
        job_id = make_job(api, sp_id)["id"]
    job_page = browser.get(f"/console/apps/{sp_id}/jobs/{job_id}")
    assert job_page.status_code == 200
    assert "/start" not in job_page.text and "Restart…" not in job_page.text
    browser.close()


def test_a_callback_is_used_once_and_a_wrong_nonce_or_tenant_is_refused(
    oidc_server: LiveServer, idp: IdentityProvider
) -> None:
    with httpx.Client(base_url=oidc_server.url, timeout=30) as browser:
        to_idp = browser.get("/console/signin/oidc")
        assert to_idp.status_code == 303
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(to_idp.headers["location"]).query))
        assert query["code_challenge_method"] == "S256" and query["nonce"] and query["state"]
        back = httpx.get(to_idp.headers["location"], timeout=30).headers["location"]
        callback = urllib.parse.urlsplit(back)
        assert browser.get(f"{callback.path}?{callback.query}").status_code == 200
        replay = browser.get(f"{callback.path}?{callback.query}")
        assert replay.status_code == 400 and "unknown or has expired" in replay.text
        forged = browser.get(f"{callback.path}?code=x&state=made-up")
        assert forged.status_code == 400 and "set-cookie" not in forged.headers

    idp.wrong_nonce = True
    browser, entered = _sign_in(oidc_server)
    assert entered.status_code == 400 and "nonce" in entered.text
    assert "set-cookie" not in entered.headers
    browser.close()

    idp.wrong_nonce = False
    idp.tenant = str(uuid.uuid4())
    browser, entered = _sign_in(oidc_server)
    assert entered.status_code == 403 and "tenant" in entered.text
    browser.close()
