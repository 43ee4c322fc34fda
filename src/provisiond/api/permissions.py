"""Who may call what: Graph's permission tables (reference §5) as data, and one check.

A requirement lists the delegated scopes and application roles that each suffice. Roles in
`owned_by` (Application.ReadWrite.OwnedBy, SynchronizationData-User.Upload.OwnedBy) suffice
only when the calling app owns the target. Delegated calls to synchronization endpoints also
need one of the administrator directory roles in `wids`. A 403 names what is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from provisiond.api.auth import Principal
from provisiond.services.errors import Forbidden

APPLICATION_ADMINISTRATOR = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
CLOUD_APPLICATION_ADMINISTRATOR = "158c047a-c907-4556-b7ef-446551a6b5f7"
HYBRID_IDENTITY_ADMINISTRATOR = "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2"
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"

ROLE_NAMES = {
    APPLICATION_ADMINISTRATOR: "Application Administrator",
    CLOUD_APPLICATION_ADMINISTRATOR: "Cloud Application Administrator",
    HYBRID_IDENTITY_ADMINISTRATOR: "Hybrid Identity Administrator",
    GLOBAL_ADMINISTRATOR: "Global Administrator",
}
SYNC_ADMIN_ROLES = frozenset(ROLE_NAMES)


@dataclass(frozen=True)
class Requirement:
    delegated: frozenset[str]
    application: frozenset[str]
    owned_by: frozenset[str] = frozenset()
    delegated_roles: frozenset[str] = frozenset()


def _req(
    delegated: str, application: str, owned_by: str = "", roles: frozenset[str] = frozenset()
) -> Requirement:
    return Requirement(
        frozenset(delegated.split()), frozenset(application.split()), frozenset(owned_by.split()), roles
    )


SYNC_READ = _req(
    "Synchronization.Read.All Synchronization.ReadWrite.All",
    "Synchronization.Read.All Synchronization.ReadWrite.All",
    "Application.ReadWrite.OwnedBy",
    SYNC_ADMIN_ROLES,
)
SYNC_WRITE = _req(
    "Synchronization.ReadWrite.All",
    "Synchronization.ReadWrite.All",
    "Application.ReadWrite.OwnedBy",
    SYNC_ADMIN_ROLES,
)
SYNC_JOB_PATCH = _req("Synchronization.ReadWrite.All", "Synchronization.ReadWrite.All", "", SYNC_ADMIN_ROLES)
SYNC_DISCOVER = _req(
    "Directory.ReadWrite.All", "Directory.ReadWrite.All", "Application.ReadWrite.OwnedBy", SYNC_ADMIN_ROLES
)
SYNC_BULK_UPLOAD = _req(
    "SynchronizationData-User.Upload",
    "SynchronizationData-User.Upload",
    "SynchronizationData-User.Upload.OwnedBy",
    frozenset({GLOBAL_ADMINISTRATOR}),
)

USER_READ = _req(
    "User.Read.All User.ReadWrite.All Directory.Read.All Directory.ReadWrite.All User.ReadBasic.All",
    "User.Read.All User.ReadWrite.All Directory.Read.All Directory.ReadWrite.All",
)
USER_WRITE = _req("User.ReadWrite.All Directory.ReadWrite.All", "User.ReadWrite.All Directory.ReadWrite.All")
GROUP_READ = _req(
    "Group.Read.All Group.ReadWrite.All GroupMember.Read.All GroupMember.ReadWrite.All Directory.Read.All Directory.ReadWrite.All",
    "Group.Read.All Group.ReadWrite.All GroupMember.Read.All GroupMember.ReadWrite.All Directory.Read.All Directory.ReadWrite.All",
)
GROUP_WRITE = _req(
    "Group.ReadWrite.All Directory.ReadWrite.All", "Group.ReadWrite.All Directory.ReadWrite.All"
)
GROUP_MEMBER_WRITE = _req(
    "GroupMember.ReadWrite.All Group.ReadWrite.All Directory.ReadWrite.All",
    "GroupMember.ReadWrite.All Group.ReadWrite.All Directory.ReadWrite.All",
)
APP_READ = _req(
    "Application.Read.All Application.ReadWrite.All Directory.Read.All Directory.ReadWrite.All",
    "Application.Read.All Application.ReadWrite.All Directory.Read.All Directory.ReadWrite.All",
    "Application.ReadWrite.OwnedBy",
)
APP_WRITE = _req(
    "Application.ReadWrite.All Directory.ReadWrite.All",
    "Application.ReadWrite.All",
    "Application.ReadWrite.OwnedBy",
)
# Creating an application or instantiating a template is open to OwnedBy: the caller becomes its owner.
APP_CREATE = _req(
    "Application.ReadWrite.All Directory.ReadWrite.All",
    "Application.ReadWrite.All Application.ReadWrite.OwnedBy",
)
ASSIGNMENT_READ = _req(
    "Application.Read.All Application.ReadWrite.All AppRoleAssignment.ReadWrite.All Directory.Read.All Directory.ReadWrite.All",
    "Application.Read.All Application.ReadWrite.All AppRoleAssignment.ReadWrite.All Directory.Read.All Directory.ReadWrite.All",
    "Application.ReadWrite.OwnedBy",
)
ASSIGNMENT_WRITE = _req(
    "AppRoleAssignment.ReadWrite.All Application.ReadWrite.All Directory.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All Application.ReadWrite.All",
    "Application.ReadWrite.OwnedBy",
)
PROVISIONING_LOG_READ = _req(
    "AuditLog.Read.All ProvisioningLog.Read.All", "AuditLog.Read.All ProvisioningLog.Read.All"
)
DIRECTORY_READ = _req(
    "Directory.Read.All Directory.ReadWrite.All", "Directory.Read.All Directory.ReadWrite.All"
)


def check(
    principal: Principal, requirement: Requirement, *, owns_target: Callable[[], bool] | None = None
) -> None:
    """Raise Forbidden unless the caller satisfies the requirement.

    `owns_target` is consulted only when the caller relies on an OwnedBy permission; it answers
    whether the calling app is an owner of the target application or service principal.
    """
    if principal.delegated:
        if not principal.scopes & requirement.delegated:
            raise Forbidden(_missing("delegated permission", requirement.delegated))
        if requirement.delegated_roles and not principal.wids & requirement.delegated_roles:
            names = ", ".join(sorted(ROLE_NAMES[w] for w in requirement.delegated_roles))
            raise Forbidden(
                f"Insufficient privileges to complete the operation. The signed-in user must hold one of these directory roles: {names}."
            )
        return
    if principal.roles & requirement.application:
        return
    if principal.roles & requirement.owned_by:
        if owns_target is not None and owns_target():
            return
        granted = ", ".join(sorted(principal.roles & requirement.owned_by))
        raise Forbidden(
            f"Insufficient privileges to complete the operation. {granted} covers only objects the calling app "
            f"'{principal.app_id}' owns, and it is not an owner of this one."
        )
    raise Forbidden(_missing("application permission", requirement.application | requirement.owned_by))


def _missing(kind: str, accepted: frozenset[str]) -> str:
    return f"Insufficient privileges to complete the operation. Missing {kind}: one of {', '.join(sorted(accepted))}."
