"""bulkUpload with the official SDKs (msgraph-sdk on v1.0, msgraph-beta-sdk on beta).

Neither SDK has a builder for `POST .../jobs/{jobId}/bulkUpload`: its `bulk_upload` builder
offers only GET, PATCH and DELETE of the contained entity and a PUT of `$value` (the CSDL
declares bulkUpload as a stream entity, reference §1.1 J13). So the upload goes through the
SDK's own request adapter (same authentication, middleware and ODataError mapping) with a
RequestInformation built from that builder's URL, method POST and `application/scim+json`
content, as an SDK user would do it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from sqlalchemy import select
from tests.api.bulk_examples import EXAMPLE_1, EXAMPLE_3, UPLOAD
from tests.conftest import LiveServer
from tests.e2e.sdk import FLAVOURS, create_job, instantiate_scim_app

from provisiond.store.tables import inbound_records


async def post_bulk_upload(client: Any, version: str, builder: Any, body: bytes, content_type: str) -> None:
    info = RequestInformation(Method.POST, builder.url_template, builder.path_parameters)
    info.set_stream_content(body, content_type)
    errors = FLAVOURS[version].module("models.o_data_errors.o_data_error")
    await client.request_adapter.send_no_response_content_async(info, {"XXX": errors.ODataError})


@pytest.mark.parametrize("version", ["v1.0", "beta"])
async def test_bulk_upload_through_the_sdk_request_adapter_stages_the_records(
    version: str, live_server: LiveServer
) -> None:
    sdk = FLAVOURS[version]
    admin = sdk.client(live_server, version)
    created = await instantiate_scim_app(sdk, admin, "HR inbound")
    sp_id = created.service_principal.id
    templates = await admin.service_principals.by_service_principal_id(sp_id).synchronization.templates.get()
    assert "API2AAD" in [t.id for t in templates.value]
    job = await create_job(sdk, admin.service_principals.by_service_principal_id(sp_id), "API2AAD")
    assert job.id.startswith("API2AAD.")

    uploader = sdk.client(live_server, version, live_server.token(roles=[UPLOAD]))
    builder = (
        uploader.service_principals.by_service_principal_id(sp_id)
        .synchronization.jobs.by_synchronization_job_id(job.id)
        .bulk_upload
    )
    await post_bulk_upload(
        uploader, version, builder, json.dumps(EXAMPLE_1).encode(), "application/scim+json"
    )
    await post_bulk_upload(
        uploader, version, builder, json.dumps(EXAMPLE_3).encode(), "application/scim+json"
    )

    # The SDK surfaces a refusal as ODataError with Graph's code and status.
    errors = sdk.module("models.o_data_errors.o_data_error")
    with pytest.raises(errors.ODataError) as refused:
        await post_bulk_upload(uploader, version, builder, json.dumps(EXAMPLE_1).encode(), "application/json")
    assert refused.value.response_status_code == 400
    assert "application/scim+json" in refused.value.error.message

    with live_server.db.read() as conn:
        rows = conn.execute(
            select(inbound_records.c.bulk_id)
            .where(inbound_records.c.job_id == job.id)
            .order_by(inbound_records.c.seq)
        ).all()
    assert [r.bulk_id for r in rows] == ["701984", "701985", "7172023"]
