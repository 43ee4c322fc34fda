"""HR records uploaded through the API travel through the directory into a SCIM app: the
inbound (API2AAD) job and an outbound (scim) job on the same server, both run by its scheduler,
into a real scim2-server."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from tests.api.bulk_examples import ENTERPRISE, EXAMPLE_1, UPLOAD, bulk, operation, upload
from tests.api.helpers import make_app, make_job
from tests.conftest import LiveServer, ScimTarget
from tests.engine.helpers import provision, wait_for

from provisiond.store.tables import users as user_table


def test_uploaded_hr_records_reach_a_scim_app_through_the_directory(
    engine_server: LiveServer, scim_target: ScimTarget
) -> None:
    # The outbound job provisions every directory user (SyncAll) into the SCIM app.
    outbound = provision(engine_server, scim_target, users=0, secrets={"SyncAll": "true"})
    outbound.wait_cycle(None)
    # The inbound job of the HR app.
    client = outbound.client
    hr = make_app(client, "HR inbound")
    sp_id = hr["servicePrincipal"]["id"]
    job = make_job(client, sp_id, "API2AAD")
    job_url = f"/servicePrincipals/{sp_id}/synchronization/jobs/{job['id']}"
    assert client.post(f"{job_url}/start").status_code == 204

    with engine_server.client(engine_server.token(roles=[UPLOAD])) as uploader:
        assert upload(uploader, job_url, EXAMPLE_1).status_code == 202

        def arrived() -> dict[str, Any] | None:
            users = outbound.target_users()
            kathy = users.get("Kjensen@example.com")
            if "bjensen@example.com" in users and kathy and kathy.get(ENTERPRISE, {}).get("manager"):
                return users
            return None

        users = wait_for(arrived, 90, "the HR users in the SCIM app")
        barbara, kathy = users["bjensen@example.com"], users["Kjensen@example.com"]
        assert barbara["active"] is True
        assert barbara["displayName"] == "Babs Jensen"
        assert barbara["title"] == "Tour Guide"
        assert barbara["name"]["givenName"] == "Barbara"
        assert barbara[ENTERPRISE]["department"] == "Tour Operations"
        assert kathy[ENTERPRISE]["manager"]["value"] == barbara["id"]

        # A partial HR record (reference Example 3 style) disables Kathy everywhere.
        change = bulk(operation("701985", active=False, **{ENTERPRISE: {"department": "Tour Ops"}}))
        assert upload(uploader, job_url, change).status_code == 202

        def disabled() -> dict[str, Any] | None:
            user = outbound.target_users().get("Kjensen@example.com")
            return user if user and user["active"] is False else None

        wait_for(disabled, 90, "Kathy disabled in the SCIM app")
        # The directory took the whole partial record; a disable exports only `active` (Entra).
        with engine_server.db.read() as conn:
            row = (
                conn.execute(select(user_table).where(user_table.c.employee_id == "701985")).mappings().one()
            )
        assert (row["department"], row["account_enabled"]) == ("Tour Ops", False)

    # Both jobs logged their side: the inbound job its creates, the outbound job its exports.
    reader = engine_server.token(roles=["AuditLog.Read.All"])
    with engine_server.client(reader) as logs:
        inbound_logs = logs.get("/auditLogs/provisioning", params={"$filter": f"jobId eq '{job['id']}'"})
        outbound_logs = logs.get(
            "/auditLogs/provisioning", params={"$filter": f"jobId eq '{outbound.job_id}'"}
        )
    actions = sorted(e["provisioningAction"] for e in inbound_logs.json()["value"])
    assert actions == ["create", "create", "disable"]
    assert {e["provisioningAction"] for e in outbound_logs.json()["value"]} >= {"create"}
