"""The floor for bench/api.py: the least a FastAPI app must do to serve the same three requests.

    .venv/bin/python bench/api_floor.py --port 8080 --data-dir D [--database-url URL] [--workers N]

A minimal FastAPI app under uvicorn, with provisiond's uvicorn settings (one process unless
`--workers`, the asyncio loop and h11 that uvicorn picks here, access log configured as
provisiond's is, the same log level), on the database provisiond migrated and seeded, with the
same engine options (`provisiond.store.db.Database`: WAL and BEGIN IMMEDIATE writers on SQLite,
pool_pre_ping on PostgreSQL) and the same token check (PyJWT HS256 with the data dir's secret,
Graph's audiences, the local issuer, exp/aud/iss required, 30 s leeway, `tid` equal to the
database's tenant). Plain synchronous routes (FastAPI's thread pool), SQLAlchemy Core:

- `GET /v1.0/users/{id}`: SELECT the live user by id; its Graph v1.0 default properties as JSON;
- `GET /v1.0/users?$top=N`: SELECT the first N+1 live users in id order (provisiond reads one
  more to know whether there is a next page); N of them and a nextLink as JSON;
- `PATCH /v1.0/users/{id}`: in one transaction, UPDATE the live user (404 when no row matched)
  and append the change-log row with `provisiond.store.changelog.append_change`, the very SQL a
  directory write appends (on PostgreSQL: the change-log advisory lock, INSERT ... RETURNING
  seq and NOTIFY, which keep the watermark and the workers correct); 204.

It has no middleware, no OData parsing, no pydantic models and no error envelope: whatever
provisiond spends beyond this is the price of its own layers.
"""

from __future__ import annotations

import argparse
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import uvicorn
from fastapi import Body, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select, update

from provisiond.config import Settings
from provisiond.store.changelog import append_change
from provisiond.store.db import Database
from provisiond.store.tables import users

# Graph v1.0's default user properties (what provisiond answers without $select), by column.
DEFAULT_PROPERTIES = {
    "business_phones": "businessPhones",
    "display_name": "displayName",
    "given_name": "givenName",
    "job_title": "jobTitle",
    "mail": "mail",
    "mobile_phone": "mobilePhone",
    "office_location": "officeLocation",
    "preferred_language": "preferredLanguage",
    "surname": "surname",
    "user_principal_name": "userPrincipalName",
    "id": "id",
}
# The properties the benchmark's PATCH bodies set (wire name: column).
WRITABLE = {"jobTitle": "job_title", "department": "department", "officeLocation": "office_location"}
MAX_TOP = 999


def create_app(database_url: str, data_dir: Path) -> FastAPI:
    settings = Settings(data_dir=data_dir, database_url=database_url)
    db = Database(database_url)
    tenant = db.stored_tenant_id()
    if tenant is None:
        raise SystemExit("api_floor: the database has no tenant id; let provisiond migrate it first")
    secret = settings.hs256_secret()
    audiences = list(settings.audiences)
    issuer = settings.issuer
    live = users.c.deleted_date_time.is_(None)
    columns = [users.c[name] for name in DEFAULT_PROPERTIES]
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    def caller(request: Request) -> dict[str, Any]:
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HTTPException(401)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                audience=audiences,
                issuer=issuer,
                options={"require": ["exp", "aud", "iss"]},
                leeway=30,
            )
            if str(uuid.UUID(str(claims.get("tid")))) != tenant:
                raise HTTPException(401)
        except (jwt.PyJWTError, ValueError):
            raise HTTPException(401) from None
        return claims

    def wire(row: Any) -> dict[str, Any]:
        return {DEFAULT_PROPERTIES[key]: value for key, value in row.items()}

    @app.get("/v1.0/users/{user_id}")
    def get_user(user_id: str, _: dict[str, Any] = Depends(caller)) -> Response:
        with db.read() as conn:
            row = conn.execute(select(*columns).where(users.c.id == user_id, live)).mappings().first()
        if row is None:
            raise HTTPException(404)
        return JSONResponse(wire(row))

    @app.get("/v1.0/users")
    def list_users(request: Request, _: dict[str, Any] = Depends(caller)) -> Response:
        top = min(int(request.query_params.get("$top", "100")), MAX_TOP)
        with db.read() as conn:
            rows = (
                conn.execute(select(*columns).where(live).order_by(users.c.id).limit(top + 1))
                .mappings()
                .all()
            )
        body: dict[str, Any] = {"value": [wire(row) for row in rows[:top]]}
        if len(rows) > top:
            body["@odata.nextLink"] = (
                f"{str(request.url).split('?')[0]}?$top={top}&$skiptoken={rows[top - 1]['id']}"
            )
        return JSONResponse(body)

    @app.patch("/v1.0/users/{user_id}", status_code=204)
    def patch_user(
        user_id: str, body: dict[str, Any] = Body(...), _: dict[str, Any] = Depends(caller)
    ) -> Response:
        if not body or not set(body) <= set(WRITABLE):
            raise HTTPException(400)
        values = {WRITABLE[name]: value for name, value in body.items()}
        with db.transaction() as conn:
            if conn.execute(update(users).where(users.c.id == user_id, live).values(values)).rowcount == 0:
                raise HTTPException(404)
            append_change(
                conn, object_type="user", object_id=user_id, change_type="updated", at=datetime.now(UTC)
            )
        return Response(status_code=204)

    return app


def app_from_env() -> FastAPI:
    """The app for uvicorn's `--workers` (each worker process builds its own)."""
    return create_app(os.environ["API_FLOOR_DATABASE_URL"], Path(os.environ["API_FLOOR_DATA_DIR"]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--database-url", help="default: SQLite in the data dir, as provisiond's default")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    url = args.database_url or Settings(data_dir=args.data_dir).resolved_database_url
    os.environ["API_FLOOR_DATABASE_URL"] = url
    os.environ["API_FLOOR_DATA_DIR"] = str(args.data_dir)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")])
    )
    uvicorn.run(
        "api_floor:app_from_env",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        log_level=args.log_level,
        lifespan="on",
        workers=args.workers if args.workers > 1 else None,
    )


if __name__ == "__main__":
    main()
