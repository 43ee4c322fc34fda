"""Wire models of the directory: user, group, application, servicePrincipal, appRoleAssignment.

Field names are snake_case and the wire names their camelCase aliases, so a record whose keys
are the snake names validates straight into a model (`User.model_validate(record)`). Input
models forbid unknown properties and use strict types, as Graph does ("Invalid property").

Input models also hold Graph's length limits, so an over-long value is a 400 naming the
property, on every backend, before anything is stored (lengths count characters, as the
storage columns do; every limit fits its column, `tests/graph/test_directory_limits.py`).

Documented by Graph (resource pages of user, group and application; Entra's username policies):

- user: displayName 256; givenName, surname, department, companyName, mailNickname and
  mobilePhone 64; jobTitle, city, state and country 128; postalCode 40; streetAddress 1,024;
  employeeId 16; otherMails at most 250 values of 250 characters; businessPhones at most one
  number ("only one number can be set"); userPrincipalName 113 characters, at most 64 before
  the `@` and 48 after it.
- group: displayName 256; mailNickname 64; members@odata.bind and owners@odata.bind together
  at most 20 on create ("a maximum of 20 relationships ... as part of group creation").
- application: description 1,024.

Chosen here, where Graph documents no limit (the storage column's width, or a generous bound):

- user: mail 256 (an SMTP path); officeLocation 128; faxNumber and employeeType 64;
  preferredLanguage 16 (an RFC 4646 tag such as `en-US`); usageLocation 2 (Graph: "a two-letter
  country code"); userType 32 (`Member` or `Guest`); proxyAddresses at most 250 values of 256
  characters (as otherMails); a business phone 64 (as mobilePhone); passwordProfile.password
  256 (Entra's longest password; the password is not stored).
- group: description 1,024 (as an application's); groupTypes at most 10 values of 64.
- application and service principal: displayName 256 (as a group's and a user's);
  signInAudience 64; service principal tags at most 100 values of 256; appId and the ids of an
  app role assignment 64 (a GUID is 36).
- an `@odata.id` or `@odata.bind` reference 2,048 (a URL).
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

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


# Strict strings of at most N characters, and bounded lists of them (`Texts250x250`: at most
# 250 values of at most 250 characters). Named aliases rather than a factory: type checkers
# read them as types.
Text2 = Annotated[StrictStr, StringConstraints(max_length=2)]
Text16 = Annotated[StrictStr, StringConstraints(max_length=16)]
Text32 = Annotated[StrictStr, StringConstraints(max_length=32)]
Text40 = Annotated[StrictStr, StringConstraints(max_length=40)]
Text64 = Annotated[StrictStr, StringConstraints(max_length=64)]
Text128 = Annotated[StrictStr, StringConstraints(max_length=128)]
Text250 = Annotated[StrictStr, StringConstraints(max_length=250)]
Text256 = Annotated[StrictStr, StringConstraints(max_length=256)]
Text1024 = Annotated[StrictStr, StringConstraints(max_length=1024)]
Reference = Annotated[StrictStr, StringConstraints(max_length=2048)]
MAX_GROUP_CREATE_LINKS: Final = 20
Texts250x250 = Annotated[list[Text250], Field(max_length=250)]
Texts250x256 = Annotated[list[Text256], Field(max_length=250)]
Texts1x64 = Annotated[list[Text64], Field(max_length=1)]
Texts10x64 = Annotated[list[Text64], Field(max_length=10)]
Texts100x256 = Annotated[list[Text256], Field(max_length=100)]
GroupLinks = Annotated[list[Reference], Field(max_length=MAX_GROUP_CREATE_LINKS)]
# members@odata.bind and owners@odata.bind are read apart from the model (see GroupCreate).
_GROUP_LINKS: TypeAdapter[list[str]] = TypeAdapter(GroupLinks)

UPN_MAX: Final = 113
UPN_LOCAL_MAX: Final = 64
UPN_DOMAIN_MAX: Final = 48


def _upn_parts_fit(upn: str) -> str:
    local, at, domain = upn.rpartition("@")
    if at and len(local) > UPN_LOCAL_MAX:
        raise ValueError(f"at most {UPN_LOCAL_MAX} characters may come before the '@'")
    if at and len(domain) > UPN_DOMAIN_MAX:
        raise ValueError(f"at most {UPN_DOMAIN_MAX} characters may come after the '@'")
    return upn


Upn = Annotated[StrictStr, StringConstraints(max_length=UPN_MAX), AfterValidator(_upn_parts_fit)]


class _UserProperties(InputModel):
    display_name: Text256 | None = None
    given_name: Text64 | None = None
    surname: Text64 | None = None
    mail: Text256 | None = None
    mail_nickname: Text64 | None = None
    other_mails: Texts250x250 | None = None
    proxy_addresses: Texts250x256 | None = None
    job_title: Text128 | None = None
    department: Text64 | None = None
    company_name: Text64 | None = None
    employee_id: Text16 | None = None
    employee_type: Text64 | None = None
    office_location: Text128 | None = None
    mobile_phone: Text64 | None = None
    business_phones: Texts1x64 | None = None
    fax_number: Text64 | None = None
    street_address: Text1024 | None = None
    city: Text128 | None = None
    state: Text128 | None = None
    postal_code: Text40 | None = None
    country: Text128 | None = None
    preferred_language: Text16 | None = None
    usage_location: Text2 | None = None
    account_enabled: StrictBool | None = None
    user_type: Text32 | None = None


class PasswordProfile(InputModel):
    password: Text256 | None = None
    force_change_password_next_sign_in: StrictBool | None = None
    force_change_password_next_sign_in_with_mfa: StrictBool | None = None


class UserUpdate(_UserProperties):
    user_principal_name: Upn | None = None
    password_profile: PasswordProfile | None = None


class UserCreate(UserUpdate):
    """Graph requires these on create; the password itself is accepted and not stored."""

    account_enabled: StrictBool
    display_name: Text256
    mail_nickname: Text64
    user_principal_name: Upn
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
    display_name: Text256 | None = None
    description: Text1024 | None = None
    mail_nickname: Text64 | None = None
    mail_enabled: StrictBool | None = None
    security_enabled: StrictBool | None = None
    group_types: Texts10x64 | None = None


class GroupCreate(GroupUpdate):
    display_name: Text256
    mail_nickname: Text64
    mail_enabled: StrictBool
    security_enabled: StrictBool
    members_odata_bind: GroupLinks | None = Field(default=None, alias="members@odata.bind")
    owners_odata_bind: GroupLinks | None = Field(default=None, alias="owners@odata.bind")

    @model_validator(mode="wrap")
    @classmethod
    def _keep_binds(cls, data: Any, handler: Any) -> Any:
        # `members@odata.bind` and `owners@odata.bind` mean something here; other annotations do not.
        binds = {
            k: data.pop(k)
            for k in ("members@odata.bind", "owners@odata.bind")
            if isinstance(data, dict) and k in data
        }
        problems: list[InitErrorDetails] = []
        for key, value in binds.items():
            try:
                binds[key] = _GROUP_LINKS.validate_python(value)
            except ValidationError as exc:
                problems += [
                    InitErrorDetails(
                        type=e["type"], loc=(key, *e["loc"]), input=e["input"], ctx=e.get("ctx", {})
                    )
                    for e in exc.errors()
                ]
        links = sum(len(v) for v in binds.values() if isinstance(v, list))
        if not problems and links > MAX_GROUP_CREATE_LINKS:
            problems.append(
                InitErrorDetails(
                    type=PydanticCustomError(
                        "too_long",
                        "members@odata.bind and owners@odata.bind may hold {max} references together "
                        "when a group is created, not {actual}",
                        {"max": MAX_GROUP_CREATE_LINKS, "actual": links},
                    ),
                    loc=("members@odata.bind",),
                    input=links,
                )
            )
        if problems:  # as pydantic reports its own, naming the bind
            raise ValidationError.from_exception_data(cls.__name__, problems)
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
    display_name: Text256
    description: Text1024 | None = None
    sign_in_audience: Text64 | None = None


class Application(WireModel):
    id: str
    app_id: str
    display_name: str | None = None
    description: str | None = None
    sign_in_audience: str
    created_date_time: WireDateTime
    deleted_date_time: WireDateTime | None = None


class ServicePrincipalCreate(InputModel):
    app_id: Text64
    account_enabled: StrictBool | None = None
    app_role_assignment_required: StrictBool | None = None
    tags: Texts100x256 | None = None


class ServicePrincipalUpdate(InputModel):
    """`PATCH /servicePrincipals/{id}`: what an administrator changes on an enterprise app."""

    display_name: Text256 | None = None
    account_enabled: StrictBool | None = None
    app_role_assignment_required: StrictBool | None = None
    tags: Texts100x256 | None = None


class ApplicationUpdate(InputModel):
    """`PATCH /applications/{id}`."""

    display_name: Text256 | None = None
    description: Text1024 | None = None


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
    principal_id: Text64
    resource_id: Text64
    app_role_id: Text64


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
    display_name: Text256
    service_management_reference: Text256 | None = None


class ReferenceRequest(BaseModel):
    """The body of `POST .../$ref`: `{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/{id}"}`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    odata_id: Reference = Field(alias="@odata.id")

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
