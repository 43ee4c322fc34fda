"""Application templates and schemas through the official SDKs (msgraph-sdk on v1.0,
msgraph-beta-sdk on beta): list and get templates, PATCH a template, PUT and DELETE a template's
schema and a job's schema, and a schema with a bad expression refused with Graph's error.

The SDKs generate PATCH for a schema, which Graph answers with 404 (reference §1.2 S2), and no
PUT; a schema PUT goes through the SDK's own request adapter, as an SDK user would send it."""

from __future__ import annotations

from typing import Any

import pytest
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from tests.conftest import LiveServer
from tests.e2e.sdk import FLAVOURS, Sdk, create_job, instantiate_scim_app

TITLE = "title"


async def _put_schema(sdk: Sdk, client: Any, builder: Any, schema: Any) -> None:
    adapter = client.request_adapter
    info = RequestInformation(Method.PUT, builder.url_template, builder.path_parameters)
    info.set_content_from_parsable(adapter, "application/json", schema)
    errors = sdk.module("models.o_data_errors.o_data_error")
    await adapter.send_no_response_content_async(info, {"XXX": errors.ODataError})


def _title_mapping(schema: Any) -> Any:
    users = schema.synchronization_rules[0].object_mappings[0]
    return next(m for m in users.attribute_mappings if m.target_attribute_name == TITLE)


def _as_function(sdk: Sdk, mapping: Any, expression: str) -> None:
    Source = sdk.model("AttributeMappingSource", "attribute_mapping_source")
    SourceType = sdk.model("AttributeMappingSourceType", "attribute_mapping_source_type")
    mapping.source = Source(expression=expression, name="ToUpper", type=SourceType.Function, parameters=[])


@pytest.mark.parametrize("version", ["v1.0", "beta"])
async def test_templates_and_schemas_round_trip_through_the_sdk(
    version: str, sqlite_server: LiveServer
) -> None:
    sdk = FLAVOURS[version]
    client = sdk.client(sqlite_server, version)
    created = await instantiate_scim_app(sdk, client, "Templates through the SDK")
    app = client.applications.by_application_id(created.application.id)
    sp = client.service_principals.by_service_principal_id(created.service_principal.id)

    listed = await app.synchronization.templates.get()
    assert "scim" in [t.id for t in listed.value]
    template = await app.synchronization.templates.by_synchronization_template_id("scim").get()
    assert template.id == "scim" and template.factory_tag

    # PATCH a template (a full synchronizationTemplate, as the docs ask).
    template.description = "Our SCIM app"
    await app.synchronization.templates.by_synchronization_template_id("scim").patch(template)
    again = await app.synchronization.templates.by_synchronization_template_id("scim").get()
    assert again.description == "Our SCIM app"

    # PUT a template schema with a Function mapping; a new job starts from it; DELETE resets it.
    schema_builder = app.synchronization.templates.by_synchronization_template_id("scim").schema
    schema = await schema_builder.get()
    _as_function(sdk, _title_mapping(schema), "ToUpper([jobTitle])")
    await _put_schema(sdk, client, schema_builder, schema)
    stored = await schema_builder.get()
    assert _title_mapping(stored).source.expression == "ToUpper([jobTitle])"
    job = await create_job(sdk, sp)
    job_schema_builder = sp.synchronization.jobs.by_synchronization_job_id(job.id).schema
    assert _title_mapping(await job_schema_builder.get()).source.expression == "ToUpper([jobTitle])"
    await schema_builder.delete()
    assert _title_mapping(await schema_builder.get()).source.expression == "[jobTitle]"

    # A job schema PUT with a bad expression is refused and changes nothing.
    job_schema = await job_schema_builder.get()
    _as_function(sdk, _title_mapping(job_schema), "ToUpper([jobTitle]")
    errors = sdk.module("models.o_data_errors.o_data_error")
    with pytest.raises(errors.ODataError) as refused:
        await _put_schema(sdk, client, job_schema_builder, job_schema)
    assert refused.value.response_status_code == 400
    assert refused.value.error.code == "InvalidSchema"
    assert "title" in refused.value.error.message
    assert _title_mapping(await job_schema_builder.get()).source.expression == "ToUpper([jobTitle])"

    # A good job schema PUT lands; DELETE goes back to the template's default.
    _as_function(sdk, _title_mapping(job_schema), "ToLower([jobTitle])")
    await _put_schema(sdk, client, job_schema_builder, job_schema)
    assert _title_mapping(await job_schema_builder.get()).source.expression == "ToLower([jobTitle])"
    await job_schema_builder.delete()
    assert _title_mapping(await job_schema_builder.get()).source.expression == "[jobTitle]"
