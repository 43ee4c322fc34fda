"""Microsoft's documented provisioning flow, driven with the official msgraph SDKs against the
live server and a real scim2-server target, on v1.0 (msgraph-sdk) and beta (msgraph-beta-sdk)."""

from __future__ import annotations

import uuid

import pytest
from tests.conftest import LiveServer, ScimTarget
from tests.e2e.sdk import CUSTOM_SCIM_APP_TEMPLATE, DEFAULT_ACCESS, FLAVOURS


@pytest.mark.parametrize("version", ["v1.0", "beta"])
async def test_documented_provisioning_flow_works_with_the_official_sdk(
    version: str, live_server: LiveServer, scim_target: ScimTarget
) -> None:
    sdk = FLAVOURS[version]
    client = sdk.client(live_server, version)

    # 1. Instantiate the non-gallery (custom SCIM) application template.
    instantiate_body = sdk.module(
        "application_templates.item.instantiate.instantiate_post_request_body"
    ).InstantiatePostRequestBody(display_name="Contoso SCIM")
    created = await client.application_templates.by_application_template_id(
        CUSTOM_SCIM_APP_TEMPLATE
    ).instantiate.post(instantiate_body)
    assert created.application.display_name == "Contoso SCIM"
    assert created.service_principal.app_id == created.application.app_id
    sp_id = created.service_principal.id
    sp = client.service_principals.by_service_principal_id(sp_id)

    # 2. Users and a group with members.
    User = sdk.model("User", "user")
    PasswordProfile = sdk.model("PasswordProfile", "password_profile")
    users = []
    for name in ("adele", "bob"):
        user = await client.users.post(
            User(
                account_enabled=True,
                display_name=name.title(),
                mail_nickname=name,
                user_principal_name=f"{name}@contoso.example",
                password_profile=PasswordProfile(
                    password="Pa55word!", force_change_password_next_sign_in=False
                ),
            )
        )
        assert user.user_principal_name == f"{name}@contoso.example"
        users.append(user)
    Group = sdk.model("Group", "group")
    group = await client.groups.post(
        Group(display_name="Engineering", mail_enabled=False, mail_nickname="eng", security_enabled=True)
    )
    ReferenceCreate = sdk.model("ReferenceCreate", "reference_create")
    for user in users:
        await client.groups.by_group_id(group.id).members.ref.post(
            ReferenceCreate(odata_id=f"https://graph.microsoft.com/{version}/directoryObjects/{user.id}")
        )
    members = await client.groups.by_group_id(group.id).members.get()
    assert sorted(m.id for m in members.value) == sorted(u.id for u in users)

    # 3. Assign the group and one user to the service principal.
    AppRoleAssignment = sdk.model("AppRoleAssignment", "app_role_assignment")
    for principal in (group.id, users[0].id):
        assignment = await sp.app_role_assigned_to.post(
            AppRoleAssignment(
                principal_id=uuid.UUID(principal), resource_id=uuid.UUID(sp_id), app_role_id=DEFAULT_ACCESS
            )
        )
        assert str(assignment.principal_id) == principal
    assigned = await sp.app_role_assigned_to.get()
    assert len(assigned.value) == 2

    # 4. List templates; create a job from "scim".
    templates = await sp.synchronization.templates.get()
    assert "scim" in [t.id for t in templates.value]
    scim_template = next(t for t in templates.value if t.id == "scim")
    assert scim_template.factory_tag == "scim"
    SynchronizationJob = sdk.model("SynchronizationJob", "synchronization_job")
    job = await sp.synchronization.jobs.post(SynchronizationJob(template_id="scim"))
    assert job.id.startswith("scim.") and job.id.endswith(created.application.app_id)
    assert job.schedule.interval.total_seconds() == 40 * 60
    assert job.schedule.state.value == "Disabled"
    assert job.status.code.value == "Paused"
    settings = {s.name: s.value for s in job.synchronization_job_settings}
    assert settings["QuarantineTooManyDeletesThreshold"] == "500"
    job_builder = sp.synchronization.jobs.by_synchronization_job_id(job.id)

    # 5. Secrets pointing at the real SCIM target; validate them.
    secrets_module = sdk.module("service_principals.item.synchronization.secrets.secrets_put_request_body")
    Pair = sdk.model(
        "SynchronizationSecretKeyStringValuePair", "synchronization_secret_key_string_value_pair"
    )
    Secret = sdk.model("SynchronizationSecret", "synchronization_secret")
    await sp.synchronization.secrets.put(
        secrets_module.SecretsPutRequestBody(
            value=[
                Pair(key=Secret.BaseAddress, value=scim_target.url),
                Pair(key=Secret.SecretToken, value=scim_target.token),
                Pair(key=Secret.SyncAll, value="false"),
            ]
        )
    )
    validate_module = sdk.module(
        "service_principals.item.synchronization.jobs.item.validate_credentials.validate_credentials_post_request_body"
    )
    await job_builder.validate_credentials.post(
        validate_module.ValidateCredentialsPostRequestBody(use_saved_credentials=True)
    )

    # 6. start, get, pause.
    await job_builder.start.post()
    started = await job_builder.get()
    assert started.schedule.state.value == "Active"
    assert started.status.code.value in ("NotRun", "Active")
    await job_builder.pause.post()
    paused = await job_builder.get()
    assert paused.status.code.value == "Paused"

    # 7. restart: the documented scopes, then Full, then no criteria.
    restart_module = sdk.module(
        "service_principals.item.synchronization.jobs.item.restart.restart_post_request_body"
    )
    Criteria = sdk.model("SynchronizationJobRestartCriteria", "synchronization_job_restart_criteria")
    for scope in ("Watermark, Escrows, QuarantineState", "Full", None):
        criteria = Criteria(additional_data={"resetScope": scope}) if scope else None
        await job_builder.restart.post(restart_module.RestartPostRequestBody(criteria=criteria))
        restarted = await job_builder.get()
        assert restarted.schedule.state.value == "Active"
        assert restarted.status.quarantine is None
    with live_server.db.read() as conn:
        from provisiond.store import synchronization as sync_repo

        recorded = [r["reset_scope"] for r in sync_repo.restarts(conn, job.id)]
    assert recorded == [14, 15, 14]

    # 8. The schema reads back with the default mapping, then the job is deleted.
    schema = await job_builder.schema.get()
    assert schema.id == job.id
    assert {d.name for d in schema.directories} == {"Azure Active Directory", "customappsso"}
    await job_builder.delete()
    remaining = await sp.synchronization.jobs.get()
    assert remaining.value == []
