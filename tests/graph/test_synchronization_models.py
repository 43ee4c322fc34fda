"""Synchronization wire models: exact property names, CSDL nullability, lenient input (reference §2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from provisiond.graph.base import TIMESPAN_MAX, format_datetime, format_duration, parse_duration
from provisiond.graph.enums import (
    AttributeMappingSourceType,
    AttributeType,
    Mutability,
    ObjectFlowTypes,
    ScopeOperatorType,
    SynchronizationJobRestartScope,
    SynchronizationScheduleState,
    SynchronizationSecret,
    SynchronizationStatusCode,
    metadata_key_for_version,
)
from provisiond.graph.synchronization import (
    NEVER,
    AttributeDefinition,
    AttributeMapping,
    AttributeMappingFunctionSchema,
    CreateJobRequest,
    FilterOperatorSchema,
    ParseExpressionRequest,
    ProvisionOnDemandRequest,
    RestartRequest,
    SecretsPutRequest,
    StringKeyObjectValuePair,
    SynchronizationJob,
    SynchronizationJobRestartCriteria,
    SynchronizationMetadataEntry,
    SynchronizationQuarantine,
    SynchronizationSchedule,
    SynchronizationSchema,
    SynchronizationSecretKeyStringValuePair,
    SynchronizationStatus,
    SynchronizationTemplate,
    ValidateCredentialsRequest,
)

# The docs' schema PUT body (synchronization-synchronizationschema-update.md, without its trailing
# commas), grown with what real GET responses carry: Function sources with nested parameters, a
# Constant source, a scoping filter, metadata (one key outside the enum) and lower-case "string".
SCHEMA_PUT_BODY: dict[str, Any] = {
    "directories": [
        {
            "name": "Azure Active Directory",
            "objects": [
                {
                    "name": "User",
                    "attributes": [
                        {"name": "userPrincipalName", "type": "string"},
                        {"anchor": True, "name": "objectId", "type": "String", "mutability": "readwrite"},
                        {
                            "name": "manager",
                            "type": "reference",
                            "referencedObjects": [
                                {"referencedObjectName": "User", "referencedProperty": None}
                            ],
                        },
                        {"name": "proxyAddresses", "multivalued": True, "type": "String"},
                    ],
                    "metadata": [{"key": "issoftdeletionsupported", "value": "true"}],
                }
            ],
        },
        {"name": "Salesforce"},
    ],
    "synchronizationRules": [
        {
            "name": "USER_TO_USER",
            "sourceDirectoryName": "Azure Active Directory",
            "targetDirectoryName": "Salesforce",
            "metadata": [{"key": "supportsProvisionOnDemand", "value": "true"}],
            "objectMappings": [
                {
                    "sourceObjectName": "User",
                    "targetObjectName": "User",
                    "flowTypes": "Add,Update,Delete",
                    "metadata": [
                        {"key": "Disposition", "value": '"Normal"'},
                        {"key": "AzureIngestionAttributeOptimization", "value": "False"},
                    ],
                    "scope": {
                        "groups": [
                            {
                                "name": "in scope",
                                "clauses": [
                                    {
                                        "operatorName": "EQUALS",
                                        "sourceOperandName": "department",
                                        "targetOperand": {"values": ["Sales"]},
                                    },
                                    {"operatorName": "IS TRUE", "sourceOperandName": "accountEnabled"},
                                ],
                            }
                        ],
                        "inputFilterGroups": None,
                    },
                    "attributeMappings": [
                        {"source": {}, "targetAttributeName": "userName"},
                        {
                            "defaultValue": "True",
                            "flowBehavior": "FlowWhenChanged",
                            "flowType": "Always",
                            "source": {
                                "expression": "Not([IsSoftDeleted])",
                                "name": "Not",
                                "parameters": [
                                    {
                                        "key": "source",
                                        "value": {
                                            "expression": "[IsSoftDeleted]",
                                            "name": "IsSoftDeleted",
                                            "parameters": [],
                                            "type": "Attribute",
                                        },
                                    }
                                ],
                                "type": "Function",
                            },
                            "targetAttributeName": "IsActive",
                        },
                        {
                            "matchingPriority": 1,
                            "source": {
                                "expression": 'Join(" ", [givenName], [surname])',
                                "name": "Join",
                                "type": "function",
                                "parameters": [
                                    {"key": "separator", "value": {"name": " ", "type": "Constant"}},
                                    {"key": "source", "value": {"name": "givenName", "type": "Attribute"}},
                                    {"key": "source", "value": {"name": "surname", "type": "Attribute"}},
                                ],
                            },
                            "targetAttributeName": "name.formatted",
                        },
                        {"source": None, "defaultValue": "Employee", "targetAttributeName": "userType"},
                    ],
                }
            ],
        }
    ],
}

JOB_KEYS = {"id", "templateId", "schedule", "status", "synchronizationJobSettings"}
SCHEDULE_KEYS = {"expiration", "interval", "state"}
STATUS_KEYS = {
    "code",
    "countSuccessiveCompleteFailures",
    "escrowsPruned",
    "lastExecution",
    "lastSuccessfulExecution",
    "lastSuccessfulExecutionWithExports",
    "progress",
    "quarantine",
    "steadyStateFirstAchievedTime",
    "steadyStateLastAchievedTime",
    "synchronizedEntryCountByType",
    "troubleshootingUrl",
}
TASK_EXECUTION_KEYS = {
    "activityIdentifier",
    "countEntitled",
    "countEntitledForProvisioning",
    "countEscrowed",
    "countEscrowedRaw",
    "countExported",
    "countExports",
    "countImported",
    "countImportedDeltas",
    "countImportedReferenceDeltas",
    "error",
    "state",
    "timeBegan",
    "timeEnded",
}


# Jobs


def test_job_to_wire_has_exact_property_names() -> None:
    job = SynchronizationJob.model_validate(
        {
            "id": "scim.ff8bf889e03141ac8f7baedb059892ee",
            "templateId": "scim",
            "synchronizationJobSettings": [{"name": "QuarantineTooManyDeletesThreshold", "value": "500"}],
            "status": {
                "code": "Active",
                "steadyStateFirstAchievedTime": "0001-01-01T00:00:00Z",
                "steadyStateLastAchievedTime": "0001-01-01T00:00:00Z",
                "lastExecution": {
                    "state": "Failed",
                    "timeBegan": "2026-01-02T03:04:05.123Z",
                    "timeEnded": "2026-01-02T03:04:06Z",
                    "error": {
                        "code": "SalesforceInvalidCredentials",
                        "message": "bad",
                        "tenantActionable": True,
                    },
                },
            },
        }
    )
    wire = job.to_wire()
    assert set(wire) == JOB_KEYS
    assert set(wire["schedule"]) == SCHEDULE_KEYS
    assert set(wire["status"]) == STATUS_KEYS
    assert set(wire["status"]["lastExecution"]) == TASK_EXECUTION_KEYS
    assert wire["status"]["lastExecution"]["error"] == {
        "code": "SalesforceInvalidCredentials",
        "message": "bad",
        "tenantActionable": True,
    }
    assert wire["synchronizationJobSettings"] == [
        {"name": "QuarantineTooManyDeletesThreshold", "value": "500"}
    ]


def test_new_job_has_the_observed_create_time_schedule_and_status() -> None:
    wire = SynchronizationJob(id="scim.x", template_id="scim").to_wire()
    assert wire == {
        "id": "scim.x",
        "schedule": {"expiration": None, "interval": "PT40M", "state": "Disabled"},
        "status": {
            "code": "Paused",
            "countSuccessiveCompleteFailures": 0,
            "escrowsPruned": False,
            "lastExecution": None,
            "lastSuccessfulExecution": None,
            "lastSuccessfulExecutionWithExports": None,
            "progress": [],
            "quarantine": None,
            "steadyStateFirstAchievedTime": "0001-01-01T00:00:00Z",
            "steadyStateLastAchievedTime": "0001-01-01T00:00:00Z",
            "synchronizedEntryCountByType": [],
            "troubleshootingUrl": None,
        },
        "synchronizationJobSettings": [],
        "templateId": "scim",
    }


def test_initial_status_is_paused_with_never_reached_times() -> None:
    status = SynchronizationStatus.initial()
    assert status.code is SynchronizationStatusCode.Paused
    assert status.steady_state_first_achieved_time == NEVER == datetime(1, 1, 1, tzinfo=UTC)
    assert status.steady_state_last_achieved_time == NEVER
    assert status.progress == [] and status.synchronized_entry_count_by_type == []


def test_default_schedule_is_forty_minutes_disabled() -> None:
    schedule = SynchronizationSchedule()
    assert schedule.interval == timedelta(minutes=40)
    assert schedule.state is SynchronizationScheduleState.Disabled
    assert schedule.expiration is None


def test_status_without_its_code_is_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        SynchronizationStatus.model_validate(
            {
                "steadyStateFirstAchievedTime": "0001-01-01T00:00:00Z",
                "steadyStateLastAchievedTime": "0001-01-01T00:00:00Z",
            }
        )
    assert [(e["loc"], e["type"]) for e in caught.value.errors()] == [(("code",), "missing")]


def test_quarantine_from_the_configure_walkthrough_round_trips() -> None:
    body = {
        "currentBegan": "2023-05-11T18:06:14.123Z",
        "error": {
            "code": "SystemForCrossDomainIdentityManagementInvalidCredentials",
            "message": "Please provide a valid tenant URL for your application.",
            "tenantActionable": True,
        },
        "nextAttempt": "2023-05-11T18:11:14.123Z",
        "reason": "EncounteredQuarantineException",
        "seriesBegan": "2023-05-11T18:06:14.123Z",
        "seriesCount": 1,
    }
    assert SynchronizationQuarantine.model_validate(body).to_wire() == body


def test_create_job_request_requires_template_id() -> None:
    assert CreateJobRequest.model_validate({"templateId": "scim"}).template_id == "scim"
    with pytest.raises(ValidationError) as caught:
        CreateJobRequest.model_validate({})
    assert [(e["loc"], e["type"]) for e in caught.value.errors()] == [(("templateId",), "missing")]


# Restart criteria


@pytest.mark.parametrize("body", [{}, {"resetScope": None}, {"resetScope": ""}, {"resetScope": "  "}])
def test_absent_null_or_empty_reset_scope_is_none(body: dict[str, Any]) -> None:
    criteria = SynchronizationJobRestartCriteria.model_validate(body)
    assert criteria.reset_scope is None
    assert criteria.to_wire() == {"resetScope": None}


def test_explicit_none_reset_scope_is_zero_not_absent() -> None:
    criteria = SynchronizationJobRestartCriteria.model_validate({"resetScope": "None"})
    assert criteria.reset_scope is not None
    assert int(criteria.reset_scope) == 0
    assert criteria.to_wire() == {"resetScope": "None"}


def test_docs_restart_body_parses_and_emits_canonical_order() -> None:
    request = RestartRequest.model_validate(
        {"criteria": {"resetScope": "Watermark, Escrows, QuarantineState"}}
    )
    assert request.criteria is not None
    assert request.criteria.reset_scope == (
        SynchronizationJobRestartScope.Watermark
        | SynchronizationJobRestartScope.Escrows
        | SynchronizationJobRestartScope.QuarantineState
    )
    assert request.to_wire() == {"criteria": {"resetScope": "Escrows, Watermark, QuarantineState"}}


@pytest.mark.parametrize("body", [{}, {"criteria": None}])
def test_restart_without_criteria_is_valid(body: dict[str, Any]) -> None:
    assert RestartRequest.model_validate(body).criteria is None


def test_unknown_reset_scope_member_is_a_validation_error_naming_it() -> None:
    with pytest.raises(ValidationError) as caught:
        RestartRequest.model_validate({"criteria": {"resetScope": "Watermark, Everything"}})
    (error,) = caught.value.errors()
    assert error["loc"] == ("criteria", "resetScope")
    assert error["msg"] == "Value error, 'Everything' is not a member of synchronizationJobRestartScope"


# Schema


def test_schema_put_body_from_docs_validates() -> None:
    schema = SynchronizationSchema.model_validate(SCHEMA_PUT_BODY)

    assert schema.id is None
    aad, salesforce = schema.directories
    assert salesforce.name == "Salesforce" and salesforce.objects == [] and salesforce.id is None
    upn, object_id, manager, proxies = aad.objects[0].attributes
    assert upn.type is AttributeType.String
    assert (upn.anchor, upn.multivalued, upn.mutability) == (False, False, Mutability.ReadWrite)
    assert object_id.anchor is True
    assert manager.type is AttributeType.Reference
    assert manager.referenced_objects[0].referenced_object_name == "User"
    assert proxies.multivalued is True
    assert aad.objects[0].metadata[0].key == "IsSoftDeletionSupported"

    (rule,) = schema.synchronization_rules
    assert (rule.editable, rule.priority) == (False, 0)
    (mapping,) = rule.object_mappings
    assert mapping.enabled is True
    assert mapping.flow_types == ObjectFlowTypes.Add | ObjectFlowTypes.Update | ObjectFlowTypes.Delete
    assert [entry.key for entry in mapping.metadata] == ["Disposition", "AzureIngestionAttributeOptimization"]
    assert mapping.scope is not None and mapping.scope.input_filter_groups == []
    assert mapping.scope.groups[0].clauses[1].target_operand is None

    user_name, active, formatted, user_type = mapping.attribute_mappings
    assert user_name.source is not None and user_name.source.type is AttributeMappingSourceType.Attribute
    assert user_name.source.name is None
    assert active.source is not None and active.source.type is AttributeMappingSourceType.Function
    assert active.source.parameters[0].value is not None
    assert active.source.parameters[0].value.name == "IsSoftDeleted"
    assert formatted.matching_priority == 1
    assert formatted.source is not None and formatted.source.type is AttributeMappingSourceType.Function
    separator = formatted.source.parameters[0].value
    assert separator is not None and separator.type is AttributeMappingSourceType.Constant
    assert user_type.source is None and user_type.default_value == "Employee"

    wire = schema.to_wire()
    wire_mapping = wire["synchronizationRules"][0]["objectMappings"][0]
    assert wire_mapping["flowTypes"] == "Add, Update, Delete"
    assert wire["directories"][0]["objects"][0]["attributes"][0]["type"] == "String"
    assert wire_mapping["attributeMappings"][0] == {
        "defaultValue": None,
        "exportMissingReferences": False,
        "flowBehavior": "FlowWhenChanged",
        "flowType": "Always",
        "matchingPriority": 0,
        "source": {"expression": None, "name": None, "parameters": [], "type": "Attribute"},
        "targetAttributeName": "userName",
    }
    assert wire["directories"][1] == {
        "id": None,
        "discoverabilities": "None",
        "discoveryDateTime": None,
        "name": "Salesforce",
        "objects": [],
        "readOnly": False,
        "version": None,
    }
    assert SynchronizationSchema.model_validate(wire) == schema


def test_attribute_definition_defaults_are_the_documented_ones() -> None:
    assert AttributeDefinition().to_wire() == {
        "anchor": False,
        "apiExpressions": [],
        "caseExact": False,
        "defaultValue": None,
        "flowNullValues": False,
        "metadata": [],
        "multivalued": False,
        "mutability": "ReadWrite",
        "name": None,
        "referencedObjects": [],
        "required": False,
        "type": "String",
    }


def test_not_null_boolean_sent_as_null_is_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        AttributeDefinition.model_validate({"name": "x", "anchor": None})
    assert [e["loc"] for e in caught.value.errors()] == [("anchor",)]


def test_null_collection_reads_as_empty() -> None:
    definition = AttributeDefinition.model_validate({"metadata": None, "referencedObjects": None})
    assert definition.metadata == [] and definition.referenced_objects == []


def test_unknown_plain_enum_member_error_names_it() -> None:
    with pytest.raises(ValidationError) as caught:
        AttributeMapping.model_validate({"flowType": "Sometimes"})
    (error,) = caught.value.errors()
    assert error["loc"] == ("flowType",)
    assert error["msg"] == "Value error, 'Sometimes' is not a member of attributeFlowType"


def test_plain_enums_reject_numbers() -> None:
    with pytest.raises(ValidationError):
        AttributeDefinition.model_validate({"type": 0})


def test_plain_enum_lookup_works_outside_pydantic_too() -> None:
    assert AttributeType("dateTime") is AttributeType.DateTime
    assert SynchronizationSecret("none") is SynchronizationSecret["None"]
    with pytest.raises(ValueError, match=r"^'Text' is not a member of attributeType$"):
        AttributeType("Text")


def test_filter_operator_and_function_schemas_emit_both_name_and_id() -> None:
    operator = FilterOperatorSchema.model_validate(
        {
            "name": "EQUALS",
            "arity": "Binary",
            "multivaluedComparisonType": "All",
            "supportedAttributeTypes": ["String", "Integer"],
        }
    )
    assert operator.to_wire() == {
        "id": "EQUALS",
        "name": "EQUALS",
        "arity": "Binary",
        "multivaluedComparisonType": "All",
        "supportedAttributeTypes": ["String", "Integer"],
    }
    function = AttributeMappingFunctionSchema.model_validate(
        {
            "id": "Append",
            "parameters": [
                {"allowMultipleOccurrences": False, "name": "source", "required": True, "type": "String"}
            ],
        }
    )
    assert function.name == "Append"
    assert (
        FilterOperatorSchema(name="IS TRUE", arity=ScopeOperatorType.Unary).to_wire()[
            "multivaluedComparisonType"
        ]
        == "All"
    )


def test_parse_expression_request_from_docs_keeps_dynamic_values() -> None:
    request = ParseExpressionRequest.model_validate(
        {
            "expression": 'Replace([preferredLanguage], "-", , , "_", , )',
            "targetAttributeDefinition": None,
            "testInputObject": {
                "definition": None,
                "properties": [
                    {"key": "objectId", "value": "66E4A8CC-1B7B-435E-95F8-F06CEA133828"},
                    {"key": "IsSoftDeleted", "value": False},
                    {"key": "proxyAddresses", "value": ["smtp:a@contoso.com"]},
                    {"key": "preferredLanguage", "value": "en-US"},
                ],
            },
        }
    )
    assert request.test_input_object is not None
    wire = request.to_wire()
    assert wire["testInputObject"]["properties"][1] == {"key": "IsSoftDeleted", "value": False}
    assert wire["testInputObject"]["properties"][2] == {
        "key": "proxyAddresses",
        "value": ["smtp:a@contoso.com"],
    }
    assert StringKeyObjectValuePair.model_validate({"key": "k", "value": {"nested": 1}}).to_wire() == {
        "key": "k",
        "value": {"nested": 1},
    }


# Templates, metadata and secrets

TEMPLATE_BETA: dict[str, Any] = {
    "@odata.context": "https://graph.microsoft.com/beta/$metadata#servicePrincipals('x')/synchronization/templates/$entity",
    "@odata.type": "#microsoft.graph.synchronizationTemplate",
    "id": "aWSSingleSignon",
    "applicationId": "21ED01D2-EC13-4E9E-86C1-CD546719EBC4",
    "default": True,
    "description": None,
    "discoverable": True,
    "factoryTag": "aWSSingleSignon",
    "metadata": [
        {"key": "galleryApplicationKey", "value": "awssinglesignon"},
        {"key": "isSynchronizationInPreview", "value": "true"},
        {"key": "AzureIngestionAttributeOptimization", "value": "False"},
    ],
    "schema@odata.context": "https://graph.microsoft.com/beta/$metadata#.../schema/$entity",
    "schema": {
        "@odata.type": "#microsoft.graph.synchronizationSchema",
        "id": "aWSSingleSignon.00000000000000000000000000000000",
        "version": "6.0",
        "synchronizationRules": [
            {
                "editable": True,
                "id": "03f7d90d-bf71-41b1-bda6-aaf0ddbee5d8",
                "name": "USERGROUP_OUTBOUND_USERGROUP",
                "priority": 1,
                "sourceDirectoryName": "Azure Active Directory",
                "targetDirectoryName": "AWSSingleSignon",
                "objectMappings": [{"enabled": True, "flowTypes": "Add,Update,Delete", "scope": None}],
            }
        ],
    },
}


def test_odata_annotations_are_ignored_on_input() -> None:
    template = SynchronizationTemplate.model_validate(TEMPLATE_BETA)
    wire = template.to_wire()
    assert not [key for key in wire if "@odata" in key]
    assert not [key for key in wire["schema"] if "@odata" in key]
    assert wire["schema"]["id"] == "aWSSingleSignon.00000000000000000000000000000000"
    assert set(wire) == {
        "id",
        "applicationId",
        "default",
        "description",
        "discoverable",
        "factoryTag",
        "metadata",
        "schema",
    }


def test_unknown_property_is_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        CreateJobRequest.model_validate({"templateId": "scim", "templateName": "scim"})
    assert [(e["loc"], e["type"]) for e in caught.value.errors()] == [(("templateName",), "extra_forbidden")]

    nested = {
        "synchronizationRules": [{"objectMappings": [{"attributeMappings": [{"sourceAttribute": "mail"}]}]}]
    }
    with pytest.raises(ValidationError) as caught:
        SynchronizationSchema.model_validate(nested)
    assert [e["loc"] for e in caught.value.errors()] == [
        ("synchronizationRules", 0, "objectMappings", 0, "attributeMappings", 0, "sourceAttribute")
    ]


def test_snake_case_names_are_accepted_too() -> None:
    assert CreateJobRequest.model_validate({"template_id": "scim"}).template_id == "scim"


def test_template_keeps_metadata_keys_in_v1_casing_and_unknown_keys_as_sent() -> None:
    template = SynchronizationTemplate.model_validate(TEMPLATE_BETA)
    assert template.application_id == "21ed01d2-ec13-4e9e-86c1-cd546719ebc4"
    assert template.default is True
    assert [entry.key for entry in template.metadata] == [
        "GalleryApplicationKey",
        "IsSynchronizationInPreview",
        "AzureIngestionAttributeOptimization",
    ]
    assert template.schema_ is not None
    assert template.to_wire()["schema"]["synchronizationRules"][0]["objectMappings"][0]["flowTypes"] == (
        "Add, Update, Delete"
    )


def test_template_application_id_must_be_a_guid() -> None:
    with pytest.raises(ValidationError) as caught:
        SynchronizationTemplate.model_validate(
            {"id": "Slack", "applicationId": "{id}", "factoryTag": "CustomSCIM"}
        )
    (error,) = caught.value.errors()
    assert error["loc"] == ("applicationId",)
    assert error["msg"] == "Value error, '{id}' is not a GUID"


def test_template_without_schema_emits_null_schema() -> None:
    template = SynchronizationTemplate(id="scim", application_id="8adf8e6e-67b2-4cf2-a259-e3dc5476c621")
    assert template.to_wire()["schema"] is None


@pytest.mark.parametrize(
    ("key", "version", "expected"),
    [
        ("GalleryApplicationKey", "beta", "galleryApplicationKey"),
        ("galleryApplicationKey", "v1.0", "GalleryApplicationKey"),
        ("OAuthSettings", "beta", "oAuthSettings"),
        ("isoauthenabled", "beta", "isOAuthEnabled"),
        ("isSynchronizationAgentAssignmentRequired", "beta", "IsSynchronizationAgentAssignmentRequired"),
        ("IsSynchronizationAgentRequired", "beta", "isSynchronizationAgentRequired"),
        ("configurationFields", "v1.0", "ConfigurationFields"),
        ("AzureIngestionAttributeOptimization", "beta", "AzureIngestionAttributeOptimization"),
    ],
)
def test_metadata_key_for_version(key: str, version: str, expected: str) -> None:
    assert metadata_key_for_version(key, version) == expected


def test_metadata_key_for_unknown_version_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"unknown Graph version 'v2.0'"):
        metadata_key_for_version("GalleryApplicationKey", "v2.0")


def test_metadata_entry_key_may_be_null() -> None:
    assert SynchronizationMetadataEntry.model_validate({"key": None, "value": "x"}).key is None


def test_secrets_put_body_from_docs_validates() -> None:
    body = {
        "value": [
            {"key": "BaseAddress", "value": "https://scim.example.com/scim"},
            {"key": "secrettoken", "value": "token"},
            {"key": "SyncNotificationSettings", "value": '{"Enabled":false,"DeleteThresholdEnabled":false}'},
            {"key": "SyncAll", "value": "false"},
        ]
    }
    request = SecretsPutRequest.model_validate(body)
    assert [pair.key for pair in request.value] == [
        SynchronizationSecret.BaseAddress,
        SynchronizationSecret.SecretToken,
        SynchronizationSecret.SyncNotificationSettings,
        SynchronizationSecret.SyncAll,
    ]
    assert request.to_wire()["value"][1] == {"key": "SecretToken", "value": "token"}


def test_unknown_secret_key_is_a_validation_error_naming_it() -> None:
    with pytest.raises(ValidationError) as caught:
        SynchronizationSecretKeyStringValuePair.model_validate({"key": "ApiKey", "value": "x"})
    (error,) = caught.value.errors()
    assert error["loc"] == ("key",)
    assert error["msg"] == "Value error, 'ApiKey' is not a member of synchronizationSecret"


def test_secret_key_is_required() -> None:
    with pytest.raises(ValidationError):
        SynchronizationSecretKeyStringValuePair.model_validate({"value": "x"})


def test_validate_credentials_collection_body_from_cross_tenant_docs() -> None:
    request = ValidateCredentialsRequest.model_validate(
        {
            "useSavedCredentials": False,
            "templateId": "Azure2Azure",
            "credentials": [
                {"key": "CompanyId", "value": "3d0f5dec-5d3d-455c-8016-e2af1ae4d31a"},
                {"key": "AuthenticationType", "value": "SyncPolicy"},
            ],
        }
    )
    assert request.template_id == "Azure2Azure"
    assert [pair.key for pair in request.credentials] == [
        SynchronizationSecret.CompanyId,
        SynchronizationSecret.AuthenticationType,
    ]
    assert ValidateCredentialsRequest.model_validate({"useSavedCredentials": True}).credentials == []


def test_provision_on_demand_group_with_members_from_docs_validates() -> None:
    request = ProvisionOnDemandRequest.model_validate(
        {
            "parameters": [
                {
                    "ruleId": "33f7c90d-bf71-41b1-bda6-aaf0ddbee5d8#V2",
                    "subjects": [
                        {
                            "objectId": "8213fd5c-2c1e-4b3e-8d0a-7a8e8f8a2a2a",
                            "objectTypeName": "Group",
                            "links": {
                                "members": [
                                    {
                                        "objectId": "cbc86211-6ada-4803-b73f-8039cf56d8a2",
                                        "objectTypeName": "User",
                                    },
                                    {
                                        "objectId": "2bc86211-6ada-4803-b73f-8039cf56d8a2",
                                        "objectTypeName": "User",
                                    },
                                ]
                            },
                        }
                    ],
                }
            ]
        }
    )
    (subject,) = request.parameters[0].subjects
    assert subject.links is not None
    assert [member.object_id for member in subject.links.members] == [
        "cbc86211-6ada-4803-b73f-8039cf56d8a2",
        "2bc86211-6ada-4803-b73f-8039cf56d8a2",
    ]
    assert request.to_wire()["parameters"][0]["subjects"][0]["links"] == {
        "manager": None,
        "members": [
            {"links": None, "objectId": "cbc86211-6ada-4803-b73f-8039cf56d8a2", "objectTypeName": "User"},
            {"links": None, "objectId": "2bc86211-6ada-4803-b73f-8039cf56d8a2", "objectTypeName": "User"},
        ],
        "owners": [],
    }


# DateTimeOffset and Duration


@pytest.mark.parametrize(
    ("raw", "wire"),
    [
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
        ("2019-03-20T15:47:50.4707552Z", "2019-03-20T15:47:50.470Z"),
        ("2026-01-02T05:04:05.123+02:00", "2026-01-02T03:04:05.123Z"),
        ("2026-01-02T03:04:05", "2026-01-02T03:04:05Z"),
    ],
)
def test_timestamps_are_emitted_in_utc_with_z(raw: str, wire: str) -> None:
    progress = SynchronizationStatus.model_validate(
        {"code": "Active", "steadyStateFirstAchievedTime": raw, "steadyStateLastAchievedTime": NEVER}
    )
    assert progress.to_wire()["steadyStateFirstAchievedTime"] == wire
    assert progress.to_wire()["steadyStateLastAchievedTime"] == "0001-01-01T00:00:00Z"


def test_format_datetime_keeps_milliseconds() -> None:
    assert format_datetime(datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)) == "2026-01-02T03:04:05.123Z"
    assert format_datetime(datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-1)))) == (
        "2026-01-02T04:04:05Z"
    )


def test_timestamp_that_leaves_the_calendar_in_utc_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        SynchronizationSchedule.model_validate({"expiration": "0001-01-01T00:00:00+01:00"})


@pytest.mark.parametrize(
    ("raw", "interval", "wire"),
    [
        ("PT40M", timedelta(minutes=40), "PT40M"),
        ("pt2m", timedelta(minutes=2), "PT2M"),
        ("PT2400S", timedelta(minutes=40), "PT40M"),
        ("P1DT2H", timedelta(days=1, hours=2), "P1DT2H"),
        ("PT0S", timedelta(0), "PT0S"),
        ("PT1.5S", timedelta(seconds=1.5), "PT1.5S"),
        ("P10675199DT2H48M5.4775807S", TIMESPAN_MAX, "P10675199DT2H48M5.4775807S"),
        ("P99999999D", TIMESPAN_MAX, "P10675199DT2H48M5.4775807S"),
    ],
)
def test_schedule_interval_parses_and_emits_iso_durations(raw: str, interval: timedelta, wire: str) -> None:
    schedule = SynchronizationSchedule.model_validate({"interval": raw, "state": "active"})
    assert schedule.interval == interval
    assert schedule.to_wire() == {"expiration": None, "interval": wire, "state": "Active"}


@pytest.mark.parametrize("raw", ["P1M", "P1Y", "40 minutes", "P", "PT", "P1DT", 2400, "PT-5M"])
def test_non_day_time_durations_are_rejected(raw: object) -> None:
    with pytest.raises(ValidationError):
        SynchronizationSchedule.model_validate({"interval": raw})


def test_timespan_max_value_round_trips_exactly() -> None:
    text = "P10675199DT2H48M5.4775807S"
    assert format_duration(parse_duration(text)) == text
    assert format_duration(-parse_duration(text)) == "-" + text


@given(st.timedeltas(min_value=-TIMESPAN_MAX, max_value=TIMESPAN_MAX))
def test_duration_format_parse_round_trips(value: timedelta) -> None:
    assert parse_duration(format_duration(value)) == value


# OpenAPI


def test_every_model_has_a_json_schema_with_wire_forms() -> None:
    import pydantic

    import provisiond.graph.synchronization as module

    models = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, pydantic.BaseModel) and obj.__module__ == module.__name__
    ]
    assert len(models) == 54
    for model in models:
        model.model_json_schema(mode="validation")
        model.model_json_schema(mode="serialization")
    reset_scope = SynchronizationJobRestartCriteria.model_json_schema()["properties"]["resetScope"]
    assert [branch["type"] for branch in reset_scope["anyOf"]] == ["string", "null"]
    interval = SynchronizationSchedule.model_json_schema()["properties"]["interval"]
    assert (interval["type"], interval["format"], interval["default"]) == ("string", "duration", "PT40M")
