"""Wire models of the synchronization API: every type of reference §2, plus the request bodies.

One module of about 550 lines because the types refer to each other (schema → directories →
objects → attributes; mappings → sources → parameters): split, they would import in a circle.

Property names, types and nullability follow [CSDL-v1]. Nullable properties default to None and
are emitted as null. Properties the CSDL marks NOT NULL are never null in output; on input
they are as lenient as Graph's .NET deserializer, which leaves a missing value-type property at
its default: the documented default where the docs give one (attributeDefinition mutability
ReadWrite, objectMapping flowTypes "Add, Update, Delete" and enabled true, ...), otherwise false
for booleans and 0 for integers. NOT NULL enums without a documented default, timestamps and
ids that the service itself produces stay required. Collections are never null (see `Collection`).

Entity ids that clients leave out of a schema PUT (the docs' own example has none on the schema
and its directories) are optional here; the service assigns them before it writes a response.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, model_validator

from provisiond.graph.base import Collection, DateTimeOffset, Duration, GraphModel, Guid
from provisiond.graph.enums import (
    AttributeDefinitionMetadata,
    AttributeFlowBehavior,
    AttributeFlowType,
    AttributeMappingSourceType,
    AttributeType,
    DirectoryDefinitionDiscoverabilities,
    GraphEnum,
    Mutability,
    ObjectDefinitionMetadata,
    ObjectFlowTypes,
    ObjectMappingMetadata,
    QuarantineReason,
    ScopeOperatorMultiValuedComparisonType,
    ScopeOperatorType,
    SynchronizationJobRestartScope,
    SynchronizationMetadata,
    SynchronizationScheduleState,
    SynchronizationSecret,
    SynchronizationStatusCode,
    SynchronizationTaskExecutionResult,
    canonical_key,
)

NEVER = datetime(1, 1, 1, tzinfo=UTC)
"""Graph's value for a time that was never reached, written `0001-01-01T00:00:00Z`."""


def _metadata_key(cls: type[GraphEnum]) -> AfterValidator:
    """A metadata key type: any string, with known keys brought to their canonical spelling."""

    def canonical(key: str | None) -> str | None:
        return None if key is None else canonical_key(cls, key)

    return AfterValidator(canonical)


# Shared pairs


class KeyValuePair(GraphModel):
    name: str
    value: str | None = None


class StringKeyStringValuePair(GraphModel):
    key: str | None = None
    value: str | None = None


class StringKeyLongValuePair(GraphModel):
    key: str | None = None
    value: int = 0


class StringKeyObjectValuePair(GraphModel):
    """An open type: `value` (any JSON) and other dynamic properties are kept as sent."""

    model_config = ConfigDict(extra="allow")

    key: str | None = None


# Job status


class SynchronizationError(GraphModel):
    code: str | None = None
    message: str | None = None
    tenant_actionable: bool = False


class SynchronizationTaskExecution(GraphModel):
    activity_identifier: str | None = None
    count_entitled: int = 0
    count_entitled_for_provisioning: int = 0
    count_escrowed: int = 0
    count_escrowed_raw: int = 0
    count_exported: int = 0
    count_exports: int = 0
    count_imported: int = 0
    count_imported_deltas: int = 0
    count_imported_reference_deltas: int = 0
    error: SynchronizationError | None = None
    state: SynchronizationTaskExecutionResult
    time_began: DateTimeOffset
    time_ended: DateTimeOffset


class SynchronizationProgress(GraphModel):
    completed_units: int = 0
    progress_observation_date_time: DateTimeOffset
    total_units: int = 0
    units: str | None = None


class SynchronizationQuarantine(GraphModel):
    current_began: DateTimeOffset
    error: SynchronizationError | None = None
    next_attempt: DateTimeOffset
    reason: QuarantineReason
    series_began: DateTimeOffset
    series_count: int = 0


class SynchronizationStatus(GraphModel):
    code: SynchronizationStatusCode
    count_successive_complete_failures: int = 0
    escrows_pruned: bool = False
    last_execution: SynchronizationTaskExecution | None = None
    last_successful_execution: SynchronizationTaskExecution | None = None
    last_successful_execution_with_exports: SynchronizationTaskExecution | None = None
    progress: Collection[SynchronizationProgress] = Field(default_factory=list)
    quarantine: SynchronizationQuarantine | None = None
    steady_state_first_achieved_time: DateTimeOffset
    steady_state_last_achieved_time: DateTimeOffset
    synchronized_entry_count_by_type: Collection[StringKeyLongValuePair] = Field(default_factory=list)
    troubleshooting_url: str | None = None

    @classmethod
    def initial(cls) -> Self:
        """The status of a job just created (reference §8.2): Paused until it is started."""
        return cls(
            code=SynchronizationStatusCode.Paused,
            steady_state_first_achieved_time=NEVER,
            steady_state_last_achieved_time=NEVER,
        )


class SynchronizationSchedule(GraphModel):
    """Defaults are a new job's schedule (reference §8.2): every 40 minutes, not yet enabled."""

    expiration: DateTimeOffset | None = None
    interval: Duration = timedelta(minutes=40)
    state: SynchronizationScheduleState = SynchronizationScheduleState.Disabled


def _empty_scope_as_absent(value: Any) -> Any:
    if (isinstance(value, str) and not value.strip()) or value == []:
        return None
    return value


ResetScope = Annotated[SynchronizationJobRestartScope | None, BeforeValidator(_empty_scope_as_absent)]


class SynchronizationJobRestartCriteria(GraphModel):
    """`resetScope` is None when absent, null or empty ("" or []); an explicit "None" is 0.

    The docs give "empty" its own meaning (the portal's Restart, like "Watermark, Escrows,
    QuarantineState"), which the service applies; the model only keeps it distinguishable.
    """

    reset_scope: ResetScope = None


class SynchronizationJob(GraphModel):
    """A job as GET returns it; `schema` and `bulkUpload` are separate URL segments, not inlined."""

    id: str
    schedule: SynchronizationSchedule | None = Field(default_factory=SynchronizationSchedule)
    status: SynchronizationStatus | None = Field(default_factory=SynchronizationStatus.initial)
    synchronization_job_settings: Collection[KeyValuePair] = Field(default_factory=list)
    template_id: str | None = None


# Directory definitions


class ReferencedObject(GraphModel):
    referenced_object_name: str | None = None
    referenced_property: str | None = None


class AttributeDefinitionMetadataEntry(GraphModel):
    key: Annotated[str | None, _metadata_key(AttributeDefinitionMetadata)] = None
    value: str | None = None


class AttributeDefinition(GraphModel):
    anchor: bool = False
    api_expressions: Collection[StringKeyStringValuePair] = Field(default_factory=list)
    case_exact: bool = False
    default_value: str | None = None
    flow_null_values: bool = False
    metadata: Collection[AttributeDefinitionMetadataEntry] = Field(default_factory=list)
    multivalued: bool = False
    mutability: Mutability = Mutability.ReadWrite
    name: str | None = None
    referenced_objects: Collection[ReferencedObject] = Field(default_factory=list)
    required: bool = False
    type: AttributeType = AttributeType.String


class ObjectDefinitionMetadataEntry(GraphModel):
    key: Annotated[str | None, _metadata_key(ObjectDefinitionMetadata)] = None
    value: str | None = None


class ObjectDefinition(GraphModel):
    attributes: Collection[AttributeDefinition] = Field(default_factory=list)
    metadata: Collection[ObjectDefinitionMetadataEntry] = Field(default_factory=list)
    name: str | None = None
    supported_apis: Collection[str] = Field(default_factory=list)


class DirectoryDefinition(GraphModel):
    id: str | None = None
    discoverabilities: DirectoryDefinitionDiscoverabilities = DirectoryDefinitionDiscoverabilities(0)
    discovery_date_time: DateTimeOffset | None = None
    name: str | None = None
    objects: Collection[ObjectDefinition] = Field(default_factory=list)
    read_only: bool = False
    version: str | None = None


# Synchronization rules and mappings


class FilterOperand(GraphModel):
    values: Collection[str] = Field(default_factory=list)


class FilterClause(GraphModel):
    operator_name: str | None = None
    source_operand_name: str | None = None
    target_operand: FilterOperand | None = None


class FilterGroup(GraphModel):
    clauses: Collection[FilterClause] = Field(default_factory=list)
    name: str | None = None


class Filter(GraphModel):
    category_filter_groups: Collection[FilterGroup] = Field(default_factory=list)
    groups: Collection[FilterGroup] = Field(default_factory=list)
    input_filter_groups: Collection[FilterGroup] = Field(default_factory=list)


class AttributeMappingSource(GraphModel):
    expression: str | None = None
    name: str | None = None
    parameters: Collection[StringKeyAttributeMappingSourceValuePair] = Field(default_factory=list)
    type: AttributeMappingSourceType = AttributeMappingSourceType.Attribute


class StringKeyAttributeMappingSourceValuePair(GraphModel):
    key: str | None = None
    value: AttributeMappingSource | None = None


class AttributeMapping(GraphModel):
    default_value: str | None = None
    export_missing_references: bool = False
    flow_behavior: AttributeFlowBehavior = AttributeFlowBehavior.FlowWhenChanged
    flow_type: AttributeFlowType = AttributeFlowType.Always
    matching_priority: int = 0
    source: AttributeMappingSource | None = None
    target_attribute_name: str | None = None


class ObjectMappingMetadataEntry(GraphModel):
    key: Annotated[str | None, _metadata_key(ObjectMappingMetadata)] = None
    value: str | None = None


class ObjectMapping(GraphModel):
    attribute_mappings: Collection[AttributeMapping] = Field(default_factory=list)
    enabled: bool = True
    flow_types: ObjectFlowTypes = ObjectFlowTypes.Add | ObjectFlowTypes.Update | ObjectFlowTypes.Delete
    metadata: Collection[ObjectMappingMetadataEntry] = Field(default_factory=list)
    name: str | None = None
    scope: Filter | None = None
    source_object_name: str | None = None
    target_object_name: str | None = None


class ContainerFilter(GraphModel):
    included_containers: Collection[str] = Field(default_factory=list)


class GroupFilter(GraphModel):
    included_groups: Collection[str] = Field(default_factory=list)


class SynchronizationRule(GraphModel):
    container_filter: ContainerFilter | None = None
    editable: bool = False
    group_filter: GroupFilter | None = None
    id: str | None = None
    metadata: Collection[StringKeyStringValuePair] = Field(default_factory=list)
    name: str | None = None
    object_mappings: Collection[ObjectMapping] = Field(default_factory=list)
    priority: int = 0
    source_directory_name: str | None = None
    target_directory_name: str | None = None


class SynchronizationSchema(GraphModel):
    """`directories` is a contained navigation that Graph returns inline."""

    id: str | None = None
    synchronization_rules: Collection[SynchronizationRule] = Field(default_factory=list)
    version: str | None = None
    directories: Collection[DirectoryDefinition] = Field(default_factory=list)


# Schema functions: filterOperators, functions, parseExpression


class _NamedSchemaEntity(GraphModel):
    """The CSDL keys these entities by `id` but every documented response uses `name` (§1.2).

    Both are emitted with the same value, so docs-minded clients and CSDL-generated SDKs each
    find theirs; either one is enough on input.
    """

    id: str | None = None
    name: str | None = None

    @model_validator(mode="after")
    def _same_id_and_name(self) -> Self:
        if self.id is None:
            self.id = self.name
        elif self.name is None:
            self.name = self.id
        return self


class FilterOperatorSchema(_NamedSchemaEntity):
    arity: ScopeOperatorType = ScopeOperatorType.Binary
    multivalued_comparison_type: ScopeOperatorMultiValuedComparisonType = (
        ScopeOperatorMultiValuedComparisonType.All
    )
    supported_attribute_types: Collection[AttributeType] = Field(default_factory=list)


class AttributeMappingParameterSchema(GraphModel):
    allow_multiple_occurrences: bool = False
    name: str | None = None
    required: bool = False
    type: AttributeType = AttributeType.String


class AttributeMappingFunctionSchema(_NamedSchemaEntity):
    parameters: Collection[AttributeMappingParameterSchema] = Field(default_factory=list)


class PublicErrorDetail(GraphModel):
    code: str | None = None
    message: str | None = None
    target: str | None = None


class PublicInnerError(GraphModel):
    """An open type: dynamic properties are kept as sent."""

    model_config = ConfigDict(extra="allow")

    code: str | None = None
    details: Collection[PublicErrorDetail] = Field(default_factory=list)
    message: str | None = None
    target: str | None = None


class PublicError(GraphModel):
    code: str | None = None
    details: Collection[PublicErrorDetail] = Field(default_factory=list)
    inner_error: PublicInnerError | None = None
    message: str | None = None
    target: str | None = None


class ExpressionInputObject(GraphModel):
    definition: ObjectDefinition | None = None
    properties: Collection[StringKeyObjectValuePair] = Field(default_factory=list)


class ParseExpressionResponse(GraphModel):
    error: PublicError | None = None
    evaluation_result: Collection[str] = Field(default_factory=list)
    evaluation_succeeded: bool = False
    parsed_expression: AttributeMappingSource | None = None
    parsing_succeeded: bool = False


# Templates and secrets


class SynchronizationMetadataEntry(GraphModel):
    """`key` is kept in v1.0 casing; `enums.metadata_key_for_version` gives the beta spelling."""

    key: Annotated[str | None, _metadata_key(SynchronizationMetadata)] = None
    value: str | None = None


class SynchronizationTemplate(GraphModel):
    """`schema` is a contained navigation that Graph returns inline in template responses."""

    id: str
    application_id: Guid
    default: bool = False
    description: str | None = None
    discoverable: bool = False
    factory_tag: str | None = None
    metadata: Collection[SynchronizationMetadataEntry] = Field(default_factory=list)
    schema_: SynchronizationSchema | None = Field(default=None, alias="schema")


class SynchronizationSecretKeyStringValuePair(GraphModel):
    key: SynchronizationSecret
    value: str | None = None


# provisionOnDemand parameters


class SynchronizationJobSubject(GraphModel):
    links: SynchronizationLinkedObjects | None = None
    object_id: str | None = None
    object_type_name: str | None = None


class SynchronizationLinkedObjects(GraphModel):
    manager: SynchronizationJobSubject | None = None
    members: Collection[SynchronizationJobSubject] = Field(default_factory=list)
    owners: Collection[SynchronizationJobSubject] = Field(default_factory=list)


class SynchronizationJobApplicationParameters(GraphModel):
    rule_id: str | None = None
    subjects: Collection[SynchronizationJobSubject] = Field(default_factory=list)


# Request bodies


class CreateJobRequest(GraphModel):
    """`POST .../synchronization/jobs`."""

    template_id: str


class SynchronizationSchedulePatch(GraphModel):
    """A schedule in a PATCH body: only the properties sent (`model_fields_set`) are changes."""

    expiration: DateTimeOffset | None = None
    interval: Duration | None = None
    state: SynchronizationScheduleState | None = None


class JobPatchRequest(GraphModel):
    """`PATCH .../jobs/{jobId}`: listed only in the permissions data, shape is our choice (§1.1 J5)."""

    schedule: SynchronizationSchedulePatch | None = None
    synchronization_job_settings: list[KeyValuePair] | None = None


class RestartRequest(GraphModel):
    """`POST .../restart`: `criteria` may be left out or null (reference §4)."""

    criteria: SynchronizationJobRestartCriteria | None = None


class ValidateCredentialsRequest(GraphModel):
    """`POST .../validateCredentials`, on a job or on the jobs collection (§1.1 J10, J11)."""

    application_identifier: str | None = None
    credentials: Collection[SynchronizationSecretKeyStringValuePair] = Field(default_factory=list)
    template_id: str | None = None
    use_saved_credentials: bool = False


class SecretsPutRequest(GraphModel):
    """`PUT .../synchronization/secrets`: the docs' table says `credentials`, the wire says `value`."""

    value: Collection[SynchronizationSecretKeyStringValuePair]


class ProvisionOnDemandRequest(GraphModel):
    """`POST .../provisionOnDemand`."""

    parameters: Collection[SynchronizationJobApplicationParameters]


class ParseExpressionRequest(GraphModel):
    """`POST .../schema/parseExpression`."""

    expression: str
    test_input_object: ExpressionInputObject | None = None
    target_attribute_definition: AttributeDefinition | None = None


# Builders of the JSON form, for templates and discovered directories


def attribute_definition(
    name: str,
    type: str = "String",
    *,
    anchor: bool = False,
    case_exact: bool = False,
    multivalued: bool = False,
    mutability: str = "ReadWrite",
    required: bool = False,
    references: tuple[str, ...] = (),
    referenced_property: str | None = None,
) -> dict[str, Any]:
    """An attributeDefinition with every CSDL property; `references` makes it a Reference."""
    if references:
        type = "Reference"
    return {
        "anchor": anchor,
        "apiExpressions": [],
        "caseExact": case_exact,
        "defaultValue": None,
        "flowNullValues": False,
        "metadata": [],
        "multivalued": multivalued,
        "mutability": mutability,
        "name": name,
        "referencedObjects": [
            {"referencedObjectName": obj, "referencedProperty": referenced_property} for obj in references
        ],
        "required": required,
        "type": type,
    }
