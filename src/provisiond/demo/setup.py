"""Setting the demo up through the same use cases the API calls: the sample directory, the
custom SCIM app from its application template, its assignments, the job with its secrets."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from provisiond.demo.sample import DEMO_DOMAIN, MAX_BINDS_PER_REQUEST, SampleDirectory, generate_directory

DEMO_APP_NAME = "Contoso SCIM app (provisiond demo)"
DEFAULT_ACCESS_ROLE = "00000000-0000-0000-0000-000000000000"


class DemoError(Exception):
    """The demo cannot run as asked; the message says why."""


class Interrupted(Exception):
    """Ctrl-C (or SIGTERM) while setting up."""


@dataclass
class DemoState:
    sp_id: str = ""
    job_id: str = ""
    in_scope: int = 0
    sample_upn: str = ""
    summary: list[str] = field(default_factory=list)


class Stop:
    """SIGINT/SIGTERM set this; long steps check it between units of work."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def check(self) -> None:
        if self.event.is_set():
            raise Interrupted

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        previous = {
            sig: signal.signal(sig, lambda *_: self.event.set()) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def set_up(
    services: Any, users: int, scim_url: str, scim_token: str, stop: Stop, say: Callable[[str], None]
) -> DemoState:
    """The directory, the app and its assignments, the job with its secrets, started."""
    from provisiond.graph.directory import AppRoleAssignmentCreate, InstantiateRequest
    from provisiond.graph.synchronization import CreateJobRequest, RestartRequest, SecretsPutRequest

    state = DemoState()
    existing = _existing_demo_app(services)
    secrets_body = SecretsPutRequest.model_validate(
        {
            "value": [
                {"key": "BaseAddress", "value": scim_url},
                {"key": "SecretToken", "value": scim_token},
                {"key": "SyncAll", "value": "False"},
            ]
        }
    )
    if existing is not None:
        sp = existing
        say(f'Reusing the directory and the app "{DEMO_APP_NAME}" already in this database.')
        jobs = services.synchronization.jobs(sp)
        application = services.applications.application_of(sp)
        if not jobs:
            jobs = [
                services.synchronization.create_job(
                    sp,
                    application["id"] if application else None,
                    CreateJobRequest.model_validate({"templateId": "scim"}),
                )
            ]
        state.sp_id, state.job_id = sp["id"], jobs[0]["id"]
        services.synchronization.put_secrets(sp, secrets_body)
        # The SCIM app is new and empty: forget everything the job knew about the old one.
        services.synchronization.restart(
            sp, state.job_id, RestartRequest.model_validate({"criteria": {"resetScope": "Full"}}), "demo"
        )
        state.in_scope = _count_assigned_users(services, sp["id"])
        state.sample_upn = _any_assigned_upn(services, sp["id"])
        say("Restarted the job (resetScope Full) against the new SCIM app.")
        return state

    if services.directory.count_objects("user", None):
        raise DemoError(
            "This database already holds a directory that the demo did not create; "
            "give the demo a fresh --data-dir (or none, for a temporary one)."
        )
    sample = generate_directory(users)
    began = time.monotonic()
    departments = len({u.department for u in sample.users} - {"Executive"})
    say(
        f"Creating the sample directory: {len(sample.users)} users in {departments} departments, "
        f"{len(sample.groups)} groups, a manager chain ..."
    )
    ids = seed_directory(services.directory, sample, stop.check)
    say(f"  done in {time.monotonic() - began:.1f} s")

    stop.check()
    app, sp = services.applications.instantiate(
        "8adf8e6e-67b2-4cf2-a259-e3dc5476c621",
        InstantiateRequest.model_validate({"displayName": DEMO_APP_NAME}),
        None,
    )
    assigned_groups = [g for g in sample.groups if g.assigned]
    for group in assigned_groups:
        _assign(services, sp["id"], ids.groups[group.display_name], AppRoleAssignmentCreate)
    for index in sample.assigned_users:
        _assign(services, sp["id"], ids.users[index], AppRoleAssignmentCreate)
    in_scope = sample.in_scope()
    state.in_scope = len(in_scope)
    state.sample_upn = sample.users[sample.example_user()].user_principal_name
    say(
        f'Instantiated the custom SCIM app "{DEMO_APP_NAME}" and assigned '
        f"{len(assigned_groups)} groups ({', '.join(g.display_name for g in assigned_groups)}) "
        f"and {len(sample.assigned_users)} users: {len(in_scope)} users in scope."
    )
    job = services.synchronization.create_job(
        sp, app["id"], CreateJobRequest.model_validate({"templateId": "scim"})
    )
    state.sp_id, state.job_id = sp["id"], job["id"]
    services.synchronization.put_secrets(sp, secrets_body)
    services.synchronization.start(sp, job["id"])
    say(
        f'Created the job {job["id"]} from template "scim", put its secrets (BaseAddress, SecretToken), started it.'
    )
    return state


@dataclass
class SeededIds:
    users: list[str]
    groups: dict[str, str]


def seed_directory(
    directory: Any, sample: SampleDirectory, check: Callable[[], None] = lambda: None
) -> SeededIds:
    """Create the sample's users, managers and groups through the directory use cases."""
    from provisiond.graph.directory import GroupCreate, UserCreate

    user_ids: list[str] = []
    for user in sample.users:
        check()
        user_ids.append(directory.create_user(UserCreate.model_validate(user.graph_body()))["id"])
    for user in sample.users:
        if user.manager is not None:
            check()
            directory.set_manager(user_ids[user.index], user_ids[user.manager])
    group_ids: dict[str, str] = {}
    for group in sample.groups:
        check()
        members = [user_ids[i] for i in group.members]
        group_id = directory.create_group(GroupCreate.model_validate(group.graph_body(members)))["id"]
        for member in members[MAX_BINDS_PER_REQUEST:]:
            directory.add_member(group_id, member)
        group_ids[group.display_name] = group_id
    return SeededIds(user_ids, group_ids)


def _assign(services: Any, sp_id: str, principal_id: str, model: Any) -> None:
    body = {"principalId": principal_id, "resourceId": sp_id, "appRoleId": DEFAULT_ACCESS_ROLE}
    services.applications.assign(sp_id, model.model_validate(body))


def _existing_demo_app(services: Any) -> dict[str, Any] | None:
    after = None
    while True:
        page = services.applications.list_objects("servicePrincipal", None, after, 100, False)
        for sp in page.records:
            if sp.get("display_name") == DEMO_APP_NAME:
                return dict(sp)
        if page.next_after is None:
            return None
        after = page.next_after


def _assigned_principals(services: Any, sp_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = None
    while True:
        page = services.applications.assignments(sp_id, after, 100)
        out.extend(page.records)
        if page.next_after is None:
            return out
        after = page.next_after


def _count_assigned_users(services: Any, sp_id: str) -> int:
    users: set[str] = set()
    for assignment in _assigned_principals(services, sp_id):
        if assignment["principal_type"] == "User":
            users.add(assignment["principal_id"])
        elif assignment["principal_type"] == "Group":
            after = None
            while True:
                members, after = services.relationships.page(
                    "group", "members", assignment["principal_id"], after, 500
                )
                users.update(record["id"] for kind, record in members if kind == "user")
                if after is None:
                    break
    return len(users)


def _any_assigned_upn(services: Any, sp_id: str) -> str:
    for assignment in _assigned_principals(services, sp_id):
        if assignment["principal_type"] == "User":
            return str(services.directory.get_user(assignment["principal_id"])["user_principal_name"])
    return f"someone@{DEMO_DOMAIN}"
