"""`POST .../jobs/{jobId}/bulkUpload` (reference §7.2): the documented examples are accepted
and staged before the 202; bad input is a 400 Graph envelope that stages nothing; 429 past 40
requests in 5 seconds; SynchronizationData-User.Upload (or .OwnedBy on an owned app)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from sqlalchemy import select
from tests.api.bulk_examples import (
    BULK_REQUEST,
    CORE,
    ENTERPRISE,
    EXAMPLE_1,
    EXAMPLE_2,
    EXAMPLE_3,
    SCIM_JSON,
    UPLOAD,
    bulk,
    hr_user,
    operation,
    upload,
)
from tests.api.helpers import assert_graph_error, make_app, make_job, store_snapshot
from tests.conftest import LiveServer, run_server

from provisiond.api.app import create_app
from provisiond.clock import ManualClock
from provisiond.config import Settings
from provisiond.store.db import Database
from provisiond.store.tables import inbound_records, sync_jobs

GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"


@dataclass
class InboundJob:
    server: LiveServer
    sp_id: str
    app_object_id: str
    job_id: str

    @property
    def url(self) -> str:
        return f"/servicePrincipals/{self.sp_id}/synchronization/jobs/{self.job_id}"

    def uploader(self, version: str = "v1.0") -> httpx.Client:
        return self.server.client(self.server.token(roles=[UPLOAD]), version)

    def staged(self) -> list[dict[str, Any]]:
        with self.server.db.read() as conn:
            query = select(inbound_records).where(inbound_records.c.job_id == self.job_id)
            return [dict(r) for r in conn.execute(query.order_by(inbound_records.c.seq)).mappings()]


def make_inbound_job(server: LiveServer) -> InboundJob:
    with server.client() as client:
        created = make_app(client, "HR inbound")
        sp_id = created["servicePrincipal"]["id"]
        job = make_job(client, sp_id, "API2AAD")
    return InboundJob(server, sp_id, created["application"]["id"], job["id"])


@pytest.fixture
def inbound(live_server: LiveServer) -> InboundJob:
    """An API2AAD job on the live server, on SQLite and PostgreSQL."""
    return make_inbound_job(live_server)


@pytest.fixture
def lite(sqlite_server: LiveServer) -> InboundJob:
    return make_inbound_job(sqlite_server)


def assert_rejected(job: InboundJob, response: httpx.Response, status: int = 400) -> str:
    error = assert_graph_error(response, status)
    return str(error["message"])


# The documented examples


@pytest.mark.parametrize("version", ["v1.0", "beta"])
def test_example_1_is_accepted_with_202_an_empty_body_and_a_location_header_to_the_job_logs(
    inbound: InboundJob, version: str
) -> None:
    with inbound.uploader(version) as client:
        response = upload(client, inbound.url, EXAMPLE_1)
    assert response.status_code == 202, response.text
    assert response.content == b""
    assert response.headers["content-length"] == "0"
    location = response.headers["location"]
    assert location == (
        f"{inbound.server.url}/{version}/auditLogs/provisioning/?$filter=jobid%20eq%20'{inbound.job_id}'"
    )
    staged = inbound.staged()
    assert [(r["bulk_id"], r["external_id"], r["kind"]) for r in staged] == [
        ("701984", "701984", "record"),
        ("701985", "701985", "record"),
    ]
    assert staged[1]["data"]["userName"] == "Kjensen@example.com"
    assert staged[1]["data"][ENTERPRISE]["manager"] == {"value": "701984", "displayName": "Barbara Jensen"}
    assert staged[0]["upload_id"] == staged[1]["upload_id"]
    # The Location answers: the job's provisioning logs (empty until a cycle runs).
    reader = inbound.server.token(roles=["AuditLog.Read.All"])
    with httpx.Client(headers={"Authorization": f"Bearer {reader}"}, timeout=30) as logs:
        listed = logs.get(unquote(location).replace("%20", " "))
    assert listed.status_code == 200, listed.text
    assert listed.json()["value"] == []


def test_example_2_keeps_the_custom_namespace_attributes(inbound: InboundJob) -> None:
    with inbound.uploader() as client:
        response = upload(client, inbound.url, EXAMPLE_2)
    assert response.status_code == 202, response.text
    staged = inbound.staged()
    assert [r["data"]["urn:contoso:employee"] for r in staged] == [
        {"HireDate": "2021-05-01T00:00:00-05:00", "JobCode": "AB-1002"},
        {"HireDate": "2022-07-15T00:00:00-05:00", "JobCode": "AB-1003"},
    ]
    assert "urn:contoso:employee" in staged[0]["data"]["schemas"]


def test_example_3_a_partial_record_is_staged_as_sent(inbound: InboundJob) -> None:
    with inbound.uploader() as client:
        response = upload(client, inbound.url, EXAMPLE_3)
    assert response.status_code == 202, response.text
    (staged,) = inbound.staged()
    assert staged["external_id"] == "7172023"
    assert staged["data"] == {
        "schemas": [CORE, ENTERPRISE],
        "externalId": "7172023",
        "active": False,
        ENTERPRISE: {"department": "Tour Ops"},
    }


def test_attribute_names_match_case_insensitively_and_are_stored_canonically(lite: InboundJob) -> None:
    body = bulk(
        {
            "METHOD": "post",
            "bulkid": "1",
            "Path": "/users",
            "data": {
                "schemas": [CORE, ENTERPRISE],
                "externalid": "e1",
                "USERNAME": "case@contoso.example",
                "Name": {"GIVENNAME": "Case"},
                ENTERPRISE.upper(): {"Department": "Ops"},
            },
        }
    )
    with lite.uploader() as client:
        assert upload(client, lite.url, body).status_code == 202
    (staged,) = lite.staged()
    assert staged["data"]["userName"] == "case@contoso.example"
    assert staged["data"]["name"] == {"givenName": "Case"}
    assert staged["data"][ENTERPRISE] == {"department": "Ops"}


def test_an_upload_makes_an_active_jobs_next_cycle_due_now(lite: InboundJob) -> None:
    with lite.server.client() as admin:
        assert admin.post(f"{lite.url}/start").status_code == 204
    with lite.server.db.transaction() as conn:  # as if a cycle had just finished
        from datetime import UTC, datetime

        later = datetime.now(UTC) + timedelta(minutes=40)
        conn.execute(sync_jobs.update().where(sync_jobs.c.id == lite.job_id).values(cycle_due_at=later))
    with lite.uploader() as client:
        assert upload(client, lite.url, bulk(hr_user("e1", "ada"))).status_code == 202
    with lite.server.db.read() as conn:
        due = conn.execute(select(sync_jobs.c.cycle_due_at).where(sync_jobs.c.id == lite.job_id)).scalar()
    assert due is not None and due < later


def test_an_upload_to_a_job_that_is_not_started_is_staged_for_its_first_cycle(lite: InboundJob) -> None:
    with lite.uploader() as client:
        assert upload(client, lite.url, bulk(hr_user("e1", "ada"))).status_code == 202
    assert len(lite.staged()) == 1
    with lite.server.client() as admin:
        assert admin.get(lite.url).json()["schedule"]["state"] == "Disabled"


# Bad input: a 400 envelope, nothing staged


def _bad_bodies() -> Iterator[tuple[str, str]]:
    def dump(body: Any) -> str:
        return json.dumps(body)

    user = hr_user("e1", "ada")
    yield "malformed JSON", '{"schemas": ['
    yield "a JSON array", dump([bulk(user)])
    yield "no BulkRequest schema", dump({"schemas": [CORE], "Operations": [user]})
    yield "no operations", dump(bulk())
    yield "operations not an array", dump({"schemas": [BULK_REQUEST], "Operations": user})
    yield "unknown BulkRequest attribute", dump({**bulk(user), "continueOnError": True})
    yield "failOnErrors not an integer", dump({**bulk(user), "failOnErrors": "yes"})
    yield "method PUT", dump(bulk({**user, "method": "PUT"}))
    yield "method PATCH", dump(bulk({**user, "method": "PATCH"}))
    yield "path /Groups", dump(bulk({**user, "path": "/Groups"}))
    yield "no bulkId", dump(bulk({k: v for k, v in user.items() if k != "bulkId"}))
    yield "empty bulkId", dump(bulk({**user, "bulkId": ""}))
    yield (
        "duplicate bulkIds",
        dump(bulk(hr_user("e1", "ada", bulk_id="b"), hr_user("e2", "bob", bulk_id="b"))),
    )
    no_external = copy.deepcopy(user)
    del no_external["data"]["externalId"]
    yield "no externalId", dump(bulk(no_external))
    yield "externalId longer than 64", dump(bulk(operation("x" * 65, bulk_id="1", userName="a@b.c")))
    yield "externalId not a string", dump(bulk(operation(7, bulk_id="1")))  # type: ignore[arg-type]
    no_core = copy.deepcopy(user)
    no_core["data"]["schemas"] = [ENTERPRISE]
    yield "no core User schema", dump(bulk(no_core))
    no_enterprise = copy.deepcopy(user)
    no_enterprise["data"]["schemas"] = [CORE]
    yield "no enterprise User schema", dump(bulk(no_enterprise))
    yield "unknown core attribute", dump(bulk(operation("e1", shoeSize="44")))
    yield "unknown name sub-attribute", dump(bulk(operation("e1", name={"nickname": "Ada"})))
    yield "unknown enterprise attribute", dump(bulk(operation("e1", **{ENTERPRISE: {"badgeNumber": "7"}})))
    yield (
        "unknown manager sub-attribute",
        dump(bulk(operation("e1", **{ENTERPRISE: {"manager": {"value": "m", "email": "x"}}}))),
    )
    yield (
        "unknown email sub-attribute",
        dump(bulk(operation("e1", emails=[{"value": "a@b.c", "type": "work", "verified": True}]))),
    )
    yield (
        "custom namespace not in schemas",
        dump(bulk(operation("e1", **{"urn:contoso:employee": {"JobCode": "A"}}))),
    )
    yield (
        "custom namespace not an object",
        dump(
            bulk(
                {
                    **operation("e1", **{"urn:contoso:employee": "A"}),
                    "data": {
                        "schemas": [CORE, ENTERPRISE, "urn:contoso:employee"],
                        "externalId": "e1",
                        "urn:contoso:employee": "A",
                    },
                }
            )
        ),
    )
    yield "active not a boolean", dump(bulk(operation("e1", active="false")))
    yield "emails not an array", dump(bulk(operation("e1", emails={"value": "a@b.c"})))
    yield "a complex value for a simple attribute", dump(bulk(operation("e1", title={"value": "x"})))
    yield "data not an object", dump(bulk({**user, "data": "ada"}))
    valid_then_bad = [hr_user(f"e{i}", f"user{i}") for i in range(3)] + [operation("e9", shoeSize="44")]
    yield "one bad operation among good ones", dump(bulk(*valid_then_bad))


@pytest.mark.parametrize(("case", "body"), list(_bad_bodies()), ids=[c for c, _ in _bad_bodies()])
def test_bad_input_is_400_and_stages_nothing(lite: InboundJob, case: str, body: str) -> None:
    before = store_snapshot(lite.server.db)
    with lite.uploader() as client:
        response = client.post(f"{lite.url}/bulkUpload", content=body, headers=SCIM_JSON)
    message = assert_rejected(lite, response)
    assert message.startswith("Request is unparsable, syntactically incorrect or violates the schema.")
    assert store_snapshot(lite.server.db) == before


def test_unknown_attribute_errors_name_the_attribute(lite: InboundJob) -> None:
    with lite.uploader() as client:
        response = upload(client, lite.url, bulk(hr_user("e1", "ada"), operation("e2", shoeSize="44")))
    assert "Unknown attribute 'shoeSize' in Operations[1].data" in assert_rejected(lite, response)


def test_duplicate_bulk_ids_are_named(lite: InboundJob) -> None:
    with lite.uploader() as client:
        response = upload(
            client, lite.url, bulk(hr_user("e1", "ada", bulk_id="b7"), hr_user("e2", "bob", bulk_id="b7"))
        )
    assert "bulkId 'b7' is not unique" in assert_rejected(lite, response)


def test_fifty_operations_are_accepted_and_fifty_one_are_400(inbound: InboundJob) -> None:
    fifty = bulk(*(hr_user(f"e{i}", f"user{i}") for i in range(50)))
    with inbound.uploader() as client:
        assert upload(client, inbound.url, fifty).status_code == 202
        assert len(inbound.staged()) == 50
        before = store_snapshot(inbound.server.db)
        fifty_one = bulk(*(hr_user(f"f{i}", f"other{i}") for i in range(51)))
        message = assert_rejected(inbound, upload(client, inbound.url, fifty_one))
    assert "at most 50 operations; this one has 51" in message
    assert store_snapshot(inbound.server.db) == before


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "text/plain", "application/x-www-form-urlencoded", None],
    ids=["json", "text", "form", "none"],
)
def test_a_content_type_other_than_scim_json_is_400_and_stages_nothing(
    lite: InboundJob, content_type: str | None
) -> None:
    before = store_snapshot(lite.server.db)
    headers = {"Content-Type": content_type} if content_type else {}
    with lite.uploader() as client:
        request = client.build_request(
            "POST", f"{lite.url}/bulkUpload", content=json.dumps(EXAMPLE_1).encode(), headers=headers
        )
        assert request.headers.get("content-type") == content_type
        response = client.send(request)
    message = assert_rejected(lite, response)
    assert "Content-Type" in message and "application/scim+json" in message
    assert store_snapshot(lite.server.db) == before


def test_scim_json_with_a_charset_parameter_is_accepted(lite: InboundJob) -> None:
    with lite.uploader() as client:
        response = client.post(
            f"{lite.url}/bulkUpload",
            content=json.dumps(EXAMPLE_3),
            headers={"Content-Type": "application/scim+json; charset=utf-8"},
        )
    assert response.status_code == 202, response.text


def test_an_outbound_job_refuses_uploads_and_stages_nothing(lite: InboundJob) -> None:
    with lite.server.client() as admin:
        job = make_job(admin, lite.sp_id, "scim")
    before = store_snapshot(lite.server.db)
    with lite.uploader() as client:
        url = f"/servicePrincipals/{lite.sp_id}/synchronization/jobs/{job['id']}"
        error = assert_graph_error(upload(client, url, EXAMPLE_1), 400, "InvalidRequest")
    assert "API2AAD" in error["message"]
    assert store_snapshot(lite.server.db) == before


def test_an_unknown_job_is_404(lite: InboundJob) -> None:
    with lite.uploader() as client:
        url = f"/servicePrincipals/{lite.sp_id}/synchronization/jobs/API2AAD.nope"
        assert_graph_error(upload(client, url, EXAMPLE_1), 404)


def test_only_post_is_supported(lite: InboundJob) -> None:
    with lite.uploader() as client:
        response = client.put(f"{lite.url}/bulkUpload", content=json.dumps(EXAMPLE_1), headers=SCIM_JSON)
    assert response.status_code in (404, 405), response.text
    assert lite.staged() == []


# Rate limit: 40 requests per 5 seconds per job


@pytest.fixture
def clocked(sqlite_url: str, settings: Settings) -> Iterator[tuple[InboundJob, ManualClock]]:
    """A server whose clock the test moves: the window is exact whatever the machine's speed."""
    database = Database(sqlite_url)
    database.migrate()
    clock = ManualClock()
    url, server, thread = run_server(create_app(settings, database, clock))
    live = LiveServer(url, settings, database)
    yield make_inbound_job(live), clock
    server.should_exit = True
    thread.join(timeout=10)
    database.dispose()


def test_the_41st_request_in_5_seconds_is_429_with_retry_after_and_stages_nothing(
    clocked: tuple[InboundJob, ManualClock],
) -> None:
    job, clock = clocked
    with job.uploader() as client:
        for i in range(40):
            assert upload(client, job.url, bulk(hr_user(f"e{i}", f"user{i}"))).status_code == 202
            clock.advance(timedelta(milliseconds=100))
        before = store_snapshot(job.server.db)
        response = upload(client, job.url, bulk(hr_user("late", "late")))
        error = assert_graph_error(response, 429, "TooManyRequests")
        assert "at most 40 per 5 seconds" in error["message"]
        assert response.headers["Retry-After"] == "1"
        assert store_snapshot(job.server.db) == before
        # The oldest request leaves the window after 5 seconds; then one more is allowed.
        clock.advance(timedelta(seconds=1))
        assert upload(client, job.url, bulk(hr_user("late", "late"))).status_code == 202
        assert_graph_error(upload(client, job.url, bulk(hr_user("later", "later"))), 429)
    assert len(job.staged()) == 41


def test_the_rate_limit_is_per_job(clocked: tuple[InboundJob, ManualClock]) -> None:
    job, _ = clocked
    other = make_inbound_job(job.server)
    with job.uploader() as client:
        for i in range(40):
            assert upload(client, job.url, bulk(hr_user(f"e{i}", f"user{i}"))).status_code == 202
        assert_graph_error(upload(client, job.url, bulk(hr_user("x", "x"))), 429)
        assert upload(client, other.url, bulk(hr_user("x", "x"))).status_code == 202


# Permissions (reference §5): SynchronizationData-User.Upload, or .OwnedBy on an owned app


def test_without_the_upload_permission_is_403_and_stages_nothing(lite: InboundJob) -> None:
    before = store_snapshot(lite.server.db)
    for token in (lite.server.token(), lite.server.token(roles=["Synchronization.ReadWrite.All"])):
        with lite.server.client(token) as client:
            error = assert_graph_error(
                upload(client, lite.url, EXAMPLE_1), 403, "Authorization_RequestDenied"
            )
        assert UPLOAD in error["message"]
    assert store_snapshot(lite.server.db) == before


def test_a_delegated_upload_needs_a_global_administrator(lite: InboundJob) -> None:
    admin = lite.server.token(scopes=[UPLOAD], wids=[GLOBAL_ADMINISTRATOR])
    other = lite.server.token(scopes=[UPLOAD], wids=["9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"])
    with lite.server.client(other) as client:
        assert_graph_error(upload(client, lite.url, EXAMPLE_1), 403)
    with lite.server.client(admin) as client:
        assert upload(client, lite.url, EXAMPLE_1).status_code == 202


def test_upload_owned_by_is_403_until_the_calling_app_owns_the_service_principal(inbound: InboundJob) -> None:
    server = inbound.server
    with server.client() as admin:
        app = admin.post("/applications", json={"displayName": "HR connector"}).json()
        sp = admin.post("/servicePrincipals", json={"appId": app["appId"]}).json()
    token = server.token(roles=[f"{UPLOAD}.OwnedBy"], app_id=app["appId"])
    before = store_snapshot(server.db)
    with server.client(token) as client:
        error = assert_graph_error(upload(client, inbound.url, EXAMPLE_1), 403)
        assert "owner" in error["message"]
        assert store_snapshot(server.db) == before
        with server.client() as admin:
            owner = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{sp['id']}"}
            added = admin.post(f"/servicePrincipals/{inbound.sp_id}/owners/$ref", json=owner)
            assert added.status_code == 204, added.text
        assert upload(client, inbound.url, EXAMPLE_1).status_code == 202
    assert len(inbound.staged()) == 2


def test_without_a_token_is_401(lite: InboundJob) -> None:
    with httpx.Client(base_url=f"{lite.server.url}/v1.0") as client:
        assert_graph_error(upload(client, lite.url, EXAMPLE_1), 401)
    assert lite.staged() == []
