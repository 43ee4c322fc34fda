"""Which properties each collection lets clients `$select` and `$filter`, as Graph does.

Filterable properties follow Graph's documentation of each resource (eq, ne, startswith and,
for a few, in); a property not listed here gets a 400 naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from provisiond.graph.directory import USER_DEFAULT_SELECT, Application, Group, ServicePrincipal, User
from provisiond.graph.odata import FilterableProperty, FilterOp, ResourceQuerySpec

TEXT: frozenset[FilterOp] = frozenset({"eq", "ne", "startswith", "in"})
EXACT: frozenset[FilterOp] = frozenset({"eq", "ne", "in"})
BOOL: frozenset[FilterOp] = frozenset({"eq", "ne"})
RANGE: frozenset[FilterOp] = frozenset({"eq", "ne", "ge", "le", "gt", "lt"})


def _wire_names(model: type) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]  # type: ignore[attr-defined]


def _spec(
    type_name: str,
    model: type,
    filterable: Mapping[str, FilterableProperty],
    default_select: list[str] | None = None,
    orderable: tuple[str, ...] = (),
    searchable: tuple[str, ...] = (),
) -> ResourceQuerySpec:
    return ResourceQuerySpec(
        type_name=type_name,
        properties=_wire_names(model),
        filterable=filterable,
        default_select=default_select,
        orderable=orderable,
        searchable=searchable,
    )


def _text(*names: str) -> dict[str, FilterableProperty]:
    return {n: FilterableProperty("string", TEXT) for n in names}


def _collections(*names: str) -> dict[str, FilterableProperty]:
    """String collections, filtered as Graph does: `name/any(x: x eq '...')` or `startswith(x, '...')`."""
    return {n: FilterableProperty("string", frozenset({"eq", "startswith"}), collection=True) for n in names}


USER = _spec(
    "microsoft.graph.user",
    User,
    {
        "id": FilterableProperty("string", EXACT),
        **_text(
            "userPrincipalName",
            "displayName",
            "givenName",
            "surname",
            "mail",
            "mailNickname",
            "jobTitle",
            "department",
            "companyName",
            "employeeId",
            "employeeType",
            "officeLocation",
            "city",
            "state",
            "country",
            "postalCode",
            "preferredLanguage",
            "usageLocation",
            "userType",
            "mobilePhone",
        ),
        "accountEnabled": FilterableProperty("bool", BOOL),
        "createdDateTime": FilterableProperty("datetime", RANGE),
        **_collections("proxyAddresses", "otherMails", "businessPhones"),
    },
    orderable=("displayName", "userPrincipalName", "createdDateTime"),
    searchable=("displayName", "mail", "userPrincipalName", "givenName", "surname", "mailNickname"),
)
# Graph v1.0 returns a default subset of user properties when no $select is given; beta returns all.
USER_V1 = _spec(
    "microsoft.graph.user",
    User,
    USER.filterable,
    USER_DEFAULT_SELECT,
    tuple(USER.orderable),
    tuple(USER.searchable),
)

GROUP = _spec(
    "microsoft.graph.group",
    Group,
    {
        "id": FilterableProperty("string", EXACT),
        **_text("displayName", "description", "mailNickname", "mail"),
        "mailEnabled": FilterableProperty("bool", BOOL),
        "securityEnabled": FilterableProperty("bool", BOOL),
        "createdDateTime": FilterableProperty("datetime", RANGE),
    },
    orderable=("displayName", "createdDateTime"),
    searchable=("displayName", "description", "mail", "mailNickname"),
)

APPLICATION = _spec(
    "microsoft.graph.application",
    Application,
    {
        "id": FilterableProperty("string", EXACT),
        "appId": FilterableProperty("string", EXACT),
        **_text("displayName"),
    },
    orderable=("displayName", "createdDateTime"),
)

SERVICE_PRINCIPAL = _spec(
    "microsoft.graph.servicePrincipal",
    ServicePrincipal,
    {
        "id": FilterableProperty("string", EXACT),
        "appId": FilterableProperty("string", EXACT),
        **_text("displayName", "servicePrincipalType"),
        "accountEnabled": FilterableProperty("bool", BOOL),
        **_collections("tags"),
    },
    # Our servicePrincipal has no createdDateTime property to sort on.
    orderable=("displayName",),
    searchable=("displayName",),
)

# `$orderby` Graph serves by default; every other orderable property needs the advanced query
# parameters (`ConsistencyLevel: eventual` and `$count=true`), as does `$orderby` with `$filter`
# ("Support for sorting by properties of directory objects"). Group createdDateTime is not in
# Graph's table; we sort on it as an advanced query.
ORDERBY_BY_DEFAULT: dict[str, frozenset[str]] = {
    "microsoft.graph.user": frozenset({"displayName", "userPrincipalName"}),
    "microsoft.graph.group": frozenset({"displayName"}),
}

JOB = ResourceQuerySpec(
    type_name="microsoft.graph.synchronizationJob",
    properties=["id", "templateId", "schedule", "status", "synchronizationJobSettings"],
    filterable={
        "id": FilterableProperty("string", EXACT),
        "templateId": FilterableProperty("string", EXACT),
    },
)

TEMPLATE = ResourceQuerySpec(
    type_name="microsoft.graph.synchronizationTemplate",
    properties=[
        "id",
        "applicationId",
        "default",
        "description",
        "discoverable",
        "factoryTag",
        "metadata",
        "schema",
    ],
    filterable={
        "id": FilterableProperty("string", EXACT),
        "factoryTag": FilterableProperty("string", EXACT),
    },
)

SECRET = ResourceQuerySpec(
    type_name="microsoft.graph.synchronizationSecretKeyStringValuePair",
    properties=["key", "value"],
    filterable={},
)

DIRECTORY_DEFINITION = ResourceQuerySpec(
    type_name="microsoft.graph.directoryDefinition",
    properties=["id", "discoverabilities", "discoveryDateTime", "name", "objects", "readOnly", "version"],
    filterable={"id": FilterableProperty("string", EXACT), "name": FilterableProperty("string", EXACT)},
)

ASSIGNMENT = ResourceQuerySpec(
    type_name="microsoft.graph.appRoleAssignment",
    properties=[
        "id",
        "appRoleId",
        "createdDateTime",
        "deletedDateTime",
        "principalDisplayName",
        "principalId",
        "principalType",
        "resourceDisplayName",
        "resourceId",
    ],
    filterable={},
)

DIRECTORY_OBJECT = ResourceQuerySpec(
    type_name="microsoft.graph.directoryObject", properties=["id", "displayName"], filterable={}
)


def _related(*specs: ResourceQuerySpec) -> ResourceQuerySpec:
    """What a nested `$select` may name on a relationship that holds several types (group
    members are users and groups): any property of one of them; each object returns those its
    own type has."""
    names: dict[str, str] = {}
    for spec in specs:
        for name in spec.properties:
            names.setdefault(name.lower(), name)
    return ResourceQuerySpec(
        type_name="microsoft.graph.directoryObject", properties=list(names.values()), filterable={}
    )


# `$expand` on directory objects: one relationship per request, nested `$select` only
# (`provisiond.graph.odata.parse_expand`).
OWNERS = _related(USER, SERVICE_PRINCIPAL)
MEMBERS = _related(USER, GROUP)
_USER_RELATIONSHIPS = {"manager": USER, "directReports": USER, "memberOf": GROUP}
USER = replace(USER, expandable=_USER_RELATIONSHIPS)
USER_V1 = replace(USER_V1, expandable=_USER_RELATIONSHIPS)
GROUP = replace(GROUP, expandable={"members": MEMBERS, "owners": OWNERS, "memberOf": GROUP})
APPLICATION = replace(APPLICATION, expandable={"owners": OWNERS})
SERVICE_PRINCIPAL = replace(SERVICE_PRINCIPAL, expandable={"owners": OWNERS, "appRoleAssignedTo": ASSIGNMENT})
