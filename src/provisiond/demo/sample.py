"""The sample directory: a deterministic, generated company (departments, job titles, offices,
a manager chain, groups) of any size, as Graph request bodies."""

from __future__ import annotations

import math
import random
import secrets
from dataclasses import dataclass
from typing import Any

DEMO_DOMAIN = "contoso.example"
DEMO_COMPANY = "Contoso"
DEMO_SEED = 7493


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
