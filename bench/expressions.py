"""Expression evaluation cost per object for the default SCIM user mapping.

    .venv/bin/python bench/expressions.py                  # 50,000 synthetic users, best of 5 rounds
    .venv/bin/python bench/expressions.py --users 200000 --rounds 3

The `scim` template's user object mapping ("Provision Azure Active Directory Users") is compiled
once, as a cycle does (`flows.compile_schema_once`); then every attribute mapping of it is
evaluated for N synthetic users (`CompiledObjectMapping.values(..., creating=True)`, exactly the
call the engine makes per object when it plans a create). The users are directory rows shaped by
the source connector (`connectors.directory.user_source`) plus the attributes the engine computes
(IsSoftDeleted, appRoleAssignments), built before the clock starts. Pure CPU in this process: no
database, no HTTP.
Measured: µs per object and objects/s (best and median round), the one-off compile time (what
compiling per object would add to every object), and µs per object of each attribute mapping.
Results: printed, and written to bench/results/expressions.json. Asserts nothing on time.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from common import _user_row, command_line, environment, report

from provisiond.connectors.directory import user_source
from provisiond.mapping import expressions
from provisiond.mapping.flows import CompiledObjectMapping, compile_object_mapping, compile_schema_once
from provisiond.services import templates


def synthetic_users(count: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    users = []
    for index in range(count):
        source = user_source(_user_row(index, str(uuid.UUID(int=index)), now))
        source["IsSoftDeleted"] = index % 50 == 0
        source["appRoleAssignments"] = [{"appRoleId": "00000000-0000-0000-0000-000000000000"}]
        users.append(source)
    return users


def timed_round(mapping: CompiledObjectMapping, users: list[dict[str, Any]], context: Any) -> float:
    start = time.perf_counter()
    for user in users:
        mapping.values(user, context, creating=True)
    return time.perf_counter() - start


def per_attribute(
    mapping: CompiledObjectMapping, users: list[dict[str, Any]], context: Any
) -> dict[str, float]:
    """µs per object of each attribute mapping's expression on its own."""
    out: dict[str, float] = {}
    for flow in mapping.attributes:
        if flow.expression is None:
            continue
        start = time.perf_counter()
        for user in users:
            flow.expression.evaluate(user, context)
        out[f"{flow.target} <- {flow.expression.text}"] = (time.perf_counter() - start) / len(users) * 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    schema = templates.template_schema(templates.SCIM_TEMPLATE_ID)
    raw_mapping = next(
        m for m in schema["synchronizationRules"][0]["objectMappings"] if m["sourceObjectName"] == "User"
    )
    start = time.perf_counter()
    compiled = compile_schema_once(schema)
    compile_ms = (time.perf_counter() - start) * 1e3
    mapping = compiled.users
    assert mapping is not None
    # Compiling one object mapping again (uncached): what compiling per object would cost each object.
    start = time.perf_counter()
    compile_object_mapping(raw_mapping)
    recompile_us = (time.perf_counter() - start) * 1e6

    users = synthetic_users(args.users)
    context = expressions.EvaluationContext()
    sample = mapping.values(users[1], context, creating=True)
    timed_round(mapping, users[: min(1000, len(users))], context)  # warm up
    rounds = [timed_round(mapping, users, context) for _ in range(args.rounds)]
    best, median = min(rounds), statistics.median(rounds)

    report(
        "expressions",
        command_line(),
        {
            "environment": {k: v for k, v in environment(None).items() if k != "database"},
            "mapping": {
                "object_mapping": mapping.name,
                "attribute_mappings_evaluated": len(mapping.attributes),
                "expressions": sum(1 for flow in mapping.attributes if flow.expression is not None),
                "reference_attributes_resolved_by_the_engine": sorted(mapping.references),
                "target_attributes_of_a_sample_user": len(sample),
            },
            "users": args.users,
            "rounds": args.rounds,
            "compile_schema_ms_once": compile_ms,
            "compile_user_mapping_us_if_done_per_object": recompile_us,
            "evaluation": {
                "us_per_object_best": best / args.users * 1e6,
                "us_per_object_median": median / args.users * 1e6,
                "objects_per_second_best": args.users / best,
                "objects_per_second_median": args.users / median,
            },
            "us_per_object_by_attribute_mapping": per_attribute(mapping, users, context),
        },
    )


if __name__ == "__main__":
    main()
