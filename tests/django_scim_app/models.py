"""A user and a group with django-scim2's mixins, as its docs describe: the app keeps what it
uses (names, e-mail, title, status, enterprise number, department, manager) and no more."""

from __future__ import annotations

from typing import Any

from django.db import models
from django_scim.models import AbstractSCIMGroupMixin, AbstractSCIMUserMixin


class User(AbstractSCIMUserMixin):
    # The mixin's scim_username is not unique; an app matched by userName needs it to be.
    scim_username = models.CharField(max_length=254, unique=True, null=True, default=None)
    display_name = models.CharField(max_length=256, blank=True, default="")
    given_name = models.CharField(max_length=256, blank=True, default="")
    family_name = models.CharField(max_length=256, blank=True, default="")
    formatted_name = models.CharField(max_length=512, blank=True, default="")
    email = models.CharField(max_length=256, blank=True, default="")
    title = models.CharField(max_length=256, blank=True, default="")
    is_active = models.BooleanField(default=True)
    employee_number = models.CharField(max_length=256, blank=True, default="")
    department = models.CharField(max_length=256, blank=True, default="")
    manager = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL)
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)


class Group(AbstractSCIMGroupMixin):
    members = models.ManyToManyField(User, related_name="member_of", blank=True)
    created = models.DateTimeField(auto_now_add=True)

    @property
    def name(self) -> str:
        """django-scim2's group mixin copies `name` into scim_display_name on create."""
        return self.scim_display_name or ""


def get_user_model() -> Any:
    return User
