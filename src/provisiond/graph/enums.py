"""The enumerations of the synchronization API, exactly as [CSDL-v1] declares them (reference §3).

Plain enums are `StrEnum`s whose values are the member names, because that is the JSON form.
They parse case-insensitively (the docs send `"type": "string"`) and always emit the canonical
name; an unknown name is a `ValueError` naming it, which pydantic reports as a validation error.

The three `IsFlags` enums are `IntFlag`s with the CSDL numbers; as pydantic fields they take
every form of `flags.parse_flags` and serialize to the canonical comma-separated string.

`None` is a Python keyword, so the members called `None` are declared through `vars()`: that is
the only way to give a member that exact name in a class body. Reach them as `Cls["None"]` or by
value (`SynchronizationSecret("None")`, `SynchronizationJobRestartScope(0)`).
"""

from __future__ import annotations

import enum
from typing import Any, Self

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from provisiond.graph.flags import FlagsType, find_member, wire_name


class GraphEnum(enum.StrEnum):
    """A plain Graph enum: case-insensitive on input, canonical member name on output."""

    @classmethod
    def _missing_(cls, value: object) -> Self:
        member = find_member(cls, value) if isinstance(value, str) else None
        if member is None:
            raise ValueError(f"{value!r} is not a member of {wire_name(cls)}")
        return member

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        # Strings go through `cls(...)` first so that `_missing_` folds the case and names a bad value.
        return core_schema.no_info_before_validator_function(
            lambda value: cls(value) if isinstance(value, str) else value,
            core_schema.enum_schema(cls, list(cls.__members__.values()), sub_type="str"),
        )


class GraphFlags(enum.IntFlag):
    """A Graph flags enum: pydantic fields annotated with it use `FlagsType` automatically."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return FlagsType(cls).__get_pydantic_core_schema__(source, handler)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return FlagsType(cls).__get_pydantic_json_schema__(schema, handler)


# Flags enums


class SynchronizationJobRestartScope(GraphFlags):
    vars()["None"] = 0
    ConnectorDataStore = 1
    Escrows = 2
    Watermark = 4
    QuarantineState = 8
    Full = 15
    ForceDeletes = 32


class ObjectFlowTypes(GraphFlags):
    vars()["None"] = 0
    Add = 1
    Update = 2
    Delete = 4


class DirectoryDefinitionDiscoverabilities(GraphFlags):
    vars()["None"] = 0
    AttributeNames = 1
    AttributeDataTypes = 2
    AttributeReadOnly = 4
    ReferenceAttributes = 8
    UnknownFutureValue = 16


# Plain enums, in CSDL value order


class SynchronizationStatusCode(GraphEnum):
    NotConfigured = "NotConfigured"
    NotRun = "NotRun"
    Active = "Active"
    Paused = "Paused"
    Quarantine = "Quarantine"


class SynchronizationScheduleState(GraphEnum):
    Active = "Active"
    Disabled = "Disabled"
    Paused = "Paused"


class SynchronizationTaskExecutionResult(GraphEnum):
    Succeeded = "Succeeded"
    Failed = "Failed"
    EntryLevelErrors = "EntryLevelErrors"


class QuarantineReason(GraphEnum):
    EncounteredBaseEscrowThreshold = "EncounteredBaseEscrowThreshold"
    EncounteredTotalEscrowThreshold = "EncounteredTotalEscrowThreshold"
    EncounteredEscrowProportionThreshold = "EncounteredEscrowProportionThreshold"
    EncounteredQuarantineException = "EncounteredQuarantineException"
    Unknown = "Unknown"
    QuarantinedOnDemand = "QuarantinedOnDemand"
    TooManyDeletes = "TooManyDeletes"
    IngestionInterrupted = "IngestionInterrupted"


class SynchronizationSecret(GraphEnum):
    vars()["None"] = "None"
    UserName = "UserName"
    Password = "Password"
    SecretToken = "SecretToken"
    AppKey = "AppKey"
    BaseAddress = "BaseAddress"
    ClientIdentifier = "ClientIdentifier"
    ClientSecret = "ClientSecret"
    SingleSignOnType = "SingleSignOnType"
    Sandbox = "Sandbox"
    Url = "Url"
    Domain = "Domain"
    ConsumerKey = "ConsumerKey"
    ConsumerSecret = "ConsumerSecret"
    TokenKey = "TokenKey"
    TokenExpiration = "TokenExpiration"
    Oauth2AccessToken = "Oauth2AccessToken"
    Oauth2AccessTokenCreationTime = "Oauth2AccessTokenCreationTime"
    Oauth2RefreshToken = "Oauth2RefreshToken"
    SyncAll = "SyncAll"
    InstanceName = "InstanceName"
    Oauth2ClientId = "Oauth2ClientId"
    Oauth2ClientSecret = "Oauth2ClientSecret"
    CompanyId = "CompanyId"
    UpdateKeyOnSoftDelete = "UpdateKeyOnSoftDelete"
    SynchronizationSchedule = "SynchronizationSchedule"
    SystemOfRecord = "SystemOfRecord"
    SandboxName = "SandboxName"
    EnforceDomain = "EnforceDomain"
    SyncNotificationSettings = "SyncNotificationSettings"
    SkipOutOfScopeDeletions = "SkipOutOfScopeDeletions"
    Oauth2AuthorizationCode = "Oauth2AuthorizationCode"
    Oauth2RedirectUri = "Oauth2RedirectUri"
    ApplicationTemplateIdentifier = "ApplicationTemplateIdentifier"
    Oauth2TokenExchangeUri = "Oauth2TokenExchangeUri"
    Oauth2AuthorizationUri = "Oauth2AuthorizationUri"
    AuthenticationType = "AuthenticationType"
    Server = "Server"
    PerformInboundEntitlementGrants = "PerformInboundEntitlementGrants"
    HardDeletesEnabled = "HardDeletesEnabled"
    SyncAgentCompatibilityKey = "SyncAgentCompatibilityKey"
    SyncAgentADContainer = "SyncAgentADContainer"
    ValidateDomain = "ValidateDomain"
    TestReferences = "TestReferences"
    ConnectionString = "ConnectionString"


class SynchronizationMetadata(GraphEnum):
    """v1.0 casing; beta spells most keys camelCase, see `metadata_key_for_version`."""

    GalleryApplicationIdentifier = "GalleryApplicationIdentifier"
    GalleryApplicationKey = "GalleryApplicationKey"
    IsOAuthEnabled = "IsOAuthEnabled"
    IsSynchronizationAgentAssignmentRequired = "IsSynchronizationAgentAssignmentRequired"
    IsSynchronizationAgentRequired = "IsSynchronizationAgentRequired"
    IsSynchronizationInPreview = "IsSynchronizationInPreview"
    OAuthSettings = "OAuthSettings"
    SynchronizationLearnMoreIbizaFwLink = "SynchronizationLearnMoreIbizaFwLink"
    ConfigurationFields = "ConfigurationFields"


class ScopeOperatorType(GraphEnum):
    Binary = "Binary"
    Unary = "Unary"


class ScopeOperatorMultiValuedComparisonType(GraphEnum):
    All = "All"
    Any = "Any"


class Mutability(GraphEnum):
    ReadWrite = "ReadWrite"
    ReadOnly = "ReadOnly"
    Immutable = "Immutable"
    WriteOnly = "WriteOnly"


class AttributeType(GraphEnum):
    String = "String"
    Integer = "Integer"
    Reference = "Reference"
    Binary = "Binary"
    Boolean = "Boolean"
    DateTime = "DateTime"


class AttributeFlowBehavior(GraphEnum):
    FlowWhenChanged = "FlowWhenChanged"
    FlowAlways = "FlowAlways"


class AttributeFlowType(GraphEnum):
    Always = "Always"
    ObjectAddOnly = "ObjectAddOnly"
    MultiValueAddOnly = "MultiValueAddOnly"
    ValueAddOnly = "ValueAddOnly"
    AttributeAddOnly = "AttributeAddOnly"


class AttributeMappingSourceType(GraphEnum):
    Attribute = "Attribute"
    Constant = "Constant"
    Function = "Function"


class ObjectDefinitionMetadata(GraphEnum):
    PropertyNameAccountEnabled = "PropertyNameAccountEnabled"
    PropertyNameSoftDeleted = "PropertyNameSoftDeleted"
    IsSoftDeletionSupported = "IsSoftDeletionSupported"
    IsSynchronizeAllSupported = "IsSynchronizeAllSupported"
    ConnectorDataStorageRequired = "ConnectorDataStorageRequired"
    Extensions = "Extensions"
    BaseObjectName = "BaseObjectName"


class AttributeDefinitionMetadata(GraphEnum):
    BaseAttributeName = "BaseAttributeName"
    ComplexObjectDefinition = "ComplexObjectDefinition"
    IsContainer = "IsContainer"
    IsCustomerDefined = "IsCustomerDefined"
    IsDomainQualified = "IsDomainQualified"
    LinkPropertyNames = "LinkPropertyNames"
    LinkTypeName = "LinkTypeName"
    MaximumLength = "MaximumLength"
    ReferencedProperty = "ReferencedProperty"


class ObjectMappingMetadata(GraphEnum):
    EscrowBehavior = "EscrowBehavior"
    DisableMonitoringForChanges = "DisableMonitoringForChanges"
    OriginalJoiningProperty = "OriginalJoiningProperty"
    Disposition = "Disposition"
    IsCustomerDefined = "IsCustomerDefined"
    ExcludeFromReporting = "ExcludeFromReporting"
    Unsynchronized = "Unsynchronized"


class EscrowBehavior(GraphEnum):
    Default = "Default"
    IgnoreLookupReferenceResolutionFailure = "IgnoreLookupReferenceResolutionFailure"


def canonical_key(cls: type[GraphEnum], key: str) -> str:
    """A metadata key in its canonical member spelling when it is one, else unchanged.

    Real responses carry keys the enum lacks (`AzureIngestionAttributeOptimization`, §8.1),
    so metadata keys stay strings rather than enum members.
    """
    member = find_member(cls, key)
    return key if member is None else member.value


# Beta spells synchronizationMetadata members camelCase, except one (reference §1.5).
_BETA_METADATA_KEYS = {
    SynchronizationMetadata.GalleryApplicationIdentifier: "galleryApplicationIdentifier",
    SynchronizationMetadata.GalleryApplicationKey: "galleryApplicationKey",
    SynchronizationMetadata.IsOAuthEnabled: "isOAuthEnabled",
    SynchronizationMetadata.IsSynchronizationAgentAssignmentRequired: "IsSynchronizationAgentAssignmentRequired",
    SynchronizationMetadata.IsSynchronizationAgentRequired: "isSynchronizationAgentRequired",
    SynchronizationMetadata.IsSynchronizationInPreview: "isSynchronizationInPreview",
    SynchronizationMetadata.OAuthSettings: "oAuthSettings",
    SynchronizationMetadata.SynchronizationLearnMoreIbizaFwLink: "synchronizationLearnMoreIbizaFwLink",
    SynchronizationMetadata.ConfigurationFields: "configurationFields",
}


def metadata_key_for_version(key: str, version: str) -> str:
    """A synchronizationMetadata key as the given API version spells it ("v1.0" or "beta").

    Keys outside the enum are returned unchanged, whatever the version.
    """
    if version not in ("v1.0", "beta"):
        raise ValueError(f"unknown Graph version {version!r}; expected 'v1.0' or 'beta'")
    member = find_member(SynchronizationMetadata, key)
    if member is None:
        return key
    return _BETA_METADATA_KEYS[member] if version == "beta" else member.value
