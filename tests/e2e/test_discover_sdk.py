"""discover through the official SDKs (msgraph-sdk on v1.0, msgraph-beta-sdk on beta): a job's
and both templates' SCIM directory, against the live server and a real scim2-server."""

from __future__ import annotations

import pytest
from tests.conftest import LiveServer, ScimTarget
from tests.e2e.sdk import FLAVOURS, create_job, instantiate_scim_app, put_target_secrets

from provisiond.services import templates

ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@pytest.mark.parametrize("version", ["v1.0", "beta"])
async def test_discover_through_the_sdk_refreshes_job_and_template_directories(
    version: str, live_server: LiveServer, scim_target: ScimTarget
) -> None:
    sdk = FLAVOURS[version]
    client = sdk.client(live_server, version)
    created = await instantiate_scim_app(sdk, client, "Discovered SCIM")
    sp = client.service_principals.by_service_principal_id(created.service_principal.id)
    job = await create_job(sdk, sp)
    await put_target_secrets(sdk, sp, scim_target.url, scim_target.token)

    # The job's target directory.
    job_schema = sp.synchronization.jobs.by_synchronization_job_id(job.id).schema
    discovered = await job_schema.directories.by_directory_definition_id(
        templates.SCIM_DIRECTORY_ID
    ).discover.post()
    assert discovered.id == templates.SCIM_DIRECTORY_ID and discovered.name == "customappsso"
    Discoverabilities = sdk.model(
        "DirectoryDefinitionDiscoverabilities", "directory_definition_discoverabilities"
    )
    assert set(discovered.discoverabilities) == {
        Discoverabilities.AttributeNames,
        Discoverabilities.AttributeDataTypes,
        Discoverabilities.AttributeReadOnly,
        Discoverabilities.ReferenceAttributes,
    }
    assert discovered.discovery_date_time is not None and discovered.version
    user = next(o for o in discovered.objects if o.name == ENTERPRISE_USER)
    manager = next(a for a in user.attributes if a.name == ENTERPRISE_USER + ":manager")
    assert manager.type.value == "Reference"
    assert [r.referenced_object_name for r in manager.referenced_objects] == [ENTERPRISE_USER]
    anchors = [a.name for a in user.attributes if a.anchor]
    assert anchors == ["id"]
    stored = await job_schema.directories.by_directory_definition_id(templates.SCIM_DIRECTORY_ID).get()
    assert stored.version == discovered.version

    # The service principal's template, then the application's (the same stored template schema).
    sp_template = sp.synchronization.templates.by_synchronization_template_id("scim").schema
    from_sp = await sp_template.directories.by_directory_definition_id("customappsso").discover.post()
    assert from_sp.version == discovered.version
    app = client.applications.by_application_id(created.application.id)
    app_template = app.synchronization.templates.by_synchronization_template_id("scim").schema
    from_app = await app_template.directories.by_directory_definition_id(
        templates.SCIM_DIRECTORY_ID
    ).discover.post()
    assert {o.name for o in from_app.objects} == {ENTERPRISE_USER, templates.SCIM_GROUP}

    # The source directory cannot be discovered: the SDK raises the Graph error.
    ODataError = sdk.model("ODataError", "o_data_errors.o_data_error")
    with pytest.raises(ODataError) as caught:
        await job_schema.directories.by_directory_definition_id(templates.AAD_DIRECTORY_ID).discover.post()
    assert caught.value.response_status_code == 400
    assert caught.value.error.code == "DirectoryNotDiscoverable"
