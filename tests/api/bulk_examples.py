"""The bulkUpload request bodies of reference graph-sync-api §7.2 (the Graph docs' three
examples: core + enterprise users with a manager, a custom namespace, a partial update)."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SCIM_JSON = {"Content-Type": "application/scim+json"}
UPLOAD = "SynchronizationData-User.Upload"


def _user(
    external_id: str,
    user_name: str,
    given: str,
    display: str,
    title: str,
    street: str,
    phone: str,
    manager: tuple[str, str],
) -> dict[str, Any]:
    return {
        "schemas": [CORE, ENTERPRISE],
        "externalId": external_id,
        "userName": user_name,
        "name": {
            "formatted": f"Ms. {given} J Jensen, III",
            "familyName": "Jensen",
            "givenName": given,
            "middleName": "Jane",
            "honorificPrefix": "Ms.",
            "honorificSuffix": "III",
        },
        "displayName": display,
        "nickName": given,
        "emails": [{"value": user_name.lower(), "type": "work", "primary": True}],
        "addresses": [
            {
                "type": "work",
                "streetAddress": street,
                "locality": "Hollywood",
                "region": "CA",
                "postalCode": "91608",
                "country": "USA",
                "formatted": f"{street}\nHollywood, CA 91608 USA",
                "primary": True,
            }
        ],
        "phoneNumbers": [{"value": phone, "type": "work"}],
        "userType": "Employee",
        "title": title,
        "preferredLanguage": "en-US",
        "locale": "en-US",
        "timezone": "America/Los_Angeles",
        "active": True,
        ENTERPRISE: {
            "employeeNumber": "701984",
            "costCenter": "4130",
            "organization": "Universal Studios",
            "division": "Theme Park",
            "department": "Tour Operations",
            "manager": {"value": manager[0], "displayName": manager[1]},
        },
    }


# Example 1: two users; Barbara's manager (89607) is not uploaded, Kathy's is Barbara.
EXAMPLE_1: dict[str, Any] = {
    "schemas": [BULK_REQUEST],
    "Operations": [
        {
            "method": "POST",
            "bulkId": "701984",
            "path": "/Users",
            "data": _user(
                "701984",
                "bjensen@example.com",
                "Barbara",
                "Babs Jensen",
                "Tour Guide",
                "234300 Universal City Plaza",
                "555-555-5555",
                ("89607", "John Smith"),
            ),
        },
        {
            "method": "POST",
            "bulkId": "701985",
            "path": "/Users",
            "data": _user(
                "701985",
                "Kjensen@example.com",
                "Kathy",
                "Kathy Jensen",
                "Tour Lead",
                "100 Oracle City Plaza",
                "555-555-5545",
                ("701984", "Barbara Jensen"),
            ),
        },
    ],
    "failOnErrors": None,
}


def _with_custom_namespace(example: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(example)
    for operation, (hired, code) in zip(
        body["Operations"],
        [("2021-05-01T00:00:00-05:00", "AB-1002"), ("2022-07-15T00:00:00-05:00", "AB-1003")],
        strict=True,
    ):
        operation["data"]["schemas"].append("urn:contoso:employee")
        operation["data"]["urn:contoso:employee"] = {"HireDate": hired, "JobCode": code}
    return body


# Example 2: the same users with the custom namespace urn:contoso:employee.
EXAMPLE_2: dict[str, Any] = _with_custom_namespace(EXAMPLE_1)

# Example 3: a partial record: disable the user and change the department.
EXAMPLE_3: dict[str, Any] = {
    "schemas": [BULK_REQUEST],
    "Operations": [
        {
            "method": "POST",
            "bulkId": "7172023",
            "path": "/Users",
            "data": {
                "schemas": [CORE, ENTERPRISE],
                "externalId": "7172023",
                "active": False,
                ENTERPRISE: {"department": "Tour Ops"},
            },
        }
    ],
    "failOnErrors": None,
}


def operation(external_id: str, bulk_id: str | None = None, **data: Any) -> dict[str, Any]:
    """One POST /Users operation for a user with the given attributes."""
    return {
        "method": "POST",
        "bulkId": bulk_id or external_id,
        "path": "/Users",
        "data": {"schemas": [CORE, ENTERPRISE], "externalId": external_id, **data},
    }


def hr_user(
    external_id: str, name: str, *, manager: str | None = None, bulk_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A complete HR record (what a create needs) as a BulkRequest operation."""
    data: dict[str, Any] = {
        "userName": f"{name}@contoso.example",
        "displayName": name.title(),
        "name": {"givenName": name.title(), "familyName": "Worker"},
        "title": "Engineer",
        "active": True,
        **extra,
    }
    enterprise: dict[str, Any] = {"department": "Engineering"}
    if manager is not None:
        enterprise["manager"] = {"value": manager}
    data[ENTERPRISE] = {**enterprise, **data.pop(ENTERPRISE, {})}
    return operation(external_id, bulk_id, **data)


def bulk(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [BULK_REQUEST], "Operations": list(operations), "failOnErrors": None}


def upload(client: httpx.Client, job_url: str, body: dict[str, Any] | str) -> httpx.Response:
    content = body if isinstance(body, str) else json.dumps(body)
    return client.post(f"{job_url}/bulkUpload", content=content, headers=SCIM_JSON)
