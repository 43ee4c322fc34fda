"""The schema's functions, filterOperators and parseExpression through the official msgraph SDKs
(v1.0: msgraph-sdk, beta: msgraph-beta-sdk), on a job schema, a service principal's template
schema and an application's template schema."""

from __future__ import annotations

from typing import Any

import pytest
from tests.conftest import LiveServer
from tests.e2e.sdk import FLAVOURS, Sdk, create_job, instantiate_scim_app

from provisiond.mapping.functions import FUNCTION_SIGNATURES
from provisiond.mapping.scoping import FILTER_OPERATORS


async def _schema_builders(sdk: Sdk, client: Any) -> dict[str, Any]:
    """The three parents' schema request builders, for a new custom SCIM app with a scim job."""
    created = await instantiate_scim_app(sdk, client, "Contoso SCIM")
    sp = client.service_principals.by_service_principal_id(created.service_principal.id)
    job = await create_job(sdk, sp)
    app = client.applications.by_application_id(created.application.id)
    return {
        "job": sp.synchronization.jobs.by_synchronization_job_id(job.id).schema,
        "sp-template": sp.synchronization.templates.by_synchronization_template_id("scim").schema,
        "app-template": app.synchronization.templates.by_synchronization_template_id("scim").schema,
    }


def _parse_body(sdk: Sdk, parent: str, expression: str, properties: dict[str, Any] | None) -> Any:
    module = {
        "job": "service_principals.item.synchronization.jobs.item.schema",
        "sp-template": "service_principals.item.synchronization.templates.item.schema",
        "app-template": "applications.item.synchronization.templates.item.schema",
    }[parent]
    Body = sdk.module(
        f"{module}.parse_expression.parse_expression_post_request_body"
    ).ParseExpressionPostRequestBody
    if properties is None:
        return Body(expression=expression)
    Pair = sdk.model("StringKeyObjectValuePair", "string_key_object_value_pair")
    InputObject = sdk.model("ExpressionInputObject", "expression_input_object")
    pairs = [Pair(key=key, additional_data={"value": value}) for key, value in properties.items()]
    return Body(expression=expression, test_input_object=InputObject(properties=pairs))


@pytest.mark.parametrize("version", ["v1.0", "beta"])
async def test_schema_functions_filter_operators_and_parse_expression_through_the_sdk(
    version: str, sqlite_server: LiveServer
) -> None:
    sdk = FLAVOURS[version]
    client = sdk.client(sqlite_server, version)
    builders = await _schema_builders(sdk, client)

    for parent, schema in builders.items():
        functions = await schema.functions.get()
        by_id = {function.id: function for function in functions.value}
        assert sorted(by_id) == sorted(FUNCTION_SIGNATURES), parent
        append = by_id["Append"]
        assert [(p.name, p.required, p.allow_multiple_occurrences) for p in append.parameters] == [
            ("source", True, False),
            ("suffix", True, False),
        ]
        assert {p.type.value for p in by_id["DateDiff"].parameters} == {"String", "DateTime"}

        operators = await schema.filter_operators.get()
        by_id = {operator.id: operator for operator in operators.value}
        assert set(by_id) == set(FILTER_OPERATORS), parent
        assert by_id["IS NULL"].arity.value == "Unary"
        assert by_id["EQUALS"].multivalued_comparison_type.value == "All"
        assert {kind.value for kind in by_id["EQUALS"].supported_attribute_types} == {"String", "Integer"}

        answer = await schema.parse_expression.post(
            _parse_body(
                sdk,
                parent,
                'Replace([preferredLanguage], "-", , , "_", ,  )',
                {"preferredLanguage": "EN-US", "IsSoftDeleted": "false"},
            )
        )
        assert answer.parsing_succeeded and answer.evaluation_succeeded, parent
        assert answer.evaluation_result == ["EN_US"]
        assert answer.error is None
        parsed = answer.parsed_expression
        assert parsed.expression == 'Replace([preferredLanguage], "-", , , "_", , )'
        assert (parsed.name, parsed.type.value) == ("Replace", "Function")
        assert parsed.parameters[0].key == "source"
        assert (parsed.parameters[0].value.name, parsed.parameters[0].value.type.value) == (
            "preferredLanguage",
            "Attribute",
        )

    active = await builders["job"].parse_expression.post(
        _parse_body(
            sdk,
            "job",
            'Switch([IsSoftDeleted], , "False", "True", "True", "False")',
            {"IsSoftDeleted": "false"},
        )
    )
    assert active.evaluation_result == ["True"]

    broken = await builders["job"].parse_expression.post(
        _parse_body(sdk, "job", 'Join(" ", [givenName] [surname])', None)
    )
    assert broken.parsing_succeeded is False and broken.evaluation_succeeded is False
    assert broken.error.code == "ExpressionParsingFailed"
    assert "at position 22" in broken.error.message
