"""The SDKs' alternate-key builders (`service_principals_with_app_id`,
`applications_with_app_id`) against the live server, on v1.0 and beta."""

from __future__ import annotations

import pytest
from kiota_abstractions.api_error import APIError
from tests.conftest import LiveServer
from tests.e2e.sdk import FLAVOURS, instantiate_scim_app


@pytest.mark.parametrize("version", ["v1.0", "beta"])
async def test_the_sdk_reads_and_deletes_by_app_id(version: str, live_server: LiveServer) -> None:
    sdk = FLAVOURS[version]
    client = sdk.client(live_server, version)
    created = await instantiate_scim_app(sdk, client, "Keyed by appId")
    app_id = created.service_principal.app_id

    sp = await client.service_principals_with_app_id(app_id).get()
    assert sp is not None and sp.id == created.service_principal.id
    application = await client.applications_with_app_id(app_id).get()
    assert application is not None and application.id == created.application.id

    await client.service_principals_with_app_id(app_id).delete()
    with pytest.raises(APIError) as gone:
        await client.service_principals_with_app_id(app_id).get()
    assert gone.value.response_status_code == 404
