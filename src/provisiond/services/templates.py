"""The built-in synchronization templates, as Graph JSON data.

Most of its length is data: the two templates' schemas in Graph's wire shape.

An application instantiated from the non-gallery application template
`8adf8e6e-67b2-4cf2-a259-e3dc5476c621` ("custom SCIM app") offers two templates:

* `scim` (factoryTag `scim`, the default): outbound provisioning of directory users and groups to
  a SCIM 2.0 endpoint. Its target directory is named "customappsso", as in Entra.
* `API2AAD` (factoryTag `API2AAD`): API-driven inbound provisioning. SCIM users posted to
  `/bulkUpload` are staged in the "API" directory and flowed into the directory.

Everything here is plain dicts and lists in the exact Graph wire shape (camelCase property
names, enums as member-name strings, flags as "Add, Update, Delete", v1.0 PascalCase
`synchronizationMetadata` keys; the API layer re-cases those for beta). There is no I/O, and
every public function returns a fresh deep copy that the caller may mutate.

Sources (see /work/shared/reference):

* graph-sync-api.md §2 (resource shapes, including every CSDL property of attributeDefinition and
  attributeMapping), §2.1 (the sample AAD `User` object and its metadata, objectMapping metadata
  values, constant/function source shapes), §8.1 (the real AWS template: metadata,
  `ConfigurationFields`, rule metadata, schema id `{templateId}.000…`), §8.2 (job defaults),
  §8.3 (the default Entra → SCIM user mapping and the portal's non-gallery "customappsso"
  mapping), §8.5 (function names and parameter names).
* entra-engine-behavior.md §5 (matching precedence; the primary key `id` must not be mapped),
  §6 (default mappings, the `active` expression), §10 (inbound: `externalId` ↔ `employeeId`,
  the manager reference is the manager's `externalId`, `active` drives `accountEnabled`).
* The Graph docs' schema samples for literal details: the "Azure Active Directory" directory id
  `66e4a8cc-1b7b-435e-95f8-f06cea133828`; function sources keep the expression text as written
  (`Mid([userPrincipalName], 1, 8)`) while a numeric argument is stored as the Constant
  `{"name": "1", "expression": "\\"1\\""}`; `SingleAppRoleAssignment`'s parameter key is
  `source`; objectMapping metadata order is IsCustomerDefined, DisableMonitoringForChanges,
  Disposition, ExcludeFromReporting, EscrowBehavior, Unsynchronized; `defaultSourceObjectMappings`
  is a .NET-serialized (PascalCase, integer enums) list of default object mappings.

Choices where the reference is silent or ambiguous:

* Rule name `USERGROUP_OUTBOUND_USERGROUP` for `scim`: the rule holds both the user and the
  group object mapping, and this is the name a real SCIM-based template with users and groups
  in one rule uses (the AWS template in §8.1). `USER_OUTBOUND_USER` appears on a users-only
  (Salesforce) sample. The rule id is the Entra→SaaS `ruleId` of the provisionOnDemand doc
  example, so runbooks copied from the docs work unchanged.
* `active` uses `Switch([IsSoftDeleted], , "False", "True", "True", "False")`, the expression
  the portal's custom-app template shows (the docs also show `Not([IsSoftDeleted])`).
* Entra's `telephoneNumber` is Graph's multi-valued `businessPhones` (Graph allows one value).
  It flows as `Item([businessPhones], 1)`: the reduction to one value is explicit in the data,
  so the attribute-flow code needs no implicit "multi-valued into single-valued" rule, and no
  information is lost because a user has at most one business phone.
* `physicalDeliveryOfficeName` is Graph's `officeLocation` and flows to
  `addresses[type eq "work"].formatted` (the portal mapping). `addresses[type eq "other"].formatted`
  and `emails[type eq "other"].value` (the tutorial's proxyAddresses target) are defined on the
  target so customers can map them, but are not mapped by default: proxyAddresses values carry
  an `smtp:` prefix and would not be valid e-mail addresses.
* The directory objects expose both `objectId` (Entra's name, the anchor) and `id` (Graph's
  name); the source connector supplies the same value for both.
* Server-assigned and computed attributes (`objectId`, `id`, `createdDateTime`, `IsSoftDeleted`,
  the SCIM `id`) are `ReadOnly`; `required` follows what Graph requires on create (users:
  userPrincipalName, displayName, mailNickname, accountEnabled; groups: displayName,
  mailNickname, mailEnabled, securityEnabled) and what SCIM requires (userName, group displayName).
  Entra's sample marks IsSoftDeleted required; it is never written, so it is not required here.
* The SCIM `id` is the target anchor (the "primary key" of the portal's attribute editor), which
  is exactly why no mapping targets it. SCIM `externalId` is caseExact, as in RFC 7643.
* The SCIM user object declares `IsSoftDeletionSupported=true` with `PropertyNameAccountEnabled=active`
  (deprovisioning disables by `active=false`); the SCIM group declares `false` (deleted instead).
* API2AAD: `[active]` flows directly to `accountEnabled` (both Boolean; a Switch on the string
  form would be case-sensitive and has the documented "null when unchanged" quirk).
  SCIM `userType` (Employee, Contractor, Intern…) means Graph `employeeType`; Graph `userType` only
  takes Member/Guest. `externalId` → `employeeId` is the matching attribute, so the enterprise
  `employeeNumber` is not also mapped to `employeeId` (two mappings cannot share a target).
  `mailNickname`, which Graph requires on create, is the local part of `userName`
  (`Item(Split([userName], "@"), 1)`), set on create only (`ObjectAddOnly`) so it stays stable.
  The manager is a Reference resolved by the manager's `externalId`.
  `supportsProvisionOnDemand` is "false": data is pushed, there is nothing to pull on demand.
* Job settings: `scim` inherits the three settings observed on outbound jobs. `API2AAD` drops
  `LookaheadQueryEnabled` (a look-ahead query is a pull-source feature; API data is pushed) and
  keeps the ingestion optimization flag and the accidental-deletion threshold, which the inbound
  docs recommend. Both templates schedule every `PT40M`, created `Disabled` (§8.2).
* Template schema `version` is "1.0"; the template `description` is a short human-readable text.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from provisiond.graph.synchronization import attribute_definition

JsonDict = dict[str, Any]

APPLICATION_TEMPLATE_CUSTOM_SCIM: Final = "8adf8e6e-67b2-4cf2-a259-e3dc5476c621"

SCIM_TEMPLATE_ID: Final = "scim"
API2AAD_TEMPLATE_ID: Final = "API2AAD"
TEMPLATE_IDS: tuple[str, ...] = (SCIM_TEMPLATE_ID, API2AAD_TEMPLATE_ID)

TEMPLATE_SCHEMA_VERSION: Final = "1.0"
DEFAULT_SCHEDULE_INTERVAL: Final = "PT40M"

# Directory names (rule source/target names) and their fixed ids.
AAD_DIRECTORY: Final = "Azure Active Directory"
SCIM_DIRECTORY: Final = "customappsso"
API_DIRECTORY: Final = "API"
AAD_DIRECTORY_ID: Final = "66e4a8cc-1b7b-435e-95f8-f06cea133828"
SCIM_DIRECTORY_ID: Final = "4e7c5e35-9a2f-4b8e-8c51-2b6f0d1a7c3e"
API_DIRECTORY_ID: Final = "b0d3f2a9-6c1e-4f57-9e8a-3d2c71a5e4b6"

SCIM_RULE_ID: Final = "ea807875-5618-4f0a-9125-0b46a05298ca"
API2AAD_RULE_ID: Final = "7b3e5c1d-2f4a-4d86-b9e0-51c8a6f2d397"

# Object names.
AAD_USER: Final = "User"
AAD_GROUP: Final = "Group"
SCIM_USER: Final = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SCIM_GROUP: Final = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE: Final = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:"

_ZERO_TENANT: Final = "00000000000000000000000000000000"


# --- attribute and object definitions -------------------------------------------------------


def _strings(*names: str) -> list[JsonDict]:
    return [attribute_definition(name) for name in names]


def _multi(*names: str) -> list[JsonDict]:
    return [attribute_definition(name, multivalued=True) for name in names]


def _key_values(pairs: dict[str, str]) -> list[JsonDict]:
    return [{"key": key, "value": value} for key, value in pairs.items()]


def _object(name: str, attributes: list[JsonDict], metadata: dict[str, str]) -> JsonDict:
    """An objectDefinition; exactly one attribute must be the anchor."""
    anchors = [a["name"] for a in attributes if a["anchor"]]
    assert len(anchors) == 1, f"{name}: one anchor expected, got {anchors}"
    return {"attributes": attributes, "metadata": _key_values(metadata), "name": name, "supportedApis": []}


def _directory(directory_id: str, name: str, objects: list[JsonDict]) -> JsonDict:
    """A directoryDefinition that has never been discovered (version and discoveryDateTime null)."""
    return {
        "discoverabilities": "None",
        "discoveryDateTime": None,
        "id": directory_id,
        "name": name,
        "objects": objects,
        "readOnly": False,
        "version": None,
    }


def _directory_ids() -> list[JsonDict]:
    """`objectId` (Entra's name, the anchor) and `id` (Graph's name) carry the same value."""
    return [
        attribute_definition("objectId", anchor=True, mutability="ReadOnly"),
        attribute_definition("id", mutability="ReadOnly"),
    ]


_IS_SOFT_DELETED: Final = "IsSoftDeleted"


def _aad_user() -> JsonDict:
    attributes = [
        *_directory_ids(),
        attribute_definition("userPrincipalName", required=True),
        attribute_definition("displayName", required=True),
        *_strings("givenName", "surname", "mail"),
        attribute_definition("mailNickname", required=True),
        *_multi("otherMails", "proxyAddresses"),
        *_strings("jobTitle", "department", "companyName", "employeeId", "employeeType", "officeLocation"),
        attribute_definition("mobilePhone"),
        *_multi("businessPhones"),
        *_strings("faxNumber", "streetAddress", "city", "state", "postalCode", "country"),
        *_strings("preferredLanguage", "usageLocation"),
        attribute_definition("accountEnabled", "Boolean", required=True),
        attribute_definition("userType"),
        attribute_definition("createdDateTime", "DateTime", mutability="ReadOnly"),
        attribute_definition(_IS_SOFT_DELETED, "Boolean", mutability="ReadOnly"),
        attribute_definition("manager", references=(AAD_USER,)),
        attribute_definition("appRoleAssignments", multivalued=True, mutability="ReadOnly"),
    ]
    metadata = {
        "IsSoftDeletionSupported": "true",
        "ConnectorDataStorageRequired": "true",
        "IsSynchronizeAllSupported": "true",
        "PropertyNameAccountEnabled": "accountEnabled",
        "PropertyNameSoftDeleted": _IS_SOFT_DELETED,
    }
    return _object(AAD_USER, attributes, metadata)


def _aad_group() -> JsonDict:
    attributes = [
        *_directory_ids(),
        attribute_definition("displayName", required=True),
        attribute_definition("description"),
        attribute_definition("mailNickname", required=True),
        attribute_definition("mail"),
        attribute_definition("mailEnabled", "Boolean", required=True),
        attribute_definition("securityEnabled", "Boolean", required=True),
        *_multi("groupTypes"),
        attribute_definition("members", multivalued=True, references=(AAD_USER, AAD_GROUP)),
        attribute_definition(_IS_SOFT_DELETED, "Boolean", mutability="ReadOnly"),
    ]
    metadata = {
        "IsSoftDeletionSupported": "true",
        "ConnectorDataStorageRequired": "true",
        "IsSynchronizeAllSupported": "true",
        "PropertyNameSoftDeleted": _IS_SOFT_DELETED,
    }
    return _object(AAD_GROUP, attributes, metadata)


def _aad_directory() -> JsonDict:
    return _directory(AAD_DIRECTORY_ID, AAD_DIRECTORY, [_aad_user(), _aad_group()])


def _typed(attribute: str, kind: str, *subs: str) -> list[str]:
    """SCIM filtered multi-valued paths: `_typed("emails", "work", "value")` → emails[type eq "work"].value."""
    return [f'{attribute}[type eq "{kind}"].{sub}' for sub in subs]


_ADDRESS_PARTS: Final = ("formatted", "streetAddress", "locality", "region", "postalCode", "country")
_PHONES: Final = tuple(p for kind in ("work", "mobile", "fax") for p in _typed("phoneNumbers", kind, "value"))
_NAME_PARTS: Final = ("name.givenName", "name.familyName", "name.formatted")
_ENTERPRISE_STRINGS: Final = tuple(
    ENTERPRISE + name for name in ("employeeNumber", "department", "organization", "costCenter", "division")
)


def _scim_user() -> JsonDict:
    """The customappsso user: core + enterprise attributes the default mappings target."""
    attributes = [
        attribute_definition("id", anchor=True, case_exact=True, mutability="ReadOnly"),
        attribute_definition("userName", required=True),
        attribute_definition("active", "Boolean"),
        *_strings("displayName", "title", "preferredLanguage"),
        attribute_definition("externalId", case_exact=True),
        *_strings(*_NAME_PARTS),
        *_strings(*_typed("emails", "work", "value"), *_typed("emails", "other", "value")),
        *_strings(*_typed("addresses", "work", *_ADDRESS_PARTS), *_typed("addresses", "other", "formatted")),
        *_strings(*_PHONES),
        attribute_definition('roles[primary eq "True"].value'),
        *_strings(*_ENTERPRISE_STRINGS),
        attribute_definition(ENTERPRISE + "manager", references=(SCIM_USER,)),
    ]
    metadata = {"IsSoftDeletionSupported": "true", "PropertyNameAccountEnabled": "active"}
    return _object(SCIM_USER, attributes, metadata)


def _scim_group() -> JsonDict:
    attributes = [
        attribute_definition("id", anchor=True, case_exact=True, mutability="ReadOnly"),
        attribute_definition("displayName", required=True),
        attribute_definition("externalId", case_exact=True),
        attribute_definition("members", multivalued=True, references=(SCIM_USER, SCIM_GROUP)),
    ]
    return _object(SCIM_GROUP, attributes, {"IsSoftDeletionSupported": "false"})


def _scim_directory() -> JsonDict:
    return _directory(SCIM_DIRECTORY_ID, SCIM_DIRECTORY, [_scim_user(), _scim_group()])


def _api_user() -> JsonDict:
    """The inbound SCIM user (core + enterprise) as staged from /bulkUpload; externalId anchors it."""
    attributes = [
        attribute_definition("externalId", anchor=True, case_exact=True, required=True),
        attribute_definition("userName"),
        attribute_definition("active", "Boolean"),
        *_strings("displayName", "nickName", "title", "userType", "preferredLanguage", "locale", "timezone"),
        *_strings(*_NAME_PARTS, "name.middleName", "name.honorificPrefix", "name.honorificSuffix"),
        *_strings(*_typed("emails", "work", "value"), *_typed("emails", "other", "value")),
        *_strings(*_typed("addresses", "work", *_ADDRESS_PARTS)),
        *_strings(*_PHONES),
        *_strings(*_ENTERPRISE_STRINGS),
        attribute_definition(
            ENTERPRISE + "manager", references=(SCIM_USER,), referenced_property="externalId"
        ),
    ]
    return _object(SCIM_USER, attributes, {"PropertyNameAccountEnabled": "active"})


def _api_directory() -> JsonDict:
    return _directory(API_DIRECTORY_ID, API_DIRECTORY, [_api_user()])


# --- attribute mapping sources ----------------------------------------------------------------


def _attr(name: str) -> JsonDict:
    return {"expression": f"[{name}]", "name": name, "parameters": [], "type": "Attribute"}


def _quote(literal: str) -> str:
    escaped = literal.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _const(literal: str) -> JsonDict:
    return {"expression": _quote(literal), "name": literal, "parameters": [], "type": "Constant"}


@dataclass(frozen=True)
class _Arg:
    """One function argument: its parameter key, its source, and how it reads in the call text."""

    key: str
    source: JsonDict
    text: str


def _arg(key: str, source: JsonDict) -> _Arg:
    return _Arg(key, source, source["expression"])


def _number(key: str, value: int) -> _Arg:
    """Numbers are written bare in the expression and stored as string Constants."""
    return _Arg(key, _const(str(value)), str(value))


def _omitted(key: str) -> _Arg:
    """An optional argument left empty (`Switch([x], , ...)`), stored as the empty Constant."""
    return _Arg(key, _const(""), "")


def _func(name: str, *args: _Arg) -> JsonDict:
    return {
        "expression": f"{name}({', '.join(arg.text for arg in args)})",
        "name": name,
        "parameters": [{"key": arg.key, "value": arg.source} for arg in args],
        "type": "Function",
    }


def _switch(source: JsonDict, default: str | None, *pairs: tuple[str, str]) -> JsonDict:
    """Switch(source, defaultValue, key, value, ...); `default=None` leaves defaultValue empty."""
    args = [
        _arg("source", source),
        _omitted("defaultValue") if default is None else _arg("defaultValue", _const(default)),
    ]
    for key, value in pairs:
        args += [_arg("key", _const(key)), _arg("value", _const(value))]
    return _func("Switch", *args)


def _join(separator: str, *sources: JsonDict) -> JsonDict:
    return _func("Join", _arg("separator", _const(separator)), *(_arg("source", s) for s in sources))


def _item(source: JsonDict, index: int) -> JsonDict:
    return _func("Item", _arg("attribute", source), _number("index", index))


def _split(source: JsonDict, delimiter: str) -> JsonDict:
    return _func("Split", _arg("source", source), _arg("delimiter", _const(delimiter)))


# --- mappings, object mappings, rules ---------------------------------------------------------


def _mapping(
    target: str,
    source: JsonDict | None,
    *,
    matching_priority: int = 0,
    flow_type: str = "Always",
    default_value: str | None = None,
) -> JsonDict:
    return {
        "defaultValue": default_value,
        "exportMissingReferences": False,
        "flowBehavior": "FlowWhenChanged",
        "flowType": flow_type,
        "matchingPriority": matching_priority,
        "source": source,
        "targetAttributeName": target,
    }


def _attr_mapping(source: str, target: str, matching_priority: int = 0) -> JsonDict:
    return _mapping(target, _attr(source), matching_priority=matching_priority)


def _attr_mappings(pairs: list[tuple[str, str]]) -> list[JsonDict]:
    return [_attr_mapping(source, target) for source, target in pairs]


_OBJECT_MAPPING_METADATA: Final = {
    "IsCustomerDefined": "false",
    "DisableMonitoringForChanges": "false",
    "Disposition": '"Normal"',
    "ExcludeFromReporting": "false",
    "EscrowBehavior": '"Default"',
    "Unsynchronized": "false",
}


def _object_mapping(
    name: str,
    source_object: str,
    target_object: str,
    attribute_mappings: list[JsonDict],
    *,
    joining_property: str | None = None,
) -> JsonDict:
    metadata = dict(_OBJECT_MAPPING_METADATA)
    if joining_property is not None:
        metadata["OriginalJoiningProperty"] = joining_property
    return {
        "attributeMappings": attribute_mappings,
        "enabled": True,
        "flowTypes": "Add, Update, Delete",
        "metadata": _key_values(metadata),
        "name": name,
        "scope": None,
        "sourceObjectName": source_object,
        "targetObjectName": target_object,
    }


def _default_source_object_mappings(defaults: dict[str, list[tuple[str, str | None, int]]]) -> str:
    """The opaque `defaultSourceObjectMappings` rule metadata, serialized as Entra does (.NET style).

    `defaults` maps an object name to (attribute, default value, matching priority) triples.
    """
    metadata = [{"Key": key, "Value": value} for key, value in _OBJECT_MAPPING_METADATA.items()]
    mappings = [
        {
            "AttributeMappings": [
                {
                    "DefaultValue": default,
                    "ExportMissingReferences": False,
                    "FlowBehavior": 0,
                    "FlowType": 0,
                    "MatchingPriority": priority,
                    "Source": None,
                    "TargetAttributeName": attribute,
                }
                for attribute, default, priority in attributes
            ],
            "Enabled": False,
            "FlowTypes": 7,
            "Metadata": metadata,
            "Name": None,
            "Scope": None,
            "SourceObjectName": "",
            "TargetObjectName": object_name,
        }
        for object_name, attributes in defaults.items()
    ]
    return json.dumps(mappings, separators=(",", ":"))


def _rule(
    rule_id: str,
    name: str,
    source_directory: str,
    target_directory: str,
    object_mappings: list[JsonDict],
    *,
    default_source_object_mappings: str,
    supports_provision_on_demand: bool,
) -> JsonDict:
    return {
        "containerFilter": {"includedContainers": []},
        "editable": True,
        "groupFilter": {"includedGroups": []},
        "id": rule_id,
        "metadata": _key_values(
            {
                "defaultSourceObjectMappings": default_source_object_mappings,
                "supportsProvisionOnDemand": "true" if supports_provision_on_demand else "false",
            }
        ),
        "name": name,
        "objectMappings": object_mappings,
        "priority": 1,
        "sourceDirectoryName": source_directory,
        "targetDirectoryName": target_directory,
    }


# --- the scim template ------------------------------------------------------------------------


def _scim_user_mappings() -> list[JsonDict]:
    work_address = dict(
        zip(
            ("officeLocation", "streetAddress", "city", "state", "postalCode", "country"),
            _typed("addresses", "work", *_ADDRESS_PARTS),
            strict=True,
        )
    )
    return [
        _attr_mapping("userPrincipalName", "userName", matching_priority=1),
        _mapping("active", _switch(_attr(_IS_SOFT_DELETED), None, ("False", "True"), ("True", "False"))),
        *_attr_mappings(
            [
                ("displayName", "displayName"),
                ("jobTitle", "title"),
                ("mail", 'emails[type eq "work"].value'),
                ("preferredLanguage", "preferredLanguage"),
                ("givenName", "name.givenName"),
                ("surname", "name.familyName"),
            ]
        ),
        _mapping("name.formatted", _join(" ", _attr("givenName"), _attr("surname"))),
        *_attr_mappings(list(work_address.items())),
        _mapping('phoneNumbers[type eq "work"].value', _item(_attr("businessPhones"), 1)),
        *_attr_mappings(
            [
                ("mobilePhone", 'phoneNumbers[type eq "mobile"].value'),
                ("faxNumber", 'phoneNumbers[type eq "fax"].value'),
                ("mailNickname", "externalId"),
                ("employeeId", ENTERPRISE + "employeeNumber"),
                ("department", ENTERPRISE + "department"),
                ("companyName", ENTERPRISE + "organization"),
                ("manager", ENTERPRISE + "manager"),
            ]
        ),
        _mapping(
            'roles[primary eq "True"].value',
            _func("SingleAppRoleAssignment", _arg("source", _attr("appRoleAssignments"))),
        ),
    ]


def _scim_group_mappings() -> list[JsonDict]:
    return [
        _attr_mapping("displayName", "displayName", matching_priority=1),
        _attr_mapping("objectId", "externalId"),
        _attr_mapping("members", "members"),
    ]


def _scim_rule() -> JsonDict:
    users = _object_mapping(
        "Provision Azure Active Directory Users", AAD_USER, SCIM_USER, _scim_user_mappings()
    )
    groups = _object_mapping(
        "Provision Azure Active Directory Groups",
        AAD_GROUP,
        SCIM_GROUP,
        _scim_group_mappings(),
        joining_property="displayName",
    )
    defaults = _default_source_object_mappings(
        {
            AAD_USER: [
                (_IS_SOFT_DELETED, "False", 0),
                ("accountEnabled", "True", 0),
                ("userPrincipalName", None, 1),
            ],
            AAD_GROUP: [("objectId", None, 1)],
        }
    )
    return _rule(
        SCIM_RULE_ID,
        "USERGROUP_OUTBOUND_USERGROUP",
        AAD_DIRECTORY,
        SCIM_DIRECTORY,
        [users, groups],
        default_source_object_mappings=defaults,
        supports_provision_on_demand=True,
    )


# --- the API2AAD template ---------------------------------------------------------------------


def _api2aad_user_mappings() -> list[JsonDict]:
    work_address = zip(
        _typed("addresses", "work", *_ADDRESS_PARTS[1:]),
        ("streetAddress", "city", "state", "postalCode", "country"),
        strict=True,
    )
    return [
        _attr_mapping("externalId", "employeeId", matching_priority=1),
        _attr_mapping("userName", "userPrincipalName"),
        _mapping("mailNickname", _item(_split(_attr("userName"), "@"), 1), flow_type="ObjectAddOnly"),
        *_attr_mappings(
            [
                ("active", "accountEnabled"),
                ("displayName", "displayName"),
                ("name.givenName", "givenName"),
                ("name.familyName", "surname"),
                ("title", "jobTitle"),
                ('emails[type eq "work"].value', "mail"),
                (ENTERPRISE + "department", "department"),
                (ENTERPRISE + "organization", "companyName"),
                (ENTERPRISE + "manager", "manager"),
                *work_address,
                ('phoneNumbers[type eq "work"].value', "businessPhones"),
                ('phoneNumbers[type eq "mobile"].value', "mobilePhone"),
                ('phoneNumbers[type eq "fax"].value', "faxNumber"),
                ("userType", "employeeType"),
                ("preferredLanguage", "preferredLanguage"),
            ]
        ),
    ]


def _api2aad_rule() -> JsonDict:
    users = _object_mapping("Provision API Users", SCIM_USER, AAD_USER, _api2aad_user_mappings())
    defaults = _default_source_object_mappings({SCIM_USER: [("externalId", None, 1)]})
    return _rule(
        API2AAD_RULE_ID,
        "USER_INBOUND_USER",
        API_DIRECTORY,
        AAD_DIRECTORY,
        [users],
        default_source_object_mappings=defaults,
        supports_provision_on_demand=False,
    )


# --- templates --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TemplateSpec:
    factory_tag: str
    default: bool
    description: str
    configuration_fields: str | None
    job_settings: tuple[tuple[str, str], ...]


_SCIM_CONFIGURATION_FIELDS: Final = json.dumps(
    [{"name": "baseaddress"}, {"name": "secrettoken", "secret": True}], separators=(",", ":")
)

_SPECS: Final[dict[str, _TemplateSpec]] = {
    SCIM_TEMPLATE_ID: _TemplateSpec(
        factory_tag="scim",
        default=True,
        description="Provision users and groups from the directory to a SCIM 2.0 application.",
        configuration_fields=_SCIM_CONFIGURATION_FIELDS,
        job_settings=(
            ("AzureIngestionAttributeOptimization", "False"),
            ("LookaheadQueryEnabled", "False"),
            ("QuarantineTooManyDeletesThreshold", "500"),
        ),
    ),
    API2AAD_TEMPLATE_ID: _TemplateSpec(
        factory_tag="API2AAD",
        default=False,
        description="Provision users into the directory from SCIM records posted to the bulkUpload API.",
        configuration_fields=None,
        job_settings=(
            ("AzureIngestionAttributeOptimization", "False"),
            ("QuarantineTooManyDeletesThreshold", "500"),
        ),
    ),
}


def _spec(template_id: str) -> _TemplateSpec:
    try:
        return _SPECS[template_id]
    except KeyError:
        raise KeyError(template_id) from None


@cache
def _factory_schema(template_id: str) -> JsonDict:
    """Built once; never handed out without a deep copy."""
    if template_id == SCIM_TEMPLATE_ID:
        directories, rules = [_aad_directory(), _scim_directory()], [_scim_rule()]
    elif template_id == API2AAD_TEMPLATE_ID:
        directories, rules = [_api_directory(), _aad_directory()], [_api2aad_rule()]
    else:
        raise KeyError(template_id)
    return {
        "directories": directories,
        "id": f"{template_id}.{_ZERO_TENANT}",
        "synchronizationRules": rules,
        "version": TEMPLATE_SCHEMA_VERSION,
    }


def template_schema(template_id: str) -> JsonDict:
    """The factory-default synchronizationSchema of a template (id `{templateId}.000…`)."""
    return copy.deepcopy(_factory_schema(template_id))


def default_job_settings(template_id: str) -> list[JsonDict]:
    """The synchronizationJobSettings a new job inherits from its template."""
    return [{"name": name, "value": value} for name, value in _spec(template_id).job_settings]


def _template(template_id: str, application_app_id: str) -> JsonDict:
    spec = _spec(template_id)
    metadata = {
        "GalleryApplicationIdentifier": application_app_id,
        "GalleryApplicationKey": spec.factory_tag.lower(),
    }
    if spec.configuration_fields is not None:
        metadata["ConfigurationFields"] = spec.configuration_fields
    return {
        "applicationId": application_app_id,
        "default": spec.default,
        "description": spec.description,
        "discoverable": True,
        "factoryTag": spec.factory_tag,
        "id": template_id,
        "metadata": _key_values(metadata),
        "schema": template_schema(template_id),
    }


def builtin_templates(application_app_id: str) -> list[JsonDict]:
    """The synchronizationTemplates of a custom SCIM application, schemas and directories inline."""
    return [_template(template_id, application_app_id) for template_id in TEMPLATE_IDS]
