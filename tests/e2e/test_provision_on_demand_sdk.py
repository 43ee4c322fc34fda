"""provisionOnDemand driven with the official SDKs (msgraph-sdk on v1.0, msgraph-beta-sdk on
beta) against the live server and a real scim2-server: a user, a group with members, and an
unknown rule answered with the Graph error the SDK raises as ODataError."""

from __future__ import annotations

import json

import pytest
from tests.conftest import LiveServer, ScimTarget
from tests.e2e.sdk import FLAVOURS
from tests.engine.helpers import provision


@pytest.mark.parametrize("version", ["v1.0", "beta"])
async def test_provision_on_demand_through_the_official_sdk(
    version: str, live_server: LiveServer, scim_target: ScimTarget
) -> None:
    setup = provision(live_server, scim_target, users=3, start=False)
    sdk = FLAVOURS[version]
    client = sdk.client(live_server, version)
    job = client.service_principals.by_service_principal_id(
        setup.sp_id
    ).synchronization.jobs.by_synchronization_job_id(setup.job_id)
    schema = await job.schema.get()
    rule_id = schema.synchronization_rules[0].id

    Body = sdk.module(
        "service_principals.item.synchronization.jobs.item.provision_on_demand.provision_on_demand_post_request_body"
    ).ProvisionOnDemandPostRequestBody
    Parameters = sdk.model(
        "SynchronizationJobApplicationParameters", "synchronization_job_application_parameters"
    )
    Subject = sdk.model("SynchronizationJobSubject", "synchronization_job_subject")
    Links = sdk.model("SynchronizationLinkedObjects", "synchronization_linked_objects")

    # One user.
    adele = setup.users["user0@contoso.example"]
    pair = await job.provision_on_demand.post(
        Body(
            parameters=[
                Parameters(
                    rule_id=rule_id, subjects=[Subject(object_id=adele["id"], object_type_name="User")]
                )
            ]
        )
    )
    key, value = json.loads(pair.key), json.loads(pair.value)
    assert key == {"result": "Success", "details": {}}
    assert value["action"] == "Create"
    assert [s["type"] for s in value["provisioningSteps"]] == [
        "Import",
        "Scoping",
        "Matching",
        "Processing",
        "Export",
    ]
    assert "user0@contoso.example" in setup.target_users()

    # One group with two of its members.
    members = [Subject(object_id=u["id"], object_type_name="User") for u in list(setup.users.values())[1:]]
    group = Subject(
        object_id=setup.groups["Engineering"]["id"], object_type_name="Group", links=Links(members=members)
    )
    pair = await job.provision_on_demand.post(
        Body(parameters=[Parameters(rule_id=rule_id, subjects=[group])])
    )
    key, value = json.loads(pair.key), json.loads(pair.value)
    assert key["result"] == "Success"
    assert value["sourceIdentity"]["type"] == "Group"
    assert len(value["linkedObjects"]) == 2
    target_members = setup.target_groups()["Engineering"]["members"]
    # The group's members in the target are its directory members that are provisioned:
    # the two listed, and adele, provisioned on demand before.
    assert len(target_members) == 3

    # An unknown rule: the SDK raises the Graph error.
    ODataError = sdk.model("ODataError", "o_data_errors.o_data_error")
    with pytest.raises(ODataError) as raised:
        await job.provision_on_demand.post(
            Body(
                parameters=[
                    Parameters(
                        rule_id="nope", subjects=[Subject(object_id=adele["id"], object_type_name="User")]
                    )
                ]
            )
        )
    assert raised.value.response_status_code == 400
    assert raised.value.error.code == "RequestParameterInvalid"
