"""`GET /auditLogs/provisioning` and `/auditLogs/provisioning/{id}` over log entries written
straight into the store (as the engine writes them), on SQLite and PostgreSQL, through HTTP
and through msgraph-sdk: one entry by id, the JSON types of every property, `$orderby` and
every documented `$filter`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from tests.api.helpers import assert_graph_error
from tests.conftest import LiveServer
from tests.e2e.sdk import FLAVOURS

from provisiond.domain.provisioning_log import LogStep, PropertyChange, StepKind
from provisiond.store.tables import provisioning_logs, service_principals

T0 = datetime(2026, 11, 28, 22, 0, tzinfo=UTC)


def sp_row(display_name: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "app_id": str(uuid.uuid4()),
        "display_name": display_name,
        "service_principal_type": "Application",
        "account_enabled": True,
        "app_role_assignment_required": False,
        "tags": [],
        "created_date_time": T0,
    }


def log_row(n: int, sp_id: str, job_id: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": f"log-{n:03d}",
        "job_id": job_id,
        "service_principal_id": sp_id,
        "cycle_id": "cycle-a",
        "change_id": f"change-{n:03d}",
        "activity_date_time": T0 + timedelta(hours=n),
        "duration_ms": 10 * n,
        "action": "create",
        "status": "success",
        "error_code": None,  # every row has every key: an executemany takes its columns from the first
        "error_reason": None,
        "error_category": None,
        "source_id": str(uuid.UUID(int=n)),
        "source_type": "User",
        "source_display_name": f"user{n}@contoso.example",
        "target_id": f"target-{n}",
        "target_type": "urn:ietf:params:scim:schemas:core:2.0:User",
        "target_display_name": f"user{n}@contoso.example",
        "steps": [
            LogStep("EntryImport", StepKind.Import, "success", "Retrieved it", {"k": "v"}),
            LogStep("EntryExportAdd", StepKind.Export, "success", "Created it"),
        ],
        "modified_properties": [PropertyChange("userName", None, f"user{n}@contoso.example")],
        "initiated_by_id": "",
        "initiated_by_display_name": "Azure AD Provisioning Service",
        "initiated_by_type": "system",
    }
    return row | fields


@dataclass
class Seeded:
    server: LiveServer
    sp_sales: dict[str, Any]
    sp_hr: dict[str, Any]
    rows: list[dict[str, Any]]
    job_sales: str
    job_hr: str

    def client(self, version: str = "v1.0") -> httpx.Client:
        return self.server.client(self.server.token(scopes=["AuditLog.Read.All"]), version=version)

    def ids(self, filter: str | None = None, version: str = "v1.0", **params: str) -> list[str]:
        """The ids the query returns in order, following nextLinks."""
        query = {**params, **({"$filter": filter} if filter is not None else {})}
        client = self.client(version)
        response = client.get("/auditLogs/provisioning", params=query)
        out: list[str] = []
        while True:
            assert response.status_code == 200, response.text
            body = response.json()
            out += [e["id"] for e in body["value"]]
            if "@odata.nextLink" not in body:
                return out
            response = client.get(body["@odata.nextLink"])


@pytest.fixture
def seeded(live_server: LiveServer) -> Iterator[Seeded]:
    """Two service principals ("Sales SCIM" and "HR 100% app") and eight entries an hour apart,
    newest last: log-000 .. log-007."""
    sales, hr = sp_row("Sales SCIM"), sp_row("HR 100% app")
    job_sales = f"scim.{uuid.UUID(sales['id']).hex}.{uuid.uuid4()}"
    job_hr = f"scim.{uuid.UUID(hr['id']).hex}.{uuid.uuid4()}"
    rows = [
        log_row(0, sales["id"], job_sales),
        log_row(1, sales["id"], job_sales, action="update", source_display_name="Sales"),
        log_row(
            2,
            sales["id"],
            job_sales,
            action="disable",
            status="failure",
            error_code="InternalServerError",
            error_reason="boom",
            error_category="NonServiceFailure",
            target_id=None,
            target_display_name=None,
        ),
        log_row(
            3,
            sales["id"],
            job_sales,
            cycle_id="cycle-b",
            action="stageddelete",
            status="skipped",
            source_type="Group",
            source_display_name="Sales_Team",
        ),
        log_row(4, hr["id"], job_hr, cycle_id="cycle-c", source_display_name="50% off", status="warning"),
        log_row(5, hr["id"], job_hr, cycle_id="cycle-c", action="other", source_display_name="O'Brien"),
        log_row(
            6,
            hr["id"],
            job_hr,
            cycle_id="cycle-c",
            action="delete",
            status="failure",
            source_display_name="SALESPERSON",
            error_code="Conflict",
        ),
        log_row(
            7,
            hr["id"],
            job_hr,
            cycle_id="cycle-c",
            steps=[
                LogStep(
                    "EntryImport",
                    StepKind.Import,
                    "success",
                    "On demand",
                    {"InitiatedBy": "caller-1", "InitiatedByType": "user"},
                )
            ],
            initiated_by_id="caller-1",
            initiated_by_display_name="Ann Admin",
            initiated_by_type="user",
        ),
    ]
    with live_server.db.transaction() as conn:
        conn.execute(service_principals.insert(), [sales, hr])
        conn.execute(provisioning_logs.insert(), rows)
    yield Seeded(live_server, sales, hr, rows, job_sales, job_hr)


def newest_first(*numbers: int) -> list[str]:
    return [f"log-{n:03d}" for n in sorted(numbers, reverse=True)]


# --- one entry --------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1.0", "beta"])
def test_one_entry_by_id_is_the_entry_the_list_shows(seeded: Seeded, version: str) -> None:
    client = seeded.client(version)
    listed = {e["id"]: e for e in client.get("/auditLogs/provisioning").json()["value"]}
    for log_id in ("log-002", "log-007"):
        response = client.get(f"/auditLogs/provisioning/{log_id}")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body.pop("@odata.context").endswith(f"/{version}/$metadata#auditLogs/provisioning/$entity")
        assert body == listed[log_id]
    one = client.get("/auditLogs/provisioning/log-002").json()
    status = one["statusInfo" if version == "beta" else "provisioningStatusInfo"]
    assert status["status"] == "failure"
    assert status["errorInformation"]["errorCode"] == "InternalServerError"
    assert one["servicePrincipal"] == {"id": seeded.sp_sales["id"], "displayName": "Sales SCIM"}


def test_one_entry_honours_select_and_refuses_collection_options(seeded: Seeded) -> None:
    client = seeded.client()
    response = client.get("/auditLogs/provisioning/log-001", params={"$select": "jobId,provisioningAction"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["@odata.context"].endswith("#auditLogs/provisioning(jobId,provisioningAction)/$entity")
    assert {k: v for k, v in body.items() if not k.startswith("@")} == {
        "jobId": seeded.job_sales,
        "provisioningAction": "update",
    }
    assert_graph_error(client.get("/auditLogs/provisioning/log-001", params={"$top": "1"}), 400, "BadRequest")


@pytest.mark.parametrize("version", ["v1.0", "beta"])
def test_an_unknown_id_is_a_404_graph_error(seeded: Seeded, version: str) -> None:
    client = seeded.client(version)
    for unknown in ("log-999", "nope'", str(uuid.uuid4())):
        error = assert_graph_error(
            client.get(f"/auditLogs/provisioning/{unknown}"), 404, "Request_ResourceNotFound"
        )
        assert unknown in error["message"]


def test_one_entry_needs_the_log_permission(seeded: Seeded) -> None:
    server = seeded.server
    denied = server.client(server.token(roles=["Synchronization.ReadWrite.All", "Directory.Read.All"]))
    assert_graph_error(denied.get("/auditLogs/provisioning/log-001"), 403, "Authorization_RequestDenied")
    allowed = server.client(server.token(roles=["ProvisioningLog.Read.All"]))
    assert allowed.get("/auditLogs/provisioning/log-001").status_code == 200


@pytest.mark.parametrize("version", ["v1.0", "beta"])
async def test_the_sdk_item_builder_reads_one_entry_and_raises_on_an_unknown_id(
    seeded: Seeded, version: str
) -> None:
    from kiota_abstractions.api_error import APIError

    sdk = FLAVOURS[version]
    client = sdk.client(seeded.server, version, seeded.server.token(scopes=["AuditLog.Read.All"]))
    summary = await client.audit_logs.provisioning.by_provisioning_object_summary_id("log-002").get()
    assert summary.id == "log-002"
    assert summary.job_id == seeded.job_sales
    assert summary.provisioning_action.value == "disable"
    status = summary.provisioning_status_info if version == "v1.0" else summary.status_info
    assert status.status.value == "failure"
    assert summary.source_identity.display_name == "user2@contoso.example"
    assert summary.service_principal.display_name == "Sales SCIM"
    assert summary.activity_date_time == T0 + timedelta(hours=2)
    with pytest.raises(APIError) as raised:
        await client.audit_logs.provisioning.by_provisioning_object_summary_id("log-999").get()
    assert raised.value.response_status_code == 404


# --- JSON types -------------------------------------------------------------------------------

# Each property's JSON type as the CSDL types it (provisioningObjectSummary and its complex types):
# complex types are objects, detailsInfo included; collections are arrays; Int32 is a number.
OBJECT, ARRAY, STRING, NUMBER = dict, list, str, int
SUMMARY_TYPES: dict[str, type] = {
    "id": STRING,
    "activityDateTime": STRING,
    "tenantId": STRING,
    "jobId": STRING,
    "cycleId": STRING,
    "changeId": STRING,
    "durationInMilliseconds": NUMBER,
    "initiatedBy": OBJECT,
    "servicePrincipal": OBJECT,
    "sourceSystem": OBJECT,
    "targetSystem": OBJECT,
    "sourceIdentity": OBJECT,
    "targetIdentity": OBJECT,
    "provisioningAction": STRING,
    "provisioningSteps": ARRAY,
    "modifiedProperties": ARRAY,
}
NESTED_TYPES: dict[str, dict[str, type]] = {
    "initiatedBy": {"id": STRING, "displayName": STRING, "initiatorType": STRING},
    "servicePrincipal": {"id": STRING, "displayName": STRING},
    "sourceSystem": {"displayName": STRING, "details": OBJECT},
    "targetSystem": {"displayName": STRING, "details": OBJECT},
    "sourceIdentity": {"id": STRING, "displayName": STRING, "identityType": STRING, "details": OBJECT},
    "targetIdentity": {"id": STRING, "displayName": STRING, "identityType": STRING, "details": OBJECT},
}


@pytest.mark.parametrize("version", ["v1.0", "beta"])
def test_every_property_has_the_json_type_of_the_csdl(seeded: Seeded, version: str) -> None:
    status_name = "statusInfo" if version == "beta" else "provisioningStatusInfo"
    entries = seeded.client(version).get("/auditLogs/provisioning").json()["value"]
    assert len(entries) == 8
    for entry in entries:
        assert set(entry) == set(SUMMARY_TYPES) | {status_name}
        for name, kind in SUMMARY_TYPES.items():
            assert isinstance(entry[name], kind), (name, entry[name])
        for name, fields in NESTED_TYPES.items():
            for field, kind in fields.items():
                value = entry[name][field]
                # Nullable strings may be null (an initiator's displayName, a target not created yet).
                assert isinstance(value, kind) or (value is None and kind is STRING), (name, field, value)
        status = entry[status_name]
        assert isinstance(status["status"], str)
        assert status["errorInformation"] is None or isinstance(status["errorInformation"], dict)
        for step in entry["provisioningSteps"]:
            assert isinstance(step["details"], dict)
            assert all(
                isinstance(step[k], str) for k in ("name", "provisioningStepType", "status", "description")
            )
        for change in entry["modifiedProperties"]:
            assert set(change) == {"displayName", "oldValue", "newValue"}

    by_id = {e["id"]: e for e in entries}
    sales = seeded.sp_sales
    assert by_id["log-001"]["sourceSystem"] == {
        "id": None,
        "displayName": "Azure Active Directory",
        "details": {},
    }
    assert by_id["log-001"]["targetSystem"] == {
        "id": None,
        "displayName": "customappsso",
        "details": {
            "ApplicationId": sales["app_id"],
            "ServicePrincipalId": sales["id"],
            "ServicePrincipalDisplayName": "Sales SCIM",
        },
    }
    assert by_id["log-001"]["sourceIdentity"]["details"] == {}
    # provisioningStatusErrorCategory's member, as Graph spells it.
    assert by_id["log-002"][status_name]["errorInformation"]["errorCategory"] == "nonServiceFailure"
    assert by_id["log-007"]["initiatedBy"] == {
        "id": "caller-1",
        "displayName": "Ann Admin",
        "initiatorType": "user",
    }
    assert by_id["log-000"]["initiatedBy"] == {
        "id": "",
        "displayName": "Azure AD Provisioning Service",
        "initiatorType": "system",
    }


async def test_the_sdk_reads_details_as_objects(seeded: Seeded) -> None:
    client = FLAVOURS["v1.0"].client(seeded.server, "v1.0", seeded.server.token(scopes=["AuditLog.Read.All"]))
    summary = await client.audit_logs.provisioning.by_provisioning_object_summary_id("log-002").get()
    assert summary.target_system.details.additional_data["ServicePrincipalDisplayName"] == "Sales SCIM"
    assert summary.source_system.details is not None
    assert summary.source_identity.details is not None
    error = summary.provisioning_status_info.error_information
    assert error.error_category.value == "nonServiceFailure"
    assert error.error_code == "InternalServerError"


@pytest.mark.parametrize("version", ["v1.0", "beta"])
async def test_the_sdk_filters_on_the_initiator(seeded: Seeded, version: str) -> None:
    sdk = FLAVOURS[version]
    client = sdk.client(seeded.server, version, seeded.server.token(scopes=["AuditLog.Read.All"]))
    builder = sdk.module("audit_logs.provisioning.provisioning_request_builder").ProvisioningRequestBuilder
    query = builder.ProvisioningRequestBuilderGetQueryParameters(
        filter="initiatedBy/displayName eq 'Ann Admin' and targetSystem/displayName eq 'customappsso'",
        orderby=["activityDateTime asc"],
    )
    page = await client.audit_logs.provisioning.get(
        request_configuration=RequestConfiguration(query_parameters=query)
    )
    assert [(e.id, e.initiated_by.display_name, e.initiated_by.initiator_type.value) for e in page.value] == [
        ("log-007", "Ann Admin", "user")
    ]


# --- $orderby ---------------------------------------------------------------------------------

ALL = list(range(8))


@pytest.mark.parametrize("version", ["v1.0", "beta"])
def test_orderby_activity_date_time_asc_and_desc_with_paging(seeded: Seeded, version: str) -> None:
    oldest_first = list(reversed(newest_first(*ALL)))
    assert seeded.ids(version=version) == newest_first(*ALL)  # the default
    assert seeded.ids(version=version, **{"$orderby": "activityDateTime desc"}) == newest_first(*ALL)
    assert seeded.ids(version=version, **{"$orderby": "activityDateTime"}) == oldest_first
    assert seeded.ids(version=version, **{"$orderby": "activityDateTime asc"}) == oldest_first
    assert seeded.ids(version=version, **{"$orderby": "ActivityDateTime  ASC"}) == oldest_first
    # Paged: the nextLink keeps the order.
    assert seeded.ids(version=version, **{"$orderby": "activityDateTime asc", "$top": "3"}) == oldest_first
    assert seeded.ids(version=version, **{"$orderby": "activityDateTime desc", "$top": "3"}) == newest_first(
        *ALL
    )
    hr_jobs = f"jobId eq '{seeded.job_hr}'"
    assert seeded.ids(hr_jobs, version, **{"$orderby": "activityDateTime asc", "$top": "2"}) == [
        "log-004",
        "log-005",
        "log-006",
        "log-007",
    ]


def test_orderby_ties_in_time_are_broken_by_id_in_both_directions(seeded: Seeded) -> None:
    with seeded.server.db.transaction() as conn:
        conn.execute(provisioning_logs.update().values(activity_date_time=T0))
    ids = sorted(newest_first(*ALL))
    for direction in ("asc", "desc"):
        assert seeded.ids(**{"$orderby": f"activityDateTime {direction}", "$top": "3"}) == ids


def test_orderby_other_properties_and_bad_values_are_graph_errors(seeded: Seeded) -> None:
    client = seeded.client()

    def message(value: str) -> str:
        response = client.get("/auditLogs/provisioning", params={"$orderby": value})
        return str(assert_graph_error(response, 400, "BadRequest")["message"])

    assert message("jobId") == (
        "Sorting on property 'jobId' is not supported; $orderby supports activityDateTime."
    )
    assert message("sourceIdentity/displayName desc") == (
        "Could not find a property named 'sourceIdentity/displayName' on type "
        "'microsoft.graph.provisioningObjectSummary'."
    )
    assert message("nothing asc") == (
        "Could not find a property named 'nothing' on type 'microsoft.graph.provisioningObjectSummary'."
    )
    assert "only one property" in message("activityDateTime desc,id")
    assert "expected a property name and asc or desc" in message("activityDateTime sideways")
    response = client.get("/auditLogs/provisioning/log-001", params={"$orderby": "activityDateTime"})
    assert_graph_error(response, 400, "BadRequest")


@pytest.mark.parametrize("version", ["v1.0", "beta"])
async def test_the_sdk_sends_orderby_filter_and_top(seeded: Seeded, version: str) -> None:
    from kiota_abstractions.base_request_configuration import RequestConfiguration

    sdk = FLAVOURS[version]
    client = sdk.client(seeded.server, version, seeded.server.token(scopes=["AuditLog.Read.All"]))
    builder = sdk.module("audit_logs.provisioning.provisioning_request_builder").ProvisioningRequestBuilder
    query = builder.ProvisioningRequestBuilderGetQueryParameters(
        orderby=["activityDateTime asc"], filter=f"jobId eq '{seeded.job_sales}'", top=3
    )
    page = await client.audit_logs.provisioning.get(RequestConfiguration(query_parameters=query))
    assert [s.id for s in page.value] == ["log-000", "log-001", "log-002"]
    assert page.odata_next_link
    rest = await client.audit_logs.provisioning.with_url(page.odata_next_link).get()
    assert [s.id for s in rest.value] == ["log-003"]


# --- $filter ----------------------------------------------------------------------------------


def test_filters_on_identities_by_display_name_id_and_type(seeded: Seeded) -> None:
    ids = seeded.ids
    assert ids("sourceIdentity/displayName eq 'Sales'") == ["log-001"]
    assert ids("sourceIdentity/displayName eq 'sales'") == ["log-001"]  # case-insensitive, as elsewhere
    assert ids("startswith(sourceIdentity/displayName,'sales')") == newest_first(1, 3, 6)
    assert ids("contains(sourceIdentity/displayName,'LES')") == newest_first(1, 3, 6)
    assert ids("sourceIdentity/displayName ne 'Sales'") == newest_first(0, 2, 3, 4, 5, 6, 7)
    assert ids("sourceIdentity/displayName eq 'O''Brien'") == ["log-005"]
    assert ids("sourceIdentity/displayName in ('Sales', 'SALESPERSON')") == newest_first(1, 6)
    assert ids("sourceIdentity/displayName gt 'user1' and sourceIdentity/displayName lt 'user7'") == [
        "log-002"
    ]
    assert ids("sourceIdentity/identityType eq 'Group'") == ["log-003"]
    assert ids(f"sourceIdentity/id eq '{uuid.UUID(int=4)}'") == ["log-004"]
    assert ids("targetIdentity/displayName eq 'user0@contoso.example'") == ["log-000"]
    assert ids("contains(targetIdentity/displayName,'contoso')") == newest_first(0, 1, 3, 4, 5, 6, 7)
    assert ids("targetIdentity/id eq null") == ["log-002"]
    assert ids("targetIdentity/id ne null and targetIdentity/id eq 'target-7'") == ["log-007"]
    assert ids("startswith(targetIdentity/identityType,'urn:ietf')") == newest_first(*ALL)


def test_filters_on_the_initiator(seeded: Seeded) -> None:
    ids = seeded.ids
    assert ids("initiatedBy/displayName eq 'ann admin'") == ["log-007"]
    assert ids("startswith(initiatedBy/displayName,'Azure AD')") == newest_first(0, 1, 2, 3, 4, 5, 6)
    assert ids("contains(initiatedBy/displayName,'Admin')") == ["log-007"]
    assert ids("initiatedBy/id eq 'caller-1'") == ["log-007"]
    assert ids("initiatedBy/initiatorType eq 'system'") == newest_first(0, 1, 2, 3, 4, 5, 6)
    assert ids("initiatedBy/initiatorType ne 'system' and jobId eq '" + seeded.job_hr + "'") == ["log-007"]


def test_filters_on_the_systems_and_the_tenant(seeded: Seeded) -> None:
    inbound = log_row(8, seeded.sp_hr["id"], f"API2AAD.{uuid.UUID(seeded.sp_hr['id']).hex}.x")
    with seeded.server.db.transaction() as conn:
        conn.execute(provisioning_logs.insert(), [inbound])
    ids = seeded.ids
    everything = newest_first(*ALL, 8)
    assert ids("sourceSystem/displayName eq 'Azure Active Directory'") == newest_first(*ALL)
    assert ids("sourceSystem/displayName eq 'API'") == ["log-008"]
    assert ids("targetSystem/displayName eq 'customappsso'") == newest_first(*ALL)
    assert ids("targetSystem/displayName eq 'azure active directory'") == ["log-008"]
    # The filter matches what the entry shows.
    entry = seeded.client().get("/auditLogs/provisioning/log-008").json()
    assert entry["sourceSystem"]["displayName"] == "API"
    tenant = seeded.client().get("/auditLogs/provisioning/log-000").json()["tenantId"]
    assert ids(f"tenantId eq '{tenant}'") == everything
    assert ids(f"tenantId ne '{tenant}'") == []
    assert ids(f"tenantId eq '{uuid.uuid4()}'") == []


def test_contains_and_startswith_match_like_wildcards_literally(seeded: Seeded) -> None:
    ids = seeded.ids
    assert ids("contains(sourceIdentity/displayName,'%')") == ["log-004"]
    assert ids("contains(sourceIdentity/displayName,'0%')") == ["log-004"]
    assert ids("contains(sourceIdentity/displayName,'_')") == ["log-003"]
    assert ids("startswith(sourceIdentity/displayName,'Sales_')") == ["log-003"]
    assert ids("contains(sourceIdentity/displayName,'\\')") == []
    assert ids("contains(servicePrincipal/displayName,'100%')") == newest_first(4, 5, 6, 7)
    assert ids("contains(jobId,'%')") == []


def test_filters_on_job_cycle_change_action_status_and_service_principal(seeded: Seeded) -> None:
    ids = seeded.ids
    sales, hr = seeded.sp_sales, seeded.sp_hr
    assert ids(f"jobId eq '{seeded.job_sales}'") == newest_first(0, 1, 2, 3)
    assert ids("contains(jobId,'scim')") == newest_first(*ALL)
    assert ids(f"contains(jobId,'{uuid.UUID(hr['id']).hex}')") == newest_first(4, 5, 6, 7)
    assert ids("startswith(jobId,'SCIM.')") == newest_first(*ALL)
    assert ids("cycleId eq 'cycle-b' or cycleId eq 'cycle-c'") == newest_first(3, 4, 5, 6, 7)
    assert ids("contains(cycleId,'-c')") == newest_first(4, 5, 6, 7)
    assert ids("changeId ge 'change-006'") == newest_first(6, 7)
    assert ids("provisioningAction eq 'stagedDelete'") == ["log-003"]
    assert ids("provisioningAction eq 'stageddelete'") == ["log-003"]
    assert ids("provisioningAction ne 'create'") == newest_first(1, 2, 3, 5, 6)
    assert ids("contains(provisioningAction,'delete')") == newest_first(3, 6)
    assert ids("statusInfo/status eq 'failure'") == newest_first(2, 6)
    assert ids("provisioningStatusInfo/status eq 'failure'") == newest_first(2, 6)
    assert ids("statusInfo/status eq 'failure'", "beta") == newest_first(2, 6)
    assert ids("contains(statusInfo/status,'ar')") == ["log-004"]  # warning
    assert ids(f"servicePrincipal/id eq '{sales['id']}'") == newest_first(0, 1, 2, 3)
    assert ids("servicePrincipal/displayName eq 'Sales SCIM'") == newest_first(0, 1, 2, 3)
    assert ids("servicePrincipal/displayName ne 'Sales SCIM'") == newest_first(4, 5, 6, 7)
    assert ids("startswith(servicePrincipal/displayName,'hr ')") == newest_first(4, 5, 6, 7)
    assert ids("servicePrincipal/displayName eq 'HR 100% app' and statusInfo/status eq 'failure'") == [
        "log-006"
    ]
    assert ids("not (servicePrincipal/displayName eq 'Sales SCIM') and provisioningAction eq 'create'") == [
        "log-007",
        "log-004",
    ]


def test_activity_date_time_ranges_with_full_and_date_only_literals(seeded: Seeded) -> None:
    ids = seeded.ids
    # log-n is at 2026-11-28T22:00Z + n hours: log-002 is the first of 2026-11-29.
    assert ids("activityDateTime ge 2026-11-29") == newest_first(2, 3, 4, 5, 6, 7)
    assert ids("activityDateTime ge 2026-11-29T00:00:00Z") == ids("activityDateTime ge 2026-11-29")
    assert ids("activityDateTime lt 2026-11-29") == newest_first(0, 1)
    assert ids("activityDateTime eq 2026-11-29") == ["log-002"]
    assert ids("activityDateTime gt 2026-11-29 and activityDateTime le 2026-11-29T03:00:00Z") == newest_first(
        3, 4, 5
    )
    assert ids("activityDateTime ge 2026-11-29T01:00:00+01:00") == newest_first(2, 3, 4, 5, 6, 7)
    filter = "activityDateTime ge 2026-11-29 and statusInfo/status eq 'failure'"
    assert ids(filter, **{"$orderby": "activityDateTime asc"}) == ["log-002", "log-006"]


@pytest.mark.parametrize(
    ("filter", "message"),
    [
        (
            "nothing eq 'x'",
            "Could not find a property named 'nothing' on type 'microsoft.graph.provisioningObjectSummary'.",
        ),
        (
            "sourceIdentity/nothing eq 'x'",
            "Could not find a property named 'sourceIdentity/nothing' on type "
            "'microsoft.graph.provisioningObjectSummary'.",
        ),
        ("durationInMilliseconds gt 5", "Filtering on property 'durationInMilliseconds' is not supported."),
        ("modifiedProperties eq 'x'", "Filtering on property 'modifiedProperties' is not supported."),
        (
            "activityDateTime ge 'yesterday'",
            "Incompatible types in $filter: property 'activityDateTime' is Edm.DateTimeOffset but the value "
            "'yesterday' is Edm.String.",
        ),
        (
            "jobId eq 5",
            "Incompatible types in $filter: property 'jobId' is Edm.String but the value 5 is Edm.Int64.",
        ),
        (
            "jobId eq 2026-11-29",
            "Incompatible types in $filter: property 'jobId' is Edm.String but the value 2026-11-29 is "
            "Edm.DateTimeOffset.",
        ),
        (
            "activityDateTime ge 2026-13-45",
            "Invalid date literal 2026-13-45 (expected yyyy-mm-dd or yyyy-mm-ddThh:mm:ssZ) at position 20 in "
            "'activityDateTime ge 2026-13-45'.",
        ),
        ("endswith(jobId,'x')", "Function 'endswith' is not supported in $filter."),
        (
            "contains(activityDateTime,'2026')",
            "Unsupported filter operator 'contains' on property 'activityDateTime'.",
        ),
        ("contains(jobId, 5)", "The second argument of contains on 'jobId' must be a string, not 5."),
        ("jobId eq 'x' and", "Expression expected at position 16 in 'jobId eq 'x' and'."),
    ],
)
def test_bad_filters_are_400_graph_errors_naming_the_problem(
    seeded: Seeded, filter: str, message: str
) -> None:
    response = seeded.client().get("/auditLogs/provisioning", params={"$filter": filter})
    assert assert_graph_error(response, 400, "BadRequest")["message"] == message


async def test_the_sdk_sends_the_documented_filters(seeded: Seeded) -> None:
    from kiota_abstractions.base_request_configuration import RequestConfiguration

    sdk = FLAVOURS["v1.0"]
    client = sdk.client(seeded.server, "v1.0", seeded.server.token(scopes=["AuditLog.Read.All"]))
    builder = sdk.module("audit_logs.provisioning.provisioning_request_builder").ProvisioningRequestBuilder

    async def ids(filter: str) -> list[str]:
        query = builder.ProvisioningRequestBuilderGetQueryParameters(
            filter=filter, orderby=["activityDateTime desc"]
        )
        page = await client.audit_logs.provisioning.get(RequestConfiguration(query_parameters=query))
        return [s.id for s in page.value]

    assert await ids("sourceIdentity/displayName eq 'Sales'") == ["log-001"]
    assert await ids("contains(jobId,'scim') and provisioningAction eq 'disable'") == ["log-002"]
    assert await ids("activityDateTime ge 2026-11-29 and statusInfo/status eq 'failure'") == newest_first(
        2, 6
    )
