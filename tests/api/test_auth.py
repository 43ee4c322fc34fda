"""Bearer tokens: every broken token is a 401 Graph error; good HS256 and JWKS tokens pass."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from tests.api.helpers import assert_graph_error, store_snapshot
from tests.conftest import LiveServer, run_server

from provisiond.api.app import create_app
from provisiond.api.auth import TokenVerifier, mint_token
from provisiond.api.errors import GraphError
from provisiond.config import Settings

SCOPES = "User.ReadWrite.All"


def _claims(settings: Settings, **overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "aud": "https://graph.microsoft.com",
        "iss": settings.issuer,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "scp": SCOPES,
        "oid": "00000000-0000-0000-0000-0000000000aa",
        "appid": "00000000-0000-0000-0000-0000000000bb",
        "tid": settings.token_tenant_id,
    }
    claims.update(overrides)
    return claims


def _get(server: LiveServer, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.get(f"{server.url}/v1.0/users", headers=headers)


def test_a_minted_token_is_accepted(sqlite_server: LiveServer) -> None:
    assert _get(sqlite_server, mint_token(sqlite_server.settings, scopes=[SCOPES])).status_code == 200


def test_the_second_graph_audience_is_accepted(sqlite_server: LiveServer) -> None:
    claims = _claims(sqlite_server.settings, aud="00000003-0000-0000-c000-000000000000")
    token = jwt.encode(claims, sqlite_server.settings.hs256_secret(), algorithm="HS256")
    assert _get(sqlite_server, token).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"nbf": int(time.time()) + 3600}, "not yet valid"),
        ({"aud": "https://management.azure.com"}, "audience"),
        ({"iss": "https://evil.example/"}, "issuer"),
    ],
)
def test_invalid_claims_are_401(
    sqlite_server: LiveServer, overrides: dict[str, object], message: str
) -> None:
    token = jwt.encode(
        _claims(sqlite_server.settings, **overrides), sqlite_server.settings.hs256_secret(), algorithm="HS256"
    )
    error = assert_graph_error(_get(sqlite_server, token), 401, "InvalidAuthenticationToken")
    assert message in error["message"]


class _Clock:
    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("exp_type", ["a string", True, None])
def test_a_token_whose_exp_is_not_a_time_is_401(settings: Settings, exp_type: object) -> None:
    verifier = TokenVerifier(settings)
    token = jwt.encode(_claims(settings, exp=exp_type), settings.hs256_secret(), algorithm="HS256")
    with pytest.raises(GraphError) as refused:
        verifier.verify(token)
    assert refused.value.status == 401


def test_an_accepted_token_is_remembered_only_until_it_expires(settings: Settings) -> None:
    clock = _Clock()
    verifier = TokenVerifier(settings, now=clock)
    token = jwt.encode(_claims(settings, exp=int(clock.now) + 60), settings.hs256_secret(), algorithm="HS256")
    first = verifier.verify(token)
    assert verifier.verify(token) is first  # remembered, not verified again
    clock.now += 60 + 30  # exp plus the 30 s of clock skew: still accepted
    assert verifier.verify(token) is first
    clock.now += 1
    with pytest.raises(GraphError) as refused:
        verifier.verify(token)
    assert refused.value.status == 401 and "expired" in refused.value.message


def test_a_token_not_yet_valid_on_the_verifiers_clock_is_401(settings: Settings) -> None:
    clock = _Clock()
    token = jwt.encode(
        _claims(settings, nbf=int(clock.now) + 100), settings.hs256_secret(), algorithm="HS256"
    )
    with pytest.raises(GraphError) as refused:
        TokenVerifier(settings, now=clock).verify(token)
    assert "not yet valid" in refused.value.message
    clock.now += 100
    assert TokenVerifier(settings, now=clock).verify(token).scopes == frozenset({SCOPES})


def test_bad_signature_is_401(sqlite_server: LiveServer) -> None:
    token = jwt.encode(
        _claims(sqlite_server.settings), "some-other-secret-of-enough-length!!", algorithm="HS256"
    )
    error = assert_graph_error(_get(sqlite_server, token), 401, "InvalidAuthenticationToken")
    assert "signature" in error["message"]


def test_alg_none_is_401(sqlite_server: LiveServer) -> None:
    token = jwt.encode(_claims(sqlite_server.settings), key=None, algorithm="none")
    error = assert_graph_error(_get(sqlite_server, token), 401, "InvalidAuthenticationToken")
    assert "none" in error["message"]


@pytest.mark.parametrize("header", [None, "Basic dXNlcjpwYXNz", "Bearer", "Bearer not.a.jwt"])
def test_missing_or_malformed_authorization_is_401(sqlite_server: LiveServer, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = httpx.get(f"{sqlite_server.url}/v1.0/users", headers=headers)
    assert_graph_error(response, 401, "InvalidAuthenticationToken")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_rejected_token_changes_nothing(sqlite_server: LiveServer) -> None:
    before = store_snapshot(sqlite_server.db)
    token = jwt.encode(
        _claims(sqlite_server.settings, exp=1), sqlite_server.settings.hs256_secret(), algorithm="HS256"
    )
    response = httpx.post(
        f"{sqlite_server.url}/v1.0/users",
        headers={"Authorization": f"Bearer {token}"},
        json={"displayName": "x", "mailNickname": "x", "userPrincipalName": "x@y.z", "accountEnabled": True},
    )
    assert_graph_error(response, 401)
    assert store_snapshot(sqlite_server.db) == before


class _Jwks:
    """A real HTTP server publishing a JWKS document, as an identity provider does."""

    def __init__(self, keys: list[dict[str, object]]) -> None:
        body = json.dumps({"keys": keys}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/keys"


@pytest.fixture
def idp_keys() -> Iterator[tuple[_Jwks, object, object]]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    keys = []
    for kid, key, alg in (("rsa-1", rsa_key, "RS256"), ("ec-1", ec_key, "ES256")):
        jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key.public_key()))
        keys.append({**jwk, "kid": kid, "use": "sig", "alg": alg})
    jwks = _Jwks(keys)
    yield jwks, rsa_key, ec_key
    jwks.server.shutdown()


@pytest.mark.parametrize(("alg", "kid"), [("RS256", "rsa-1"), ("ES256", "ec-1")])
def test_tokens_of_a_real_identity_provider_are_verified_through_jwks(
    tmp_path: Path, sqlite_url: str, idp_keys: tuple[_Jwks, object, object], alg: str, kid: str
) -> None:
    from provisiond.store.db import Database

    jwks, rsa_key, ec_key = idp_keys
    issuer = "https://login.example/tenant/v2.0"
    settings = Settings(data_dir=tmp_path, jwt_secret="x" * 40, jwks_url=jwks.url, jwt_issuer=issuer)
    db = Database(sqlite_url)
    db.migrate()
    url, server, thread = run_server(create_app(settings, db))
    key = rsa_key if alg == "RS256" else ec_key
    try:
        good = jwt.encode(_claims(settings, iss=issuer), key, algorithm=alg, headers={"kid": kid})
        ok = httpx.get(f"{url}/v1.0/users", headers={"Authorization": f"Bearer {good}"})
        assert ok.status_code == 200, ok.text
        wrong_issuer = jwt.encode(
            _claims(settings, iss="https://other/"), key, algorithm=alg, headers={"kid": kid}
        )
        assert_graph_error(
            httpx.get(f"{url}/v1.0/users", headers={"Authorization": f"Bearer {wrong_issuer}"}), 401
        )
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = jwt.encode(_claims(settings, iss=issuer), other, algorithm="RS256", headers={"kid": "rsa-1"})
        assert_graph_error(httpx.get(f"{url}/v1.0/users", headers={"Authorization": f"Bearer {forged}"}), 401)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        db.dispose()


def test_cli_token_is_accepted_by_a_server_on_the_same_data_dir(tmp_path: Path, sqlite_url: str) -> None:
    from typer.testing import CliRunner

    from provisiond.cli import app as cli
    from provisiond.store.db import Database

    result = CliRunner().invoke(cli, ["token", "--data-dir", str(tmp_path), "--scopes", "User.Read.All"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    db = Database(sqlite_url)
    db.migrate()
    url, server, thread = run_server(create_app(Settings(data_dir=tmp_path), db))
    try:
        assert httpx.get(f"{url}/v1.0/users", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        denied = httpx.post(f"{url}/v1.0/users", headers={"Authorization": f"Bearer {token}"}, json={})
        assert_graph_error(denied, 403)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        db.dispose()
