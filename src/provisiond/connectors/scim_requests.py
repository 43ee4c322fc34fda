"""The shapes of the SCIM 2.0 requests Entra's provisioning engine sends, as pure functions.

Values arrive flat, keyed by target attribute path as the attribute mappings name them
(`userName`, `name.givenName`, `emails[type eq "work"].value`,
`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber`, ...). One generic
path resolver turns them into resources, PATCH operations and, from a GET, back into flat values.
Reference attributes (the enterprise `manager`, group `members`) are not values: they are target
ids, sent by their own operations after the objects exist. There is no I/O here.

Sources (/work/shared/reference): entra-engine-behavior.md §5 (matching queries, groups created
without members, the manager set after the user) and §6 (request samples, the default format vs
the `aadOptscim062020` table); peers-and-stack.md §1.4 (what scim2-server accepts).

Choices where the reference is silent or ambiguous:

* A value absent from the last exported snapshot is sent with `Add`, a changed one with
  `Replace`, one that became null with `Remove` and a path (the table's "Add single-valued" row,
  the per-attribute `Replace` sample). Entra itself does not provision nulls; a caller that wants
  that keeps the old value in `new` instead of None.
* `COMPLIANT` groups simple (unfiltered) attributes into one path-less `add`/`replace` with
  dotted keys only when two or more share the op; a lone one keeps its path, as the table's
  "Add single-valued" and "Disable user" rows show. Filtered multi-valued items always keep their
  path and come first, as in the table's sample.
* The manager is set with one `Add` on `<enterprise URN>:manager`. The default dialect sends the
  bare target id (`"value": "<id>"`), as Entra does and as apps built for Entra read it (their
  reports, Microsoft's SCIMReferenceCode reading a string or an object); the compliant dialect
  sends RFC 7643's complex form `{"value": "<id>"}`. A resource body carries it the same way
  (`manager_value`). Removal is a `Remove` with the path and no value in both dialects, which
  RFC 7644 §3.5.2.2 defines and every app reads. Reading back accepts both forms.
* Members carry only `value` (no `"$ref": null`), as the table's member-removal row does. Member
  changes are batched by count: each batch is one PATCH with at most `batch_size` member changes.
* A `roles[...]` path that is mapped but null is sent as `"roles": []`, as in the POST sample;
  other nulls are left out. On create the first e-mail (the work e-mail in the default mapping) is
  `primary`, as in the sample. Groups are created with the core Group schema only: the legacy
  ADSCIM schema URI in the reference's sample was one of the quirks fixed outside `customappsso`.
* A list value (e.g. proxy addresses into `emails[type eq "other"].value`) becomes one item per
  value; a change sends `Remove` per dropped value (`emails[type eq "other" and value eq "x"]`)
  and one `Add` on the attribute with the new items.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import Any, Final
from urllib.parse import urlsplit

JsonDict = dict[str, Any]
FlatValue = str | bool | int | list[str] | None

CORE_USER: Final = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP: Final = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER: Final = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP: Final = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
MANAGER_PATH: Final = f"{ENTERPRISE_USER}:manager"
MEMBERS_PATH: Final = "members"
REFERENCE_PATHS: Final = frozenset({MANAGER_PATH, MEMBERS_PATH})
COMPLIANCE_FLAG: Final = "aadOptscim062020"

_CORE_SCHEMAS: Final = frozenset({CORE_USER, CORE_GROUP})
# The RFC 7643 booleans among the attributes Entra maps (`active`, and `primary` in filters).
_BOOLEANS: Final = frozenset({"active", "primary"})
# Multi-valued attributes Entra sends as an empty list when mapped but null (the POST sample).
_SENT_EMPTY: Final = frozenset({"roles"})
_ABSENT: Final = object()


class ScimFormat(Enum):
    """Which PATCH dialect the target gets: Entra's default one, or the RFC-compliant one the
    `aadOptscim062020` tenant-URL flag opts into."""

    DEFAULT = "default"
    COMPLIANT = COMPLIANCE_FLAG

    def op(self, name: str) -> str:
        """`Add`/`Replace`/`Remove` as this dialect spells them."""
        return name if self is ScimFormat.DEFAULT else name.lower()


def format_for_base_address(base_address: str) -> ScimFormat:
    """COMPLIANT when the tenant URL's query string carries the flag (Entra appends it there)."""
    query = urlsplit(base_address).query
    return ScimFormat.COMPLIANT if COMPLIANCE_FLAG.lower() in query.lower() else ScimFormat.DEFAULT


# --- attribute paths ---------------------------------------------------------------------------

_NAME = r"[A-Za-z$][\w$-]*"
_PATH = re.compile(
    rf'(?P<attr>{_NAME})(?:\[(?P<key>{_NAME}) eq (?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[\w.-]+))\])?'
    rf"(?:\.(?P<sub>{_NAME}))?"
)


@dataclass(frozen=True)
class AttributePath:
    """A target attribute path: `attr`, `attr.sub` or `attr[key eq "v"].sub`, in the core schema
    or behind an extension URN (`urn:...:User:attr`)."""

    schema: str | None
    attribute: str
    sub: str | None = None
    filter_key: str | None = None
    filter_value: str | None = None

    @property
    def filtered(self) -> bool:
        return self.filter_key is not None

    @property
    def leaf(self) -> str:
        """The name the value is stored under, which decides its type."""
        return self.sub or self.attribute

    @property
    def collection(self) -> str:
        """The multi-valued attribute itself, as a PATCH path."""
        return _qualified(self.schema, self.attribute)

    def new_item(self) -> JsonDict:
        """An element of the multi-valued attribute that the filter selects."""
        assert self.filter_key is not None
        return {self.filter_key: _json_value(self.filter_key, self.filter_value)}

    def matches(self, item: object) -> bool:
        """Whether a multi-valued element passes the filter (case-insensitive, booleans by value)."""
        if not isinstance(item, Mapping) or self.filter_key is None:
            return False
        found = item.get(self.filter_key)
        if self.filter_key in _BOOLEANS:
            return _as_bool(found) == _as_bool(self.filter_value)
        return isinstance(found, str) and found.casefold() == str(self.filter_value).casefold()

    def value_filter(self, value: str) -> str:
        """A path selecting the one element that holds `value` (to remove it)."""
        condition = f"{self.filter_key} eq {filter_literal(str(self.filter_value))}"
        return f"{self.collection}[{condition} and {self.sub} eq {filter_literal(value)}]"


@cache
def parse_path(path: str) -> AttributePath:
    """Resolve a target attribute path; ValueError when it is not one Entra mappings use."""
    schema, rest = _split_schema(path)
    match = _PATH.fullmatch(rest)
    if match is None or (match["key"] and not match["sub"]):
        raise ValueError(f"unsupported SCIM attribute path: {path!r}")
    quoted = match["quoted"]
    value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else match["bare"]
    return AttributePath(schema, match["attr"], match["sub"], match["key"], value)


def _split_schema(path: str) -> tuple[str | None, str]:
    """`urn:...:User:attr[...]` → (`urn:...:User`, `attr[...]`); core schema URNs mean top level."""
    if not path.startswith("urn:"):
        return None, path
    schema = path.split("[", 1)[0].rpartition(":")[0]
    rest = path[len(schema) + 1 :]
    return (None if schema in _CORE_SCHEMAS else schema), rest


def _qualified(schema: str | None, attribute: str) -> str:
    return attribute if schema is None else f"{schema}:{attribute}"


# --- values -------------------------------------------------------------------------------------


def _as_bool(value: object) -> object:
    """Entra's expressions yield "True"/"False" strings for booleans; compare and send them as bools."""
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def _json_value(name: str, value: object) -> object:
    return _as_bool(value) if name in _BOOLEANS else value


def _wire_value(name: str, value: object, fmt: ScimFormat) -> object:
    """The PATCH value: the default dialect sends booleans as "True"/"False" strings."""
    value = _json_value(name, value)
    if fmt is ScimFormat.DEFAULT and isinstance(value, bool):
        return str(value)
    return value


def _comparable(path: AttributePath, value: object) -> object:
    """A value normalised so that "True" == True and [] == None when deciding what changed."""
    if value is None or (isinstance(value, list | tuple) and not value):
        return None
    if isinstance(value, list | tuple):
        return list(value)
    return _json_value(path.leaf, value)


def _as_list(value: object) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _value_path(path: str) -> AttributePath:
    """The parsed path of a value; references are sent by their own operations, not as values."""
    if path in REFERENCE_PATHS:
        raise ValueError(f"{path} is a reference: use manager_operations or member_operations")
    return parse_path(path)


# --- resources (POST) ---------------------------------------------------------------------------


def user_resource(
    values: Mapping[str, FlatValue],
    *,
    schemas_extra: Iterable[str] = (),
    manager: str | None = None,
    fmt: ScimFormat = ScimFormat.DEFAULT,
) -> JsonDict:
    """The POST /Users body. Entra always declares the core and enterprise User schemas; custom
    extension URNs are not declared by Entra, `schemas_extra` is for targets that need them.
    The engine sets the manager after the user exists; a caller that has its target id already
    may put it in the body (`manager`), in the form `fmt` writes it."""
    body: JsonDict = {"schemas": [CORE_USER, ENTERPRISE_USER, *schemas_extra]}
    _fill(body, values)
    if manager is not None:
        body.setdefault(ENTERPRISE_USER, {})["manager"] = manager_value(manager, fmt)
    emails = body.get("emails")
    if emails and not any(item.get("primary") for item in emails):
        emails[0]["primary"] = True
    body["meta"] = {"resourceType": "User"}
    return body


def group_resource(values: Mapping[str, FlatValue]) -> JsonDict:
    """The POST /Groups body, without members: Entra creates groups empty and PATCHes members in."""
    body: JsonDict = {"schemas": [CORE_GROUP]}
    _fill(body, values)
    body["meta"] = {"resourceType": "Group"}
    return body


def _fill(body: JsonDict, values: Mapping[str, FlatValue]) -> None:
    """Nest flat values into `body`; nulls are not provisioned."""
    for raw, value in values.items():
        path = _value_path(raw)
        if value is not None:
            _put(_node(body, path), path, value)
        elif path.filtered and path.attribute in _SENT_EMPTY:
            _node(body, path).setdefault(path.attribute, [])


def _node(body: JsonDict, path: AttributePath) -> JsonDict:
    """The object holding the path's attribute: the resource, or its extension object."""
    if path.schema is None:
        return body
    node: JsonDict = body.setdefault(path.schema, {})
    return node


def _put(node: JsonDict, path: AttributePath, value: FlatValue) -> None:
    if path.sub is None:
        node[path.attribute] = _json_value(path.attribute, value)
    elif not path.filtered:
        node.setdefault(path.attribute, {})[path.sub] = _json_value(path.sub, value)
    elif isinstance(value, list):
        node.setdefault(path.attribute, []).extend({**path.new_item(), path.sub: v} for v in value)
    else:
        items: list[JsonDict] = node.setdefault(path.attribute, [])
        item = next((i for i in items if path.matches(i)), None)
        if item is None:
            item = path.new_item()
            items.append(item)
        item[path.sub] = _json_value(path.sub, value)


# --- PATCH --------------------------------------------------------------------------------------


def patch_body(operations: Iterable[JsonDict]) -> JsonDict:
    """A PatchOp message around the operations."""
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def _op(fmt: ScimFormat, name: str, path: str | None, value: object = _ABSENT) -> JsonDict:
    operation: JsonDict = {"op": fmt.op(name)}
    if path is not None:
        operation["path"] = path
    if value is not _ABSENT:
        operation["value"] = value
    return operation


@dataclass(frozen=True)
class _Change:
    """One attribute change before the dialect decides how operations are grouped."""

    op: str
    path: str
    value: object = _ABSENT
    simple: bool = False  # an unfiltered attribute, which COMPLIANT may send without a path


def update_operations(
    old: Mapping[str, FlatValue], new: Mapping[str, FlatValue], fmt: ScimFormat
) -> list[JsonDict]:
    """PATCH operations for the attributes whose value changed since the last exported snapshot."""
    paths = dict.fromkeys([*new, *old])
    changes = [c for raw in paths for c in _changes(raw, old.get(raw), new.get(raw), fmt)]
    if fmt is ScimFormat.DEFAULT:
        return [_op(fmt, c.op, c.path, c.value) for c in changes]
    return _compliant_operations(changes, fmt)


def _changes(raw: str, before: object, after: object, fmt: ScimFormat) -> list[_Change]:
    path = _value_path(raw)
    before, after = _comparable(path, before), _comparable(path, after)
    if before == after:
        return []
    if isinstance(before, list) or isinstance(after, list):
        return _list_changes(path, _as_list(before), _as_list(after))
    if after is None:
        return [_Change("Remove", raw)]
    op = "Add" if before is None else "Replace"
    return [_Change(op, raw, _wire_value(path.leaf, after, fmt), simple=not path.filtered)]


def _list_changes(path: AttributePath, before: list[Any], after: list[Any]) -> list[_Change]:
    """A multi-valued value changes by element: remove the dropped ones, add the new ones."""
    if not path.filtered:
        raise ValueError(f"a list value needs a filtered path such as emails[type eq ...]: {path}")
    changes = [_Change("Remove", path.value_filter(str(v))) for v in before if v not in after]
    added = [{**path.new_item(), str(path.sub): v} for v in after if v not in before]
    if added:
        changes.append(_Change("Add", path.collection, added))
    return changes


def _compliant_operations(changes: list[_Change], fmt: ScimFormat) -> list[JsonDict]:
    """Two or more simple attributes sharing an op travel as one path-less op with dotted keys."""
    groups = {op: [c for c in changes if c.simple and c.op == op] for op in ("Add", "Replace")}
    grouped = {id(c) for group in groups.values() if len(group) > 1 for c in group}
    operations = [_op(fmt, c.op, c.path, c.value) for c in changes if id(c) not in grouped]
    for op, group in groups.items():
        if len(group) > 1:
            operations.append(_op(fmt, op, None, {c.path: c.value for c in group}))
    return operations


def disable_operations(fmt: ScimFormat) -> list[JsonDict]:
    """Deprovisioning by soft delete: `active` false ("False" in the default dialect)."""
    return [_op(fmt, "Replace", "active", _wire_value("active", False, fmt))]


def manager_value(manager_target_id: str, fmt: ScimFormat) -> str | JsonDict:
    """The manager as the dialect writes it: Entra's default the bare id, the compliant one
    RFC 7643's complex `{"value": id}`."""
    return manager_target_id if fmt is ScimFormat.DEFAULT else {"value": manager_target_id}


def manager_operations(manager_target_id: str | None, fmt: ScimFormat) -> list[JsonDict]:
    """Set the enterprise manager to a target user id, or remove it (None) by path alone."""
    if manager_target_id is None:
        return [_op(fmt, "Remove", MANAGER_PATH)]
    return [_op(fmt, "Add", MANAGER_PATH, manager_value(manager_target_id, fmt))]


def member_operations(
    add: Sequence[str], remove: Sequence[str], fmt: ScimFormat, *, batch_size: int = 100
) -> list[list[JsonDict]]:
    """Membership changes as batches, each the operations of one PATCH with at most `batch_size`
    member changes (Entra updates several memberships with a single PATCH)."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    changes = [("Add", m) for m in add] + [("Remove", m) for m in remove]
    return [_member_batch(batch, fmt) for batch in _chunks(changes, batch_size)]


def _member_batch(batch: list[tuple[str, str]], fmt: ScimFormat) -> list[JsonDict]:
    added = [m for op, m in batch if op == "Add"]
    removed = [m for op, m in batch if op == "Remove"]
    operations = [_op(fmt, "Add", MEMBERS_PATH, _member_values(added))] if added else []
    if removed and fmt is ScimFormat.DEFAULT:
        operations.append(_op(fmt, "Remove", MEMBERS_PATH, _member_values(removed)))
    elif removed:
        operations.extend(
            _op(fmt, "Remove", f"{MEMBERS_PATH}[value eq {filter_literal(m)}]") for m in removed
        )
    return operations


def _member_values(ids: list[str]) -> list[JsonDict]:
    return [{"value": member} for member in ids]


def _chunks(items: list[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- queries (matching) -------------------------------------------------------------------------


def filter_literal(value: str) -> str:
    """A SCIM filter string literal: quoted, with `\\` and `"` escaped (RFC 7644 §3.4.2.2, JSON)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def user_filter(attribute: str, value: str) -> str:
    """The matching filter Entra sends: `attribute eq "value"` (it uses only `eq` and `and`)."""
    return f"{attribute} eq {filter_literal(value)}"


def match_query_params(attribute: str, value: str, *, group: bool = False) -> dict[str, str]:
    """Query parameters of GET /Users or /Groups matching on one attribute; a group is read
    without its members, as Entra does."""
    params = {"filter": user_filter(attribute, value)}
    if group:
        params["excludedAttributes"] = "members"
    return params


# --- reading back -------------------------------------------------------------------------------


def flatten_resource(
    resource: Mapping[str, Any], paths: Iterable[str], *, multivalued: Collection[str] = ()
) -> dict[str, FlatValue]:
    """A resource as returned by GET, read into flat path → value (None when absent), so it can be
    compared with what was exported. Several matching elements read as a list, one as its value
    unless the path is in `multivalued`; references read as target ids."""
    return {raw: _read(resource, raw, raw in multivalued) for raw in paths}


def _read(resource: Mapping[str, Any], raw: str, as_list: bool) -> FlatValue:
    path = parse_path(raw)
    node = resource if path.schema is None else resource.get(path.schema)
    found = node.get(path.attribute) if isinstance(node, Mapping) else None
    if raw in REFERENCE_PATHS:
        return _reference_ids(found)
    if path.sub is None:
        return _flat(found)
    if not path.filtered:
        return _flat(found.get(path.sub)) if isinstance(found, Mapping) else None
    items = found if isinstance(found, list) else []
    values = [i[path.sub] for i in items if path.matches(i) and i.get(path.sub) is not None]
    if not values:
        return None
    return values if as_list or len(values) > 1 else _flat(values[0])


def _reference_ids(found: object) -> FlatValue:
    """`{"value": id, "$ref": ...}` or a bare id (as apps built for Entra may store the manager)
    → id; a list of either → the ids. An empty id is no reference."""
    if isinstance(found, list):
        ids = [i for i in (_reference_id(item) for item in found) if i is not None]
        return ids or None
    return _reference_id(found)


def _reference_id(item: object) -> str | None:
    value = item.get("value") if isinstance(item, Mapping) else item
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # an app with integer ids
    return value if isinstance(value, str) and value else None


def _flat(value: object) -> FlatValue:
    """A target value as a flat value; shapes no mapping produces (objects) read as absent."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None
