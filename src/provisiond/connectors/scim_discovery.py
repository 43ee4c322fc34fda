"""Discovery of a SCIM 2.0 app's schema: `/ResourceTypes` and `/Schemas` (RFC 7644 §4) read into a
Graph directoryDefinition, as Entra's "discover" does for a customappsso target.

`fetch_service_description` is the only I/O; `refresh_directory` is a pure function from what the
app describes (and the current definition) to the refreshed definition. scim2-models parses and
validates both answers, ignoring members it does not know (RFC 7643 §3 lets a service provider
add its own, and apps do: a `meta` on the ListResponse, vendor keys on a resource or an
attribute) and a missing `totalResults` (then the answer is one page): discovery fails only
when what it reads is missing or malformed.

Attribute names are written as Entra writes them for a SCIM target:

* simple attributes by name (`userName`), sub-attributes of a single-valued complex attribute
  with a dot (`name.givenName`);
* multi-valued complex attributes whose `type` sub-attribute has canonical values, once per
  value and sub-attribute (`emails[type eq "work"].value`); without canonical types but with a
  `primary` sub-attribute, for the primary value (`roles[primary eq "True"].value`); with
  neither, each sub-attribute as a multi-valued `attr.sub`;
* extension attributes behind their schema URN (`urn:…:enterprise:2.0:User:employeeNumber`);
* a complex attribute that refers to resources (a `$ref` or `value` sub-attribute of type
  reference naming resource types, like `manager`, `members`, `groups`) is one Reference
  attribute (`urn:…:enterprise:2.0:User:manager`), its `referencedObjects` the objects of the
  resource types it names; a simple reference attribute naming resource types is one too. A
  reference to `external` or `uri` is a String (a URL).

Choices where the reference is silent:

* Types: string → String, boolean → Boolean, integer → Integer, dateTime → DateTime, binary →
  Binary; decimal has no attributeType and is a String.
* The RFC 7643 §3.1 common attributes, which `/Schemas` does not list, are added to every
  object: `id` is the anchor (ReadOnly, caseExact) and `externalId` is caseExact. `meta` and
  `schemas` are server-managed and not attributes.
* Mutability comes from the schema (readWrite, readOnly, immutable, writeOnly); a sub-attribute
  of a read-only attribute is read-only. `required` holds for a sub-attribute only when its
  parent is required too, never for one typed entry of a multi-valued attribute, and for an
  extension attribute only when the resource type requires the extension.
* Object names: the object that already holds one of a resource type's names (its name, its
  schema or an extension schema) keeps its name, so object mappings keep their target; a new
  object is named after the enterprise extension when the resource type has it (Entra's name
  for the customappsso user) and after its core schema otherwise.
* What the app describes replaces the discovered characteristics (type, multivalued, required,
  caseExact, mutability, anchor, referencedObjects); what an administrator sets (defaultValue,
  flowNullValues, apiExpressions, metadata, the object's metadata and supportedApis) is kept.
  An attribute or object the app no longer describes is dropped, unless an attribute mapping
  targets it or its metadata marks it IsCustomerDefined: no mapping loses its target.
* `version` is a name-based UUID of what was discovered (the same schema gives the same
  version); `discoverabilities` is AttributeNames, AttributeDataTypes, AttributeReadOnly,
  ReferenceAttributes: everything a SCIM schema describes.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import aiohttp
from pydantic import ValidationError
from scim2_models import Context, ListResponse, ResourceType, Schema, ScimPolicy
from scim2_models.annotations import Mutability as ScimMutability
from scim2_models.resources.schema import Attribute

from provisiond.connectors.outbound import ALLOW_EVERYTHING, OutboundPolicy
from provisiond.connectors.scim import (
    DEFAULT_TIMEOUT_SECONDS,
    LIST_RESPONSE,
    ConnectionProblem,
    ScimConnectionError,
    probe_get,
    probe_session,
    run_probe,
)
from provisiond.graph.enums import DirectoryDefinitionDiscoverabilities as Discoverabilities
from provisiond.graph.synchronization import DirectoryDefinition, attribute_definition

JsonDict = dict[str, Any]
R = TypeVar("R", ResourceType, Schema)

ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
DISCOVERABILITIES = (
    Discoverabilities.AttributeNames
    | Discoverabilities.AttributeDataTypes
    | Discoverabilities.AttributeReadOnly
    | Discoverabilities.ReferenceAttributes
)
# A service description is a few pages at most; a server that pages forever is not SCIM.
MAX_PAGES = 20
_VERSION_NAMESPACE = uuid.UUID("7d1c9f0e-2b4a-4c58-9e61-5a0f3b8d2c47")
# Members no model declares are dropped, never dumped, so they do not change `version` either.
_IGNORE_UNKNOWN = ScimPolicy(unknown=ScimPolicy.Unknown.ignore)
_SERVER_MANAGED = frozenset({"id", "externalid", "meta", "schemas"})
_TYPES = {
    Attribute.Type.string: "String",
    Attribute.Type.boolean: "Boolean",
    Attribute.Type.integer: "Integer",
    Attribute.Type.decimal: "String",
    Attribute.Type.date_time: "DateTime",
    Attribute.Type.binary: "Binary",
    Attribute.Type.reference: "String",
}
_MUTABILITY = {
    ScimMutability.read_write: "ReadWrite",
    ScimMutability.read_only: "ReadOnly",
    ScimMutability.immutable: "Immutable",
    ScimMutability.write_only: "WriteOnly",
}
# What an administrator sets on an attribute definition, kept across discoveries.
_ADMIN_FIELDS = ("defaultValue", "flowNullValues", "apiExpressions", "metadata")


@dataclass(frozen=True)
class ServiceDescription:
    """What an app describes about itself: its resource types and the schemas they use."""

    resource_types: list[ResourceType]
    schemas: dict[str, Schema]  # by lower-cased schema URN

    def schema(self, urn: str) -> Schema:
        return self.schemas[urn.lower()]

    @property
    def version(self) -> str:
        """A name-based UUID of the description, so an unchanged app reads back the same version."""
        described = {
            "resourceTypes": sorted(
                (_dump(rt) for rt in self.resource_types), key=lambda d: str(d.get("name"))
            ),
            "schemas": sorted((_dump(s) for s in self.schemas.values()), key=lambda d: str(d.get("id"))),
        }
        return str(uuid.uuid5(_VERSION_NAMESPACE, json.dumps(described, sort_keys=True)))


def _dump(resource: ResourceType | Schema) -> JsonDict:
    # `meta` carries the server's own address, which says nothing about the schema.
    return resource.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"meta"})


# --- reading the service description --------------------------------------------------------


def endpoint_url(base_address: str, endpoint: str) -> str:
    """`{BaseAddress}/{endpoint}`, keeping a query string such as `?aadOptscim062020` out of the path."""
    return f"{base_address.partition('?')[0].rstrip('/')}/{endpoint}"


def fetch_service_description(
    base_address: str,
    secret_token: str | None,
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    outbound: OutboundPolicy = ALLOW_EVERYTHING,
) -> ServiceDescription:
    """GET /ResourceTypes and /Schemas (every page), every connection held to the outbound
    policy; ScimConnectionError says what went wrong."""
    return run_probe(_fetch(base_address, secret_token, timeout, outbound))


async def _fetch(
    base_address: str, secret_token: str | None, timeout: float, outbound: OutboundPolicy
) -> ServiceDescription:
    async with probe_session(secret_token, timeout, outbound) as session:
        read = _Reader(session, timeout, outbound)
        resource_types = await read.all(endpoint_url(base_address, "ResourceTypes"), ResourceType)
        try:
            schemas = await read.all(endpoint_url(base_address, "Schemas"), Schema)
        except ScimConnectionError as exc:
            exc.answered_as_scim = True  # /ResourceTypes did, so this is a SCIM service's fault
            raise
    return describe(resource_types, schemas)


def describe(resource_types: list[ResourceType], schemas: list[Schema]) -> ServiceDescription:
    """Check that the resource types and schemas fit together; NOT_SCIM otherwise."""
    by_urn = {str(s.id).lower(): s for s in schemas if s.id}
    if not resource_types:
        raise _not_scim("/ResourceTypes lists no resource type, so there is nothing to provision to.")
    names: set[str] = set()
    for rt in resource_types:
        if not rt.name or not rt.schema_:
            raise _not_scim("A resource type in /ResourceTypes has no name or no schema.")
        if rt.name.lower() in names:
            raise _not_scim(f"/ResourceTypes lists the resource type '{rt.name}' twice.")
        names.add(rt.name.lower())
        for urn in [str(rt.schema_), *(str(e.schema_) for e in rt.schema_extensions or [])]:
            if urn.lower() not in by_urn:
                raise _not_scim(
                    f"The resource type '{rt.name}' uses the schema '{urn}', which /Schemas does not define."
                )
    return ServiceDescription(resource_types, by_urn)


@dataclass
class _Reader:
    session: aiohttp.ClientSession
    timeout: float
    outbound: OutboundPolicy

    async def all(self, url: str, model: type[R]) -> list[R]:
        """Every resource of a ListResponse endpoint, following `startIndex` paging."""
        found: list[R] = []
        for _ in range(MAX_PAGES):
            params = {"startIndex": str(len(found) + 1)} if found else None
            page = await self.page(url, model, params)
            resources = list(page.resources or [])
            found.extend(resources)
            if not resources or page.total_results is None or len(found) >= page.total_results:
                return found
        raise _not_scim(f"GET {url} kept announcing more results after {MAX_PAGES} pages.")

    async def page(self, url: str, model: type[R], params: dict[str, str] | None) -> ListResponse[R]:
        response = await probe_get(self.session, url, self.timeout, self.outbound, params=params)
        if response.status_code != 200:
            raise _not_scim(
                f"GET {url} answered HTTP {response.status_code}; discovery needs the RFC 7644 §4 "
                "endpoints /ResourceTypes and /Schemas."
            )
        try:
            body = response.json()
        except ValueError:
            raise _not_scim(f"GET {url} did not answer with JSON.") from None
        answered_as_scim = isinstance(body, dict) and LIST_RESPONSE in (body.get("schemas") or [])
        try:
            return ListResponse[model].model_validate(  # type: ignore[valid-type, no-any-return]
                _one_page_when_untold(body),
                scim_ctx=Context.RESOURCE_QUERY_RESPONSE,
                scim_policy=_IGNORE_UNKNOWN,
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "the body"
            error = _not_scim(
                f"GET {url} did not answer with a valid SCIM ListResponse: {where}: {first['msg']}."
            )
            error.answered_as_scim = answered_as_scim
            raise error from None


def _one_page_when_untold(body: object) -> object:
    """RFC 7644 §3.4.2 requires `totalResults`, but discovery needs it only to page: apps that
    leave it out of /Schemas and /ResourceTypes (django-scim2 does) answer them in one page."""
    if not isinstance(body, dict) or any(str(k).lower() == "totalresults" for k in body):
        return body
    resources = next((v for k, v in body.items() if str(k).lower() == "resources"), None)
    return {**body, "totalResults": len(resources)} if isinstance(resources, list) else body


def _not_scim(detail: str) -> ScimConnectionError:
    return ScimConnectionError(ConnectionProblem.NOT_SCIM, detail)


# --- building the directory definition ------------------------------------------------------


def refresh_directory(
    current: Mapping[str, Any],
    description: ServiceDescription,
    *,
    mapped: Mapping[str, Collection[str]],
    discovered_at: datetime,
) -> JsonDict:
    """The directoryDefinition `current` becomes after discovering `description`.

    `mapped` names, per target object name, the attributes that attribute mappings target:
    those objects and attributes survive even when the app no longer describes them.
    """
    existing = {str(o.get("name") or "").lower(): o for o in current.get("objects") or []}
    names = object_names(
        description.resource_types, [str(o.get("name") or "") for o in current.get("objects") or []]
    )
    mapped_by_object = {name.lower(): {a.lower() for a in attrs} for name, attrs in mapped.items()}
    objects = []
    for rt in description.resource_types:
        name = names[rt.name or ""]
        old = existing.pop(name.lower(), None)
        attributes = _merge_attributes(
            _discovered_attributes(rt, description, names),
            (old or {}).get("attributes") or [],
            mapped_by_object.get(name.lower(), set()),
        )
        objects.append(
            {
                "attributes": attributes,
                "metadata": (
                    copy.deepcopy(old["metadata"])
                    if old and old.get("metadata") is not None
                    else _object_metadata(attributes)
                ),
                "name": name,
                "supportedApis": copy.deepcopy((old or {}).get("supportedApis") or []),
            }
        )
    objects.extend(copy.deepcopy(o) for key, o in existing.items() if key in mapped_by_object)
    directory = {
        **copy.deepcopy(dict(current)),
        "discoverabilities": DISCOVERABILITIES,
        "discoveryDateTime": discovered_at,
        "objects": objects,
        "version": description.version,
    }
    return DirectoryDefinition.model_validate(directory).to_wire()


def object_names(resource_types: list[ResourceType], existing: list[str]) -> dict[str, str]:
    """Resource type name → object name (see the module doc)."""
    free = {name.lower(): name for name in existing if name}
    out: dict[str, str] = {}
    for rt in resource_types:
        extensions = [str(e.schema_) for e in rt.schema_extensions or []]
        candidates = [rt.name or "", str(rt.schema_), *extensions]
        name = next((free.pop(c.lower()) for c in candidates if c.lower() in free), None)
        if name is None:
            enterprise = next((e for e in extensions if e.lower() == ENTERPRISE_USER.lower()), None)
            name = enterprise or str(rt.schema_)
            if name.lower() in {n.lower() for n in out.values()}:
                name = rt.name or name
        out[rt.name or ""] = name
    return out


def _discovered_attributes(
    rt: ResourceType, description: ServiceDescription, names: Mapping[str, str]
) -> list[JsonDict]:
    references = {rt_name.lower(): object_name for rt_name, object_name in names.items()}
    out = [
        attribute_definition("id", anchor=True, case_exact=True, mutability="ReadOnly"),
        attribute_definition("externalId", case_exact=True),
    ]
    parts = [(str(rt.schema_), "", True)] + [
        (str(e.schema_), f"{e.schema_}:", bool(e.required)) for e in rt.schema_extensions or []
    ]
    for urn, prefix, required in parts:
        for attribute in description.schema(urn).attributes or []:
            if not attribute.name or (not prefix and attribute.name.lower() in _SERVER_MANAGED):
                continue
            out.extend(_flatten(attribute, prefix, required, references))
    seen: set[str] = set()
    unique = []
    for definition in out:
        if definition["name"].lower() not in seen:
            seen.add(definition["name"].lower())
            unique.append(definition)
    return unique


def _flatten(
    attribute: Attribute, prefix: str, required: bool, references: Mapping[str, str]
) -> list[JsonDict]:
    name = prefix + (attribute.name or "")
    required = required and bool(attribute.required.value)
    mutability = _MUTABILITY[attribute.mutability]
    referenced = _referenced_objects(attribute, references)
    if referenced:
        return [
            attribute_definition(
                name,
                "Reference",
                case_exact=bool(attribute.case_exact.value),
                multivalued=bool(attribute.multi_valued),
                mutability=mutability,
                required=required,
                references=tuple(referenced),
            )
        ]
    if attribute.type != Attribute.Type.complex:
        return [
            attribute_definition(
                name,
                _TYPES.get(attribute.type, "String") if attribute.type else "String",
                case_exact=bool(attribute.case_exact.value),
                multivalued=bool(attribute.multi_valued),
                mutability=mutability,
                required=required,
            )
        ]
    subs = [s for s in attribute.sub_attributes or [] if s.name]
    by_name = {s.name.lower(): s for s in subs if s.name}
    if not attribute.multi_valued:
        return [_sub(f"{name}.{s.name}", s, attribute, required=required, multivalued=False) for s in subs]
    kind = by_name.get("type")
    if kind is not None and kind.canonical_values:
        return [
            _sub(f'{name}[type eq "{value}"].{s.name}', s, attribute, required=False, multivalued=False)
            for value in kind.canonical_values
            for s in subs
            if s.name and s.name.lower() not in ("type", "primary")
        ]
    if "primary" in by_name:
        return [
            _sub(f'{name}[primary eq "True"].{s.name}', s, attribute, required=False, multivalued=False)
            for s in subs
            if s.name and s.name.lower() != "primary"
        ]
    return [_sub(f"{name}.{s.name}", s, attribute, required=False, multivalued=True) for s in subs]


def _sub(name: str, sub: Attribute, parent: Attribute, *, required: bool, multivalued: bool) -> JsonDict:
    own = _MUTABILITY[sub.mutability]
    inherited = _MUTABILITY[parent.mutability]
    mutability = own if inherited == "ReadWrite" or own == "ReadOnly" else inherited
    return attribute_definition(
        name,
        _TYPES.get(sub.type, "String") if sub.type else "String",
        case_exact=bool(sub.case_exact.value),
        multivalued=multivalued,
        mutability=mutability,
        required=required and bool(sub.required.value),
    )


def _referenced_objects(attribute: Attribute, references: Mapping[str, str]) -> list[str]:
    """The objects a reference attribute (or the `$ref`/`value` of a complex one) points at."""
    if attribute.type == Attribute.Type.reference:
        carriers = [attribute]
    elif attribute.type == Attribute.Type.complex:
        carriers = [
            s
            for s in attribute.sub_attributes or []
            if (s.name or "").lower() in ("$ref", "value") and s.type == Attribute.Type.reference
        ]
    else:
        carriers = []
    out: list[str] = []
    for carrier in carriers:
        for kind in carrier.reference_types or []:
            target = references.get(kind.lower())
            if target is not None and target not in out:
                out.append(target)
    return out


def _merge_attributes(discovered: list[JsonDict], old: list[JsonDict], mapped: set[str]) -> list[JsonDict]:
    previous = {str(a.get("name") or "").lower(): a for a in old}
    out = []
    for definition in discovered:
        before = previous.pop(definition["name"].lower(), None)
        if before is not None:
            definition.update({k: copy.deepcopy(before[k]) for k in _ADMIN_FIELDS if k in before})
        out.append(definition)
    for key, before in previous.items():
        if key in mapped or _customer_defined(before):
            out.append(copy.deepcopy(before))
    return out


def _customer_defined(attribute: Mapping[str, Any]) -> bool:
    return any(
        str(m.get("key") or "").lower() == "iscustomerdefined" and str(m.get("value") or "").lower() == "true"
        for m in attribute.get("metadata") or []
    )


def _object_metadata(attributes: list[JsonDict]) -> list[JsonDict]:
    """A new object deprovisions by `active=false` when the app has a writable Boolean `active`."""
    active = next(
        (
            a
            for a in attributes
            if a["name"] == "active" and a["type"] == "Boolean" and a["mutability"] == "ReadWrite"
        ),
        None,
    )
    if active is None:
        return [{"key": "IsSoftDeletionSupported", "value": "false"}]
    return [
        {"key": "IsSoftDeletionSupported", "value": "true"},
        {"key": "PropertyNameAccountEnabled", "value": "active"},
    ]
