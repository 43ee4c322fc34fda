"""Wire models of the directory: user, group, application, servicePrincipal, appRoleAssignment.

Field names are snake_case and the wire names their camelCase aliases, so a record whose keys
are the snake names validates straight into a model (`User.model_validate(record)`). Input
models forbid unknown properties and use strict types, as Graph does ("Invalid property").
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, model_validator

from provisiond.graph.base import DateTimeOffset, GraphModel

WireDateTime = DateTimeOffset


class WireModel(GraphModel):
    """Output shape: every declared property is emitted, nulls included, as Graph does."""

    model_config = ConfigDict(extra="ignore")


class InputModel(GraphModel):
    """Request shape: camelCase names only, unknown properties are errors (Graph's "Invalid property")."""

    model_config = ConfigDict(populate_by_name=False)

    def changes(self) -> dict[str, Any]:
        """The properties the client actually sent, by snake name."""
        return self.model_dump(exclude_unset=True)


Str = StrictStr | None
StrList = list[StrictStr] | None


class _UserProperties(InputModel):
    display_name: Str = None
    given_name: Str = None
    surname: Str = None
    mail: Str = None
    mail_nickname: Str = None
    other_mails: StrList = None
    proxy_addresses: StrList = None
    job_title: Str = None
    department: Str = None
    company_name: Str = None
    employee_id: Str = None
    employee_type: Str = None
    office_location: Str = None
    mobile_phone: Str = None
    business_phones: StrList = None
    fax_number: Str = None
    street_address: Str = None
    city: Str = None
    state: Str = None
    postal_code: Str = None
    country: Str = None
    preferred_language: Str = None
    usage_location: Str = None
    account_enabled: StrictBool | None = None
    user_type: Str = None


class PasswordProfile(InputModel):
    password: Str = None
    force_change_password_next_sign_in: StrictBool | None = None
    force_change_password_next_sign_in_with_mfa: StrictBool | None = None


class UserUpdate(_UserProperties):
    user_principal_name: Str = None
    password_profile: PasswordProfile | None = None


class UserCreate(UserUpdate):
    """Graph requires these on create; the password itself is accepted and not stored."""

    account_enabled: StrictBool
    display_name: StrictStr
    mail_nickname: StrictStr
    user_principal_name: StrictStr
    password_profile: PasswordProfile


# The multi-valued user properties: stored as lists, never null on the wire.
USER_LIST_PROPERTIES = ("other_mails", "proxy_addresses", "business_phones")


class User(WireModel):
    id: str
    user_principal_name: str
    display_name: str | None = None
    given_name: str | None = None
    surname: str | None = None
    mail: str | None = None
    mail_nickname: str | None = None
    other_mails: list[str] = Field(default_factory=list)
    proxy_addresses: list[str] = Field(default_factory=list)
    job_title: str | None = None
    department: str | None = None
    company_name: str | None = None
    employee_id: str | None = None
    employee_type: str | None = None
    office_location: str | None = None
    mobile_phone: str | None = None
    business_phones: list[str] = Field(default_factory=list)
    fax_number: str | None = None
    street_address: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    preferred_language: str | None = None
    usage_location: str | None = None
    account_enabled: bool
    user_type: str | None = None
    created_date_time: WireDateTime
    deleted_date_time: WireDateTime | None = None


# What Graph v1.0 returns for a user when no $select is given.
USER_DEFAULT_SELECT = [
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
]


class GroupUpdate(InputModel):
    display_name: Str = None
    description: Str = None
    mail_nickname: Str = None
    mail_enabled: StrictBool | None = None
    security_enabled: StrictBool | None = None
    group_types: StrList = None


class GroupCreate(GroupUpdate):
    display_name: StrictStr
    mail_nickname: StrictStr
    mail_enabled: StrictBool
    security_enabled: StrictBool
    members_odata_bind: list[StrictStr] | None = Field(default=None, alias="members@odata.bind")
    owners_odata_bind: list[StrictStr] | None = Field(default=None, alias="owners@odata.bind")

    @model_validator(mode="wrap")
    @classmethod
    def _keep_binds(cls, data: Any, handler: Any) -> Any:
        # `members@odata.bind` and `owners@odata.bind` mean something here; other annotations do not.
        binds = {
            k: data.pop(k)
            for k in ("members@odata.bind", "owners@odata.bind")
            if isinstance(data, dict) and k in data
        }
        model = handler(data)
        for key, value in binds.items():
            setattr(model, "members_odata_bind" if key.startswith("members") else "owners_odata_bind", value)
        return model


class Group(WireModel):
    id: str
    display_name: str
    description: str | None = None
    mail_nickname: str
    mail: str | None = None
    mail_enabled: bool
    security_enabled: bool
    group_types: list[str] = Field(default_factory=list)
    created_date_time: WireDateTime
    deleted_date_time: WireDateTime | None = None


class ApplicationCreate(InputModel):
    display_name: StrictStr
    description: Str = None
    sign_in_audience: Str = None


class Application(WireModel):
    id: str
    app_id: str
    display_name: str | None = None
    description: str | None = None
    sign_in_audience: str
    created_date_time: WireDateTime
    deleted_date_time: WireDateTime | None = None


class ServicePrincipalCreate(InputModel):
    app_id: StrictStr
    account_enabled: StrictBool | None = None
    app_role_assignment_required: StrictBool | None = None
    tags: StrList = None


class ServicePrincipal(WireModel):
    id: str
    app_id: str
    display_name: str | None = None
    application_template_id: str | None = None
    app_owner_organization_id: str | None = None
    service_principal_type: str
    account_enabled: bool
    app_role_assignment_required: bool
    tags: list[str] = Field(default_factory=list)
    deleted_date_time: WireDateTime | None = None


class AppRoleAssignmentCreate(InputModel):
    principal_id: StrictStr
    resource_id: StrictStr
    app_role_id: StrictStr


class AppRoleAssignment(WireModel):
    id: str
    app_role_id: str
    created_date_time: WireDateTime
    deleted_date_time: WireDateTime | None = None
    principal_display_name: str | None = None
    principal_id: str
    principal_type: str
    resource_display_name: str | None = None
    resource_id: str


class InstantiateRequest(InputModel):
    display_name: StrictStr
    service_management_reference: Str = None


class ReferenceRequest(BaseModel):
    """The body of `POST .../$ref`: `{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/{id}"}`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    odata_id: StrictStr = Field(alias="@odata.id")

    @model_validator(mode="before")
    @classmethod
    def _drop_annotations(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k == "@odata.id" or not k.startswith("@odata.")}
        return data

    def object_id(self) -> str:
        """The id at the end of the reference URL (`.../directoryObjects/{id}` or `.../users/{id}`)."""
        return referenced_id(self.odata_id)


def referenced_id(url: str) -> str:
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    if tail.startswith("directoryObjects(") or tail.startswith("users(") or tail.startswith("groups("):
        tail = tail.split("(", 1)[1].rstrip(")").strip("'")
    return tail
