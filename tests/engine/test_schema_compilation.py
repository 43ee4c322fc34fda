"""Expressions compile once per schema version: not per object, and not again on later cycles."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from tests.conftest import LiveServer, ScimTarget
from tests.engine.helpers import provision

from provisiond.mapping import expressions, flows


def test_cycles_compile_each_schema_version_once(
    engine_server: LiveServer, scim_target: ScimTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    compile_expression = expressions.compile

    def counting(expr: expressions.Expr) -> expressions.CompiledExpression:
        calls.append(expressions.to_text(expr))
        return compile_expression(expr)

    schemas: list[int] = []
    compile_schema = flows.compile_schema

    def counting_schemas(schema: Any) -> flows.CompiledSchema:
        schemas.append(1)
        return compile_schema(schema)

    monkeypatch.setattr(expressions, "compile", counting)
    monkeypatch.setattr(flows, "compile_schema", counting_schemas)
    setup = provision(engine_server, scim_target, users=4, start=False)
    schema_url = f"{setup.job_url}/schema"
    schema = {k: v for k, v in setup.client.get(schema_url).json().items() if not k.startswith("@odata")}
    # A rule name no other test uses, so that no earlier test in this process compiled these rules.
    schema["synchronizationRules"][0]["name"] = f"compile-once-{uuid.uuid4().hex}"
    assert setup.client.put(schema_url, json=schema).status_code == 204
    calls.clear()  # the PUT's own validation compiles too; count the engine's compilations only

    mappings: list[dict[str, Any]] = schema["synchronizationRules"][0]["objectMappings"]
    attribute_mappings = sum(len(m["attributeMappings"]) for m in mappings)
    assert setup.client.post(f"{setup.job_url}/start").status_code == 204
    first = setup.wait_cycle(None)
    assert first["status"]["lastExecution"]["countExported"] >= 5  # 4 users and the group
    compiled = len(calls)
    assert 0 < compiled <= attribute_mappings  # once per mapping, not once per object
    assert len(schemas) == 1

    before = setup.ended()
    restart = {"criteria": {"resetScope": "Watermark"}}
    assert setup.client.post(f"{setup.job_url}/restart", json=restart).status_code == 204
    second = setup.wait_cycle(before)
    assert second["status"]["lastExecution"]["countImported"] == 5
    assert len(calls) == compiled  # the same schema version: nothing compiles again
    assert len(schemas) == 1

    # A new schema version compiles once more, on the next cycle (the PUT's own validation
    # compiles its object mappings too, so count whole-schema compilations here).
    users = next(m for m in mappings if m["sourceObjectName"] == "User")
    display_name = next(a for a in users["attributeMappings"] if a["targetAttributeName"] == "displayName")
    display_name["source"] = {"expression": 'Join(", ", [surname], [givenName])', "type": "Function"}
    before = setup.ended()
    assert setup.client.put(schema_url, json=schema).status_code == 204
    setup.wait_cycle(before)
    assert len(schemas) == 2
    assert setup.target_users()["user0@contoso.example"]["displayName"] == "Sur0, Given0"
