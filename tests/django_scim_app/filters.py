"""Filter parsers for Entra's matching queries (`userName eq "..."`, `displayName eq "..."`).

Kept apart from the adapters: django-scim2 reads the parsers' attribute maps while it imports
its own adapters, which ours extend."""

from __future__ import annotations

from django_scim.filters import FilterQuery

from tests.django_scim_app.models import Group, User


class UserFilterQuery(FilterQuery):
    model_getter = staticmethod(lambda: User)
    attr_map = {
        ("userName", None, None): "scim_username",
        ("externalId", None, None): "scim_external_id",
        ("displayName", None, None): "display_name",
        ("id", None, None): "scim_id",
    }


class GroupFilterQuery(FilterQuery):
    model_getter = staticmethod(lambda: Group)
    attr_map = {
        ("displayName", None, None): "scim_display_name",
        ("externalId", None, None): "scim_external_id",
        ("id", None, None): "scim_id",
    }
