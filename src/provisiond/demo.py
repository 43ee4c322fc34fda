"""`provisiond demo`: the service on SQLite with a sample directory, provisioning into a local SCIM
app, in one process.

It runs the same setup an administrator would do over Graph (through the same use cases the API
calls): a directory of a few hundred people (a deterministic, generated company with departments,
job titles, offices and a manager chain), groups, the custom SCIM app instantiated from its
application template, groups and users assigned to it, a job from the `scim` template with the
app's BaseAddress and SecretToken, started. It shows the initial cycle as it runs and what it did,
then keeps serving and prints a token and ready-to-paste commands for the API.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import secrets
import shlex
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from provisiond.config import Settings

DEMO_DOMAIN = "contoso.example"
DEMO_COMPANY = "Contoso"
DEMO_APP_NAME = "Contoso SCIM app (provisiond demo)"
DEMO_SEED = 7493
DEFAULT_ACCESS_ROLE = "00000000-0000-0000-0000-000000000000"
TOKEN_LIFETIME = 24 * 3600
RESET_SCOPE = "Watermark, Escrows, QuarantineState"

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# The sample directory


GIVEN_NAMES = (
    "Adele", "Alex", "Amara", "Ana", "Andrei", "Aisha", "Ben", "Bianca", "Carlos", "Chen", "Chloe",
    "Daniel", "Deepa", "Diego", "Elena", "Emeka", "Emma", "Fatima", "Felix", "Grace", "Hana",
    "Hiroshi", "Ibrahim", "Ines", "Isaac", "Jamal", "Jana", "Javier", "Jin", "Johanna", "Kai",
    "Kavya", "Laura", "Leon", "Lina", "Lucas", "Maya", "Mateo", "Mei", "Miguel", "Mira", "Nadia",
    "Nikolai", "Noah", "Olivia", "Omar", "Priya", "Rafael", "Rahul", "Rosa", "Sakura", "Samuel",
    "Sara", "Sofia", "Tariq", "Thomas", "Uma", "Valentina", "Victor", "Wei", "Yara", "Yusuf",
    "Zara", "Zoltan",
)  # fmt: skip
SURNAMES = (
    "Abara", "Adams", "Alvarez", "Andersen", "Bakker", "Banerjee", "Becker", "Brown", "Castillo",
    "Chen", "Costa", "Dubois", "Dvorak", "Edwards", "Eriksson", "Fernandes", "Fischer", "Garcia",
    "Gupta", "Haddad", "Hansen", "Hoffmann", "Ivanova", "Jensen", "Johnson", "Kaur", "Kim",
    "Kowalski", "Kumar", "Larsen", "Lee", "Lopez", "Martin", "Mbeki", "Moreau", "Murphy",
    "Nakamura", "Nguyen", "Novak", "Okafor", "Olsen", "Patel", "Petrov", "Popescu", "Ramirez",
    "Rossi", "Santos", "Sato", "Schmidt", "Silva", "Singh", "Smith", "Suzuki", "Tanaka", "Taylor",
    "Van Dijk", "Wagner", "Walker", "Wang", "Weber", "Williams", "Yamamoto", "Yilmaz", "Zhang",
)  # fmt: skip


@dataclass(frozen=True)
class Department:
    name: str
    head_title: str
    lead_title: str
    titles: tuple[str, ...]
    weight: int


DEPARTMENTS = (
    Department(
        "Engineering",
        "VP of Engineering",
        "Engineering Manager",
        (
            "Software Engineer",
            "Senior Software Engineer",
            "Staff Software Engineer",
            "Site Reliability Engineer",
            "QA Engineer",
            "Security Engineer",
        ),
        30,
    ),
    Department(
        "Sales",
        "VP of Sales",
        "Sales Manager",
        (
            "Account Executive",
            "Senior Account Executive",
            "Sales Development Representative",
            "Solutions Engineer",
        ),
        18,
    ),
    Department(
        "Customer Support",
        "Director of Customer Support",
        "Support Team Lead",
        ("Support Engineer", "Customer Success Manager", "Technical Support Specialist"),
        14,
    ),
    Department(
        "Product Management",
        "VP of Product",
        "Group Product Manager",
        ("Product Manager", "Senior Product Manager", "Product Designer", "UX Researcher"),
        8,
    ),
    Department(
        "Marketing",
        "VP of Marketing",
        "Marketing Manager",
        ("Content Strategist", "Product Marketing Manager", "Growth Marketer", "Brand Designer"),
        8,
    ),
    Department(
        "Finance",
        "Chief Financial Officer",
        "Finance Manager",
        ("Financial Analyst", "Accountant", "Payroll Specialist"),
        6,
    ),
    Department(
        "Human Resources",
        "VP of People",
        "HR Manager",
        ("HR Business Partner", "Recruiter", "Talent Acquisition Specialist"),
        5,
    ),
    Department(
        "Operations",
        "VP of Operations",
        "Operations Manager",
        ("Operations Analyst", "Facilities Coordinator", "Procurement Specialist"),
        5,
    ),
    Department(
        "IT",
        "Director of IT",
        "IT Manager",
        ("Systems Administrator", "IT Support Specialist", "Network Engineer"),
        4,
    ),
    Department("Legal", "General Counsel", "Legal Operations Manager", ("Corporate Counsel", "Paralegal"), 2),
)


@dataclass(frozen=True)
class Office:
    name: str
    city: str
    state: str | None
    country: str
    usage_location: str
    phone_prefix: str
    language: str


OFFICES = (
    Office("Seattle HQ", "Seattle", "WA", "United States", "US", "+1 206 555 01", "en-US"),
    Office("New York", "New York", "NY", "United States", "US", "+1 212 555 01", "en-US"),
    Office("London", "London", None, "United Kingdom", "GB", "+44 20 7946 09", "en-GB"),
    Office("Berlin", "Berlin", "BE", "Germany", "DE", "+49 30 5550 01", "de-DE"),
    Office("Bengaluru", "Bengaluru", "KA", "India", "IN", "+91 80 5550 01", "en-IN"),
    Office("Toronto", "Toronto", "ON", "Canada", "CA", "+1 416 555 01", "en-CA"),
)

TEAM_SIZE = 7  # reports per team lead, roughly


@dataclass(frozen=True)
class SampleUser:
    """One person; `manager` is the index of their manager in `SampleDirectory.users`."""

    index: int
    given_name: str
    surname: str
    user_principal_name: str
    job_title: str
    department: str
    office: Office
    employee_id: str
    employee_type: str
    business_phone: str
    manager: int | None

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.surname}"

    @property
    def mail_nickname(self) -> str:
        return self.user_principal_name.split("@", 1)[0]

    def graph_body(self) -> dict[str, Any]:
        """The body of `POST /users` that creates this person."""
        body: dict[str, Any] = {
            "accountEnabled": True,
            "displayName": self.display_name,
            "givenName": self.given_name,
            "surname": self.surname,
            "userPrincipalName": self.user_principal_name,
            "mailNickname": self.mail_nickname,
            "mail": self.user_principal_name,
            "jobTitle": self.job_title,
            "department": self.department,
            "companyName": DEMO_COMPANY,
            "employeeId": self.employee_id,
            "employeeType": self.employee_type,
            "officeLocation": self.office.name,
            "city": self.office.city,
            "country": self.office.country,
            "usageLocation": self.office.usage_location,
            "preferredLanguage": self.office.language,
            "businessPhones": [self.business_phone],
            "passwordProfile": {"password": secrets.token_urlsafe(12), "forceChangePasswordNextSignIn": True},
        }
        if self.office.state:
            body["state"] = self.office.state
        return body


MAX_BINDS_PER_REQUEST = 20  # members@odata.bind on a group create, as Graph allows


@dataclass(frozen=True)
class SampleGroup:
    display_name: str
    mail_nickname: str
    description: str
    members: tuple[int, ...]
    assigned: bool

    def graph_body(self, member_ids: list[str]) -> dict[str, Any]:
        """The create request with the first members; Graph binds at most 20 in one request, so
        the rest are added one by one (`seed_directory`)."""
        return {
            "displayName": self.display_name,
            "description": self.description,
            "mailNickname": self.mail_nickname,
            "mailEnabled": False,
            "securityEnabled": True,
            "members@odata.bind": [
                f"https://graph.microsoft.com/v1.0/directoryObjects/{member}"
                for member in member_ids[:MAX_BINDS_PER_REQUEST]
            ],
        }


@dataclass(frozen=True)
class SampleDirectory:
    users: tuple[SampleUser, ...]
    groups: tuple[SampleGroup, ...]
    assigned_users: tuple[int, ...]
    domain: str = DEMO_DOMAIN

    def in_scope(self) -> set[int]:
        """Users the app provisions: assigned directly or members of an assigned group."""
        scope = set(self.assigned_users)
        for group in self.groups:
            if group.assigned:
                scope.update(group.members)
        return scope

    def reports(self, index: int) -> list[int]:
        return [u.index for u in self.users if u.manager == index]

    def example_user(self) -> int:
        """An in-scope person who manages nobody (the first such), to show a change with."""
        managers = {u.manager for u in self.users}
        scope = sorted(self.in_scope())
        return next((i for i in scope if i not in managers), scope[0])


def generate_directory(users: int, *, seed: int = DEMO_SEED, domain: str = DEMO_DOMAIN) -> SampleDirectory:
    """A company of `users` people, the same for the same arguments.

    A CEO; a head per department reporting to the CEO; team leads reporting to their head and
    everyone else to a team lead (or to the head in a small department). Managers always come
    before their reports, so the chain ends at the CEO. Assigned to the app: about half the
    department groups, the Managers group (so every in-scope person's manager is in scope too),
    and a few people directly.
    """
    if users < 1:
        raise ValueError("the sample directory needs at least one user")
    rng = random.Random(seed)
    departments = list(DEPARTMENTS[: min(len(DEPARTMENTS), users - 1, max(3, users // 20))])
    sizes = _apportion(users - 1, [d.weight for d in departments])

    upns: set[str] = set()
    people: list[SampleUser] = []

    def person(title: str, department: str, manager: int | None, contractor: bool = False) -> int:
        given, surname = rng.choice(GIVEN_NAMES), rng.choice(SURNAMES)
        local = f"{given}.{surname}".lower().replace(" ", "")
        upn, n = f"{local}@{domain}", 1
        while upn in upns:
            n += 1
            upn = f"{local}{n}@{domain}"
        upns.add(upn)
        index = len(people)
        office = OFFICES[0] if manager is None else rng.choice(OFFICES)
        people.append(
            SampleUser(
                index=index,
                given_name=given,
                surname=surname,
                user_principal_name=upn,
                job_title=title,
                department=department,
                office=office,
                employee_id=f"{'C' if contractor else 'E'}{10001 + index}",
                employee_type="Contractor" if contractor else "Employee",
                business_phone=f"{office.phone_prefix}{index % 100:02d}",
                manager=manager,
            )
        )
        return index

    ceo = person("Chief Executive Officer", "Executive", None)
    heads = [person(d.head_title, d.name, ceo) for d in departments]
    staff: dict[str, list[int]] = {d.name: [heads[i]] for i, d in enumerate(departments)}
    # Team leads first, across departments, then their teams: every manager precedes their reports.
    plans: list[tuple[Department, int, int]] = []  # (department, its head, size below the head)
    for i, department in enumerate(departments):
        below = sizes[i] - 1
        team_leads = 0 if below <= TEAM_SIZE else math.ceil(below / (TEAM_SIZE + 1))
        plans.append((department, heads[i], below))
        for _ in range(team_leads):
            staff[department.name].append(person(department.lead_title, department.name, heads[i]))
    for department, head, below in plans:
        leads = staff[department.name][1:]
        for k in range(below - len(leads)):
            manager = leads[k % len(leads)] if leads else head
            title = rng.choice(department.titles)
            staff[department.name].append(
                person(title, department.name, manager, contractor=rng.random() < 0.07)
            )

    managers = sorted({u.manager for u in people if u.manager is not None} | {ceo})
    assigned_departments = {d.name for d in departments[: max(1, (len(departments) + 1) // 2)]}
    groups = [
        SampleGroup(
            d.name,
            d.name.lower().replace(" ", "-"),
            f"Everyone in {d.name}",
            tuple(staff[d.name]),
            d.name in assigned_departments,
        )
        for d in departments
    ]
    groups.append(SampleGroup("Managers", "managers", "People managers", tuple(managers), True))
    phoenix = sorted(rng.sample(range(users), max(2, users // 12))) if users >= 2 else [0]
    groups.append(
        SampleGroup("Project Phoenix", "project-phoenix", "Cross-team launch project", tuple(phoenix), False)
    )
    contractors = tuple(u.index for u in people if u.employee_type == "Contractor")
    if contractors:
        groups.append(SampleGroup("Contractors", "contractors", "External contractors", contractors, False))

    in_groups = {i for g in groups if g.assigned for i in g.members}
    outside = [u.index for u in people if u.index not in in_groups]
    direct = sorted(rng.sample(outside, min(3, len(outside)))) if outside else [people[-1].index]
    return SampleDirectory(tuple(people), tuple(groups), tuple(direct), domain)


def _apportion(total: int, weights: list[int]) -> list[int]:
    """Split `total` by weights (largest remainders), each part at least 1 when total allows."""
    if not weights:
        return []
    whole = sum(weights)
    shares = [total * w / whole for w in weights]
    parts = [max(1, int(s)) for s in shares]
    order = sorted(range(len(weights)), key=lambda i: shares[i] - int(shares[i]), reverse=True)
    i = 0
    while sum(parts) < total:
        parts[order[i % len(order)]] += 1
        i += 1
    while sum(parts) > total:
        j = max(range(len(parts)), key=lambda k: parts[k])
        parts[j] -= 1
    return parts


# ---------------------------------------------------------------------------------------------
# Running the demo


class Interrupted(Exception):
    """Ctrl-C (or SIGTERM) while setting up."""


class DemoError(Exception):
    """The demo cannot run as asked; the message says why."""


@dataclass
class DemoOptions:
    host: str = "127.0.0.1"
    port: int = 7493
    scim_port: int = 0
    data_dir: Path | None = None
    users: int = 300
    log_level: str = "warning"


@dataclass
class DemoState:
    sp_id: str = ""
    job_id: str = ""
    in_scope: int = 0
    sample_upn: str = ""
    summary: list[str] = field(default_factory=list)


class _Stop:
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


def run_demo(options: DemoOptions, out: TextIO | None = None) -> int:
    """Run until Ctrl-C or SIGTERM; returns the exit code."""
    import sys

    stream = out or sys.stdout

    def say(text: str = "") -> None:
        stream.write(text + "\n")
        stream.flush()

    logging.basicConfig(
        level=options.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    stop = _Stop()
    temporary = options.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="provisiond-demo-")) if temporary else options.data_dir
    assert data_dir is not None
    cleanups: list[Callable[[], None]] = []
    try:
        with stop.installed():
            return _run(options, data_dir, temporary, stop, say, stream, cleanups)
    except Interrupted:
        say("\nInterrupted; stopping.")
        return 0
    except DemoError as exc:
        say(str(exc))
        return 1
    finally:
        for cleanup in reversed(cleanups):
            try:
                cleanup()
            except Exception:  # pragma: no cover - best effort on the way out
                log.exception("while stopping the demo")
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)


def _run(
    options: DemoOptions,
    data_dir: Path,
    temporary: bool,
    stop: _Stop,
    say: Callable[[str], None],
    stream: TextIO,
    cleanups: list[Callable[[], None]],
) -> int:
    import uvicorn

    from provisiond.api.app import build_scheduler, create_app
    from provisiond.api.context import Services
    from provisiond.cli import _redacted
    from provisiond.clock import SystemClock
    from provisiond.scim_target import serve_scim
    from provisiond.store.db import Database

    settings = Settings.from_env(data_dir=data_dir)
    say("provisiond demo")
    say(f"  data dir:   {data_dir}" + ("  (temporary, removed on exit)" if temporary else ""))
    say(f"  database:   {_redacted(settings.resolved_database_url)}")

    scim_token = "scim-" + secrets.token_urlsafe(24)
    try:
        scim = serve_scim(scim_token, host="127.0.0.1", port=options.scim_port)
    except OSError as exc:
        say(f"Cannot serve the SCIM app on 127.0.0.1:{options.scim_port}: {exc}")
        return 1
    cleanups.append(scim.stop)
    say(f"  SCIM app:   {scim.url}  (scim2-server, Entra-tolerant PATCH, bearer token)")

    db = Database(settings.resolved_database_url)
    cleanups.append(db.dispose)
    db.migrate()
    clock = SystemClock()
    application = create_app(settings, db, clock, scheduler=build_scheduler(settings, db, clock))
    services: Services = application.state.services
    server = uvicorn.Server(
        uvicorn.Config(
            application, host=options.host, port=options.port, log_level=options.log_level, lifespan="on"
        )
    )
    thread = threading.Thread(target=server.run, name="provisiond-api", daemon=True)
    thread.start()

    def stop_server() -> None:
        server.should_exit = True
        thread.join(timeout=60)

    cleanups.append(stop_server)
    while not server.started:
        if not thread.is_alive():
            say(f"Cannot serve the Graph API on {options.host}:{options.port} (is the port in use?)")
            return 1
        stop.check()
        time.sleep(0.02)
    shown_host = options.host if options.host not in ("0.0.0.0", "::") else "127.0.0.1"
    base = f"http://{shown_host}:{options.port}"
    say(f"  Graph API:  {base}/v1.0  (and {base}/beta)")
    say("")

    state = _set_up(services, options.users, scim.url, scim_token, stop, say)
    outcome = _watch_initial_cycle(db, services, state, stop, say, stream)
    for line in outcome:
        say(line)
    target_users, target_groups = _target_counts(scim.url, scim_token)
    say(f"The SCIM app now holds {target_users} users and {target_groups} groups.")
    say("")

    from provisiond.api.auth import mint_token
    from provisiond.cli import ADMIN_SCOPES, APPLICATION_ADMINISTRATOR

    token = mint_token(
        settings,
        scopes=ADMIN_SCOPES.split(),
        wids=[APPLICATION_ADMINISTRATOR],
        tenant_id=services.tenant_id,  # the database's, even one made before PROVISIOND_TENANT_ID
        expires_in=TOKEN_LIFETIME,
    )
    data_flag = f" --data-dir {shlex.quote(str(data_dir))}"
    for line in _instructions(base, scim.url, scim_token, token, state, data_dir, data_flag):
        say(line)
    while not stop.event.wait(1.0):
        pass
    say("\nStopping provisiond demo...")
    return 0


def _set_up(
    services: Any, users: int, scim_url: str, scim_token: str, stop: _Stop, say: Callable[[str], None]
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

    if services.directory.count_users(None):
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
                page = services.directory.list_members(assignment["principal_id"], after, 500)
                users.update(m["id"] for m in page.records if m["kind"] == "user")
                if page.next_after is None:
                    break
                after = page.next_after
    return len(users)


def _any_assigned_upn(services: Any, sp_id: str) -> str:
    for assignment in _assigned_principals(services, sp_id):
        if assignment["principal_type"] == "User":
            return str(services.directory.get_user(assignment["principal_id"])["user_principal_name"])
    return f"someone@{DEMO_DOMAIN}"


# Progress of the initial cycle


@dataclass
class Progress:
    processed: int = 0
    total: int = 0
    created: int = 0
    errors: int = 0
    running: bool = False

    def line(self) -> str:
        total = f"/{self.total}" if self.total else ""
        return f"  {self.processed}{total} objects processed, {self.created} created, {self.errors} errors"


def _progress(db: Any, job_id: str, since: datetime, previous: str | None) -> tuple[Progress, dict[str, Any]]:
    """The cycle's progress from the job status, and its creates and errors from the logs since
    `since`; once a cycle that ended after `previous` is recorded, its count of objects."""
    from sqlalchemy import func, select

    from provisiond.store import engine_state
    from provisiond.store.tables import provisioning_logs as logs

    with db.read() as conn:
        job = engine_state.get_job(conn, job_id)
        counts = conn.execute(
            select(logs.c.action, logs.c.status, func.count())
            .where(logs.c.job_id == job_id, logs.c.activity_date_time >= since)
            .group_by(logs.c.action, logs.c.status)
        ).all()
    assert job is not None
    status = job["status"] or {}
    progress = Progress(running=job["lease_owner"] is not None)
    if status.get("progress"):
        progress.processed = int(status["progress"][0].get("completedUnits") or 0)
        progress.total = int(status["progress"][0].get("totalUnits") or 0)
    elif (status.get("lastExecution") or {}).get("timeEnded") not in (None, previous):
        # At the end of the cycle the progress is cleared: the last execution has the count.
        progress.processed = progress.total = int(status["lastExecution"].get("countImported") or 0)
    for action, outcome, count in counts:
        if action == "create" and outcome == "success":
            progress.created += count
        if outcome == "failure":
            progress.errors += count
    return progress, job


def _watch_initial_cycle(
    db: Any, services: Any, state: DemoState, stop: _Stop, say: Callable[[str], None], stream: TextIO
) -> list[str]:
    """Show the cycle's progress until it ends; returns lines describing its outcome."""
    from provisiond.store import engine_state

    with db.read() as conn:
        job = engine_state.get_job(conn, state.job_id)
    assert job is not None
    previous = (job["status"].get("lastExecution") or {}).get("timeEnded")
    since = services.synchronization.clock.now()
    began = time.monotonic()
    say("Initial cycle:")

    def finished(row: dict[str, Any]) -> bool:
        last = row["status"].get("lastExecution") or {}
        return bool(last.get("timeEnded")) and last["timeEnded"] != previous and row["lease_owner"] is None

    display = _RichProgress(stream) if stream.isatty() else None
    last_line, last_print = "", 0.0
    with display or contextlib.nullcontext():
        while True:
            stop.check()
            progress, row = _progress(db, state.job_id, since, previous)
            done = finished(row)
            if display is not None:
                display.update(progress)
            else:
                line = progress.line()
                now = time.monotonic()
                if line != last_line and (done or now - last_print >= 1.0):
                    say(line)
                    last_line, last_print = line, now
            if done:
                break
            stop.event.wait(0.25)
    if display is None and last_line != progress.line():
        say(progress.line())
    last = row["status"]["lastExecution"]
    counts = ", ".join(
        f"{c['value']} {c['key']}s" for c in row["status"].get("synchronizedEntryCountByType") or []
    )
    lines = [
        f"Initial cycle {last['state']} in {time.monotonic() - began:.1f} s "
        f"(status.lastExecution: countImported {last['countImported']}, countEntitled {last['countEntitled']}, "
        f"countExported {last['countExported']}, countEscrowed {last['countEscrowed']}).",
        f"Job status: {row['status'].get('code')}; synchronized: {counts or 'nothing'}; users in scope: {state.in_scope}.",
    ]
    if last.get("error"):
        lines.append(f"Error: {last['error'].get('code')}: {last['error'].get('message')}")
    return lines


class _RichProgress:
    """A live progress bar when the output is a terminal."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("  objects"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[created]} created, {task.fields[errors]} errors"),
            TimeElapsedColumn(),
            console=Console(file=stream),
        )
        self.task = self.progress.add_task("cycle", total=None, created=0, errors=0)

    def __enter__(self) -> _RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, progress: Progress) -> None:
        self.progress.update(
            self.task,
            completed=progress.processed,
            total=progress.total or None,
            created=progress.created,
            errors=progress.errors,
        )


def _target_counts(scim_url: str, scim_token: str) -> tuple[int, int]:
    import httpx2

    headers = {"Authorization": f"Bearer {scim_token}"}
    with httpx2.Client(base_url=scim_url, headers=headers, timeout=30) as client:
        counts = []
        for resource in ("Users", "Groups"):
            body = client.get(f"/{resource}", params={"count": "1"}).json()
            counts.append(int(body.get("totalResults") or 0))
    return counts[0], counts[1]


# What to try next


def _instructions(
    base: str,
    scim_url: str,
    scim_token: str,
    token: str,
    state: DemoState,
    data_dir: Path,
    data_flag: str,
) -> list[str]:
    v1 = f"{base}/v1.0"
    job_url = f"{v1}/servicePrincipals/{state.sp_id}/synchronization/jobs/{state.job_id}"
    auth = f'-H "Authorization: Bearer {token}"'
    json_type = '-H "Content-Type: application/json"'
    restart_body = '{"criteria":{"resetScope":"' + RESET_SCOPE + '"}}'
    upn = state.sample_upn
    return [
        "provisiond demo is serving; the job keeps provisioning changes as you make them.",
        "",
        f"  Graph API:          {v1}",
        f"  service principal:  {state.sp_id}",
        f"  job:                {job_url}",
        f"  SCIM app:           {scim_url}",
        f"  SCIM bearer token:  {scim_token}",
        f"  token:              {token}",
        f"  (an Application Administrator token, valid {TOKEN_LIFETIME // 3600} h; "
        f"another one: provisiond token{data_flag})",
        "",
        "Look at the job (status, lastExecution, counts):",
        f"  curl -s {auth} {job_url}",
        "",
        "The same with msgraph-sdk (pip install msgraph-sdk):",
        *("  " + line for line in _sdk_snippet(v1, token, state).splitlines()),
        "",
        f"Change a user ({upn}); the job picks the change up within seconds:",
        f"  curl -s -X PATCH {auth} {json_type} {v1}/users/{upn} "
        """-d '{"jobTitle":"Principal Engineer","officeLocation":"Remote"}'""",
        "and see it in the SCIM app:",
        f'  curl -s -G -H "Authorization: Bearer {scim_token}" {scim_url}/Users '
        f"--data-urlencode 'filter=userName eq \"{upn}\"'",
        "",
        "Read the provisioning logs (newest first):",
        f"  curl -s {auth} '{v1}/auditLogs/provisioning?$top=5'",
        "",
        "Restart the job with a resetScope:",
        f"  curl -s -X POST {auth} {json_type} {job_url}/restart -d '{restart_body}'",
        "",
        f"Data dir: {data_dir}. Ctrl-C stops the demo.",
    ]


def _sdk_snippet(v1: str, token: str, state: DemoState) -> str:
    return f"""\
import asyncio
from kiota_abstractions.authentication import (
    AccessTokenProvider, AllowedHostsValidator, BaseBearerTokenAuthenticationProvider)
from msgraph import GraphRequestAdapter, GraphServiceClient

class Token(AccessTokenProvider):
    async def get_authorization_token(self, uri, additional_authentication_context=None):
        return "{token}"
    def get_allowed_hosts_validator(self):
        return AllowedHostsValidator([])

adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(Token()))
adapter.base_url = "{v1}"
graph = GraphServiceClient(request_adapter=adapter)

async def main():
    sp = graph.service_principals.by_service_principal_id("{state.sp_id}")
    job = await sp.synchronization.jobs.by_synchronization_job_id("{state.job_id}").get()
    last = job.status.last_execution
    print(job.status.code.value, last.state.value, last.count_exported, "exported")

asyncio.run(main())"""
