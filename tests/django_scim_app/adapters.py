"""django-scim2 adapters for what Entra sends, the way an application team writes them.

django-scim2 maps resources to models in adapters that each app writes: its stock SCIMUser and
SCIMGroup serve Django's auth models and implement only part of PATCH (a user `Add` or
`Remove` answers 501, a user `Replace` only for userName, names, active and emails; a group
`Replace` only for `name`, read from a list, so Entra's `displayName` replace answers 501, and
a member removal by `members[value eq "id"]` answers 501 too). What these adapters do for
Entra, beyond mapping attributes to columns:

* `active` arrives as the string "True"/"False" in Entra's default dialect; django-scim2 answers
  400 ("should be of type bool"), so the adapter reads the string as the boolean.
* The enterprise manager arrives as a bare id (Entra's default dialect) or as `{"value": id}`
  (RFC 7643, `aadOptscim062020`), in PATCH add/replace or in a create body; removal is a
  `Remove` by path (or with the value naming the manager, or a replace with an empty value).
  The adapter reads all of them and returns `{"value": id, "$ref": ..., "displayName": ...}`.
* Group members: Entra's default removal is `Remove` on `members` with a value list, the
  compliant one `members[value eq "id"]` with no value; django-scim2 parses the filtered path
  but drops the compared value, so the adapter reads it from the operation's path.
* Filtered paths such as `emails[type eq "work"].value` likewise lose their filter value in
  django-scim2's AttrPath; the adapter reads the type from the operation's path.
* The filter parsers (`filters.py`) map `userName`, `externalId`, `displayName` to columns (the
  stock group parser maps nothing, so Entra's `displayName eq "..."` match would fail).
* Attributes the app does not keep (addresses, phone numbers, roles, ...) are accepted and
  ignored, as apps built for Entra do, instead of django-scim2's 501.
"""

from __future__ import annotations

import re
from typing import Any

from django.urls import reverse
from django_scim import exceptions
from django_scim.adapters import SCIMGroup, SCIMUser
from django_scim.utils import get_base_scim_location_getter

from tests.django_scim_app.models import Group, User

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
# `attr[key eq "value"]` or `attr[key eq "value"].sub`, with an optional schema URN before attr.
_FILTERED = re.compile(
    r'(?:urn:[^\[]*:)?(?P<attr>\w+)\[(?P<key>\w+) eq "(?P<value>(?:[^"\\]|\\.)*)"\](?:\.(?P<sub>\w+))?'
)


def as_bool(value: object) -> object:
    """Entra's default dialect writes booleans as "True"/"False"."""
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def manager_id(value: object) -> str | None:
    """The manager's id from a bare id or `{"value": id}` (or a one-item list of either)."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, dict):
        value = value.get("value")
    return str(value) if isinstance(value, str | int) and value != "" else None


def _filtered(operation: dict[str, Any]) -> re.Match[str] | None:
    path = operation.get("path")
    return _FILTERED.fullmatch(path) if isinstance(path, str) else None


class EntraUser(SCIMUser):
    obj: User

    @property
    def display_name(self) -> str:
        return self.obj.display_name or self.obj.scim_username or ""

    @property
    def groups(self) -> list[dict[str, Any]]:
        return [
            {"value": g.scim_id, "$ref": self._location("scim:groups", g.scim_id), "display": g.name}
            for g in self.obj.member_of.all()
        ]

    @property
    def meta(self) -> dict[str, Any]:
        return {
            "resourceType": "User",
            "created": self.obj.created.isoformat(),
            "lastModified": self.obj.modified.isoformat(),
            "location": self.location,
        }

    def _location(self, url_name: str, scim_id: object) -> str:
        base = get_base_scim_location_getter()(self.request)
        return str(base) + reverse(url_name, kwargs={"uuid": scim_id})

    def to_dict(self) -> dict[str, Any]:
        user = self.obj
        enterprise: dict[str, Any] = {}
        if user.employee_number:
            enterprise["employeeNumber"] = user.employee_number
        if user.department:
            enterprise["department"] = user.department
        if user.manager is not None:
            enterprise["manager"] = {
                "value": user.manager.scim_id,
                "$ref": self._location("scim:users", user.manager.scim_id),
                "displayName": user.manager.display_name,
            }
        d: dict[str, Any] = {
            "schemas": [CORE_USER, ENTERPRISE_USER],
            "id": self.id,
            "externalId": user.scim_external_id or None,
            "userName": user.scim_username,
            "name": {
                k: v
                for k, v in (
                    ("givenName", user.given_name),
                    ("familyName", user.family_name),
                    ("formatted", user.formatted_name),
                )
                if v
            },
            "displayName": user.display_name or None,
            "title": user.title or None,
            "emails": [{"value": user.email, "type": "work", "primary": True}] if user.email else [],
            "active": user.is_active,
            "groups": self.groups,
            "meta": self.meta,
        }
        if enterprise:
            d[ENTERPRISE_USER] = enterprise
        return {k: v for k, v in d.items() if v not in (None, {})}

    @classmethod
    def resource_type_dict(cls, request: Any = None) -> dict[str, Any]:
        """The stock User resource type, plus the enterprise extension the app keeps."""
        d = dict(super().resource_type_dict(request))
        d["schemaExtensions"] = [{"schema": ENTERPRISE_USER, "required": False}]
        return d

    def validate_dict(self, d: dict[str, Any]) -> None:
        super().validate_dict({**d, "active": as_bool(d.get("active", True))})

    def from_dict(self, d: dict[str, Any]) -> None:
        super(SCIMUser, self).from_dict(d)  # externalId; SCIMUser's own is for Django's auth user
        user = self.obj
        user.scim_username = d.get("userName") or None
        name = d.get("name") or {}
        user.given_name = name.get("givenName") or ""
        user.family_name = name.get("familyName") or ""
        user.formatted_name = name.get("formatted") or ""
        user.display_name = d.get("displayName") or ""
        user.title = d.get("title") or ""
        user.email = _work_email(d.get("emails")) or ""
        active = as_bool(d.get("active"))
        if isinstance(active, bool):
            user.is_active = active
        enterprise = d.get(ENTERPRISE_USER) or {}
        user.employee_number = enterprise.get("employeeNumber") or ""
        user.department = enterprise.get("department") or ""
        user.manager = self._user(manager_id(enterprise.get("manager")))

    def handle_path_and_value(self, path: Any, value: Any, operation: dict[str, Any]) -> None:
        if path and path.first_path == ("active", None, None):
            value = as_bool(value)  # before django-scim2's type check
        super().handle_path_and_value(path, value, operation)

    def handle_add(self, path: Any, value: Any, operation: dict[str, Any]) -> None:
        self._write(path, value, operation)

    def handle_replace(self, path: Any, value: Any, operation: dict[str, Any]) -> None:
        self._write(path, value, operation)

    def handle_remove(self, path: Any, value: Any, operation: dict[str, Any]) -> None:
        filtered = _filtered(operation) if path.is_complex else None
        named = filtered["value"] if filtered is not None else manager_id(value)
        if path.first_path[0] == "manager" and named is not None:
            # Entra may name the manager it removes (by value or filter); another manager stays.
            current = self.obj.manager.scim_id if self.obj.manager else None
            if named != current:
                return
        self._write(path, None, operation)

    def _write(self, path: Any, value: Any, operation: dict[str, Any]) -> None:
        """One attribute from a PATCH; what the app does not keep is ignored."""
        user = self.obj
        attr, sub, uri = path.first_path
        text = "" if value is None else value
        filtered = _filtered(operation) if path.is_complex else None
        if uri == ENTERPRISE_USER and attr == "manager":
            user.manager = self._user(manager_id(value))
        elif uri == ENTERPRISE_USER and attr == "employeeNumber":
            user.employee_number = text
        elif uri == ENTERPRISE_USER and attr == "department":
            user.department = text
        elif uri not in (None, CORE_USER):
            pass  # another extension: not kept
        elif attr == "userName" and value:
            user.scim_username = value
        elif attr == "externalId":
            user.scim_external_id = text
        elif attr == "displayName":
            user.display_name = text
        elif attr == "title":
            user.title = text
        elif attr == "active" and isinstance(as_bool(value), bool):
            user.is_active = bool(as_bool(value))
        elif attr == "name" and sub is None and isinstance(value, dict):
            for key, field in (("givenName", "given_name"), ("familyName", "family_name")):
                setattr(user, field, value.get(key) or "")
            user.formatted_name = value.get("formatted") or ""
        elif attr == "name" and sub in ("givenName", "familyName", "formatted"):
            field = {"givenName": "given_name", "familyName": "family_name", "formatted": "formatted_name"}
            setattr(user, field[sub], text)
        elif attr == "emails" and filtered is not None:
            if (
                filtered["key"] == "type"
                and filtered["value"].lower() == "work"
                and filtered["sub"] == "value"
            ):
                user.email = text
        elif attr == "emails" and not path.is_complex:
            user.email = _work_email(value) or ("" if operation["op"].lower() != "add" else user.email)
        self.save()

    def _user(self, scim_id: str | None) -> User | None:
        if scim_id is None:
            return None
        found = User.objects.filter(scim_id=scim_id).first()
        if found is None:
            raise exceptions.BadRequestError(f"No user with id {scim_id}", scim_type="invalidValue")
        return found


def _work_email(emails: object) -> str | None:
    """The work (else primary, else first) e-mail of an `emails` value."""
    if isinstance(emails, dict):
        emails = [emails]
    if not isinstance(emails, list):
        return None
    items = [e for e in emails if isinstance(e, dict) and e.get("value")]
    for pick in (lambda e: str(e.get("type", "")).lower() == "work", lambda e: as_bool(e.get("primary"))):
        chosen = next((e for e in items if pick(e)), None)
        if chosen is not None:
            return str(chosen["value"])
    return str(items[0]["value"]) if items else None


class EntraGroup(SCIMGroup):
    obj: Group

    @property
    def members(self) -> list[dict[str, Any]]:
        adapter = EntraUser
        return [
            {
                "value": u.scim_id,
                "$ref": adapter(u, self.request).location,
                "display": adapter(u, self.request).display_name,
            }
            for u in self.obj.members.all()
        ]

    def from_dict(self, d: dict[str, Any]) -> None:
        super(SCIMGroup, self).from_dict(d)  # externalId; SCIMGroup's own writes to `name`
        self.obj.scim_display_name = d.get("displayName") or ""

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        if not d.get("externalId"):
            d.pop("externalId", None)
        return dict(d)

    def handle_add(self, path: Any, value: Any, operation: dict[str, Any]) -> None:
        self._write(path, value, operation, adding=True)

    def handle_replace(self, path: Any, value: Any, operation: dict[str, Any]) -> None:
        if path.first_path == ("members", None, None):
            self.obj.members.clear()
        self._write(path, value, operation, adding=True)

    def handle_remove(self, path: Any, value: Any, operation: dict[str, Any]) -> None:
        self._write(path, value, operation, adding=False)

    def _write(self, path: Any, value: Any, operation: dict[str, Any], *, adding: bool) -> None:
        attr = path.first_path[0]
        if attr == "members":
            filtered = _filtered(operation) if path.is_complex else None
            if filtered is not None and filtered["key"] == "value":
                ids = [filtered["value"]]  # members[value eq "id"]: the compliant removal
            elif filtered is None and not path.is_complex:
                items = value if isinstance(value, list) else [value] if value is not None else []
                ids = [str(i.get("value")) for i in items if isinstance(i, dict) and i.get("value")]
                if not adding and value is None:
                    self.obj.members.clear()  # remove with path "members" alone: all of them
            else:
                raise exceptions.BadRequestError("Unsupported members path", scim_type="invalidPath")
            users = list(User.objects.filter(scim_id__in=ids))
            if adding and len(users) != len(set(ids)):
                raise exceptions.BadRequestError("A member does not exist", scim_type="invalidValue")
            (self.obj.members.add if adding else self.obj.members.remove)(*users)
        elif attr == "displayName" and adding and value:
            self.obj.scim_display_name = value
        elif attr == "externalId":
            self.obj.scim_external_id = value if adding else ""
        self.save()
