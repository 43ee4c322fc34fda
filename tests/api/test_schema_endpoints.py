"""The schema's functions, filterOperators and parseExpression on the three parents (job schema,
service-principal template schema, application template schema), and the validation of every
expression and scoping filter on schema PUT (reference §1.2 S2, S6 to S8; §5.1)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from tests.api.helpers import assert_graph_error, make_app, make_job, store_snapshot
from tests.conftest import LiveServer

from provisiond.mapping.functions import FUNCTION_SIGNATURES
from provisiond.mapping.scoping import FILTER_OPERATORS

USERS_MAPPING = "Provision Azure Active Directory Users"
ACTIVE_FROM_SOFT_DELETE = 'Switch([IsSoftDeleted], , "False", "True", "True", "False")'


@dataclass
class Setup:
    sp_id: str
    app_object_id: str
    job_id: str

    @property
    def parents(self) -> dict[str, str]:
        sync = f"/servicePrincipals/{self.sp_id}/synchronization"
        return {
            "job": f"{sync}/jobs/{self.job_id}/schema",
            "sp-template": f"{sync}/templates/scim/schema",
            "app-template": f"/applications/{self.app_object_id}/synchronization/templates/scim/schema",
        }


def setup(server: LiveServer) -> Setup:
    with server.client() as client:
        created = make_app(client)
        sp_id = created["servicePrincipal"]["id"]
        return Setup(sp_id, created["application"]["id"], make_job(client, sp_id)["id"])


@pytest.fixture
def lite(sqlite_server: LiveServer) -> Setup:
    return setup(sqlite_server)


PARENTS = ["job", "sp-template", "app-template"]
VERSIONS = ["v1.0", "beta"]


def parse(client: httpx.Client, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"{url}/parseExpression", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


# --- functions --------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("parent", PARENTS)
def test_functions_lists_every_function_with_its_parameters(
    sqlite_server: LiveServer, lite: Setup, parent: str, version: str
) -> None:
    with sqlite_server.client(version=version) as client:
        response = client.get(f"{lite.parents[parent]}/functions")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["@odata.context"].endswith(f"/{version}/$metadata#functions")
    by_name = {function["name"]: function for function in body["value"]}
    assert sorted(by_name) == sorted(FUNCTION_SIGNATURES)
    # The documented sample (§1.2 S7).
    assert by_name["Append"]["parameters"] == [
        {"allowMultipleOccurrences": False, "name": "source", "required": True, "type": "String"},
        {"allowMultipleOccurrences": False, "name": "suffix", "required": True, "type": "String"},
    ]
    assert by_name["DefaultDomain"]["parameters"] == []
    switch = {p["name"]: p for p in by_name["Switch"]["parameters"]}
    assert switch["defaultValue"]["required"] is False
    assert switch["key"]["allowMultipleOccurrences"] and switch["value"]["allowMultipleOccurrences"]
    assert {p["type"] for p in by_name["DateAdd"]["parameters"]} == {"String", "Integer", "DateTime"}
    assert all(function["id"] == function["name"] for function in body["value"])


# --- filterOperators --------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("parent", PARENTS)
@pytest.mark.parametrize("suffix", ["filterOperators", "filterOperators()"])
def test_filter_operators_lists_every_scoping_operator(
    sqlite_server: LiveServer, lite: Setup, parent: str, version: str, suffix: str
) -> None:
    with sqlite_server.client(version=version) as client:
        response = client.get(f"{lite.parents[parent]}/{suffix}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["@odata.context"].endswith("$metadata#filterOperators")
    by_name = {operator["name"]: operator for operator in body["value"]}
    assert set(by_name) == set(FILTER_OPERATORS)  # the reference's operators (tests/mapping/test_scoping.py)
    equals = by_name["EQUALS"]  # the documented sample (§1.2 S6)
    assert (equals["arity"], equals["multivaluedComparisonType"]) == ("Binary", "All")
    assert set(equals["supportedAttributeTypes"]) == {"String", "Integer"}
    assert {name for name, op in by_name.items() if op["arity"] == "Unary"} == {
        "IS FALSE",
        "IS NOT NULL",
        "IS NULL",
        "IS TRUE",
    }
    assert by_name["Greater_Than"]["supportedAttributeTypes"] == ["Integer"]


# --- parseExpression --------------------------------------------------------------------------

# The documented request (§1.2 S8), made valid JSON: the doc's sample has unquoted keys.
DOCUMENTED_PROPERTIES = {
    "objectId": "66E4A8CC-1B7B-435E-95F8-F06CEA133828",
    "IsSoftDeleted": "false",
    "accountEnabled": "true",
    "streetAddress": "1 Redmond Way",
    "city": "Redmond",
    "state": "WA",
    "postalCode": "98052",
    "country": "USA",
    "department": "Sales",
    "displayName": "John Smith",
    "givenName": "John",
    "jobTitle": "Finance manager",
    "mail": "johns@contoso.com",
    "mailNickname": "johns",
    "manager": "maxs@contoso.com",
    "mobile": "425-555-0010",
    "passwordProfile.password": "",
    "physicalDeliveryOfficeName": "Main Office",
    "preferredLanguage": "EN-US",
    "proxyAddresses": "",
    "surname": "Smith",
    "telephoneNumber": "425-555-0011",
    "userPrincipalName": "johns@contoso.com",
}


def documented_input(**overrides: Any) -> dict[str, Any]:
    properties = [{"key": key, "value": value} for key, value in (DOCUMENTED_PROPERTIES | overrides).items()]
    properties.append(
        {
            "key": "appRoleAssignments",
            "value@odata.type": "#Collection(String)",
            "value": ["Default Assignment"],
        }
    )
    return {"definition": None, "properties": properties}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("parent", PARENTS)
def test_parse_expression_answers_the_documented_example(
    sqlite_server: LiveServer, lite: Setup, parent: str, version: str
) -> None:
    body = {
        "expression": 'Replace([preferredLanguage], "-", , , "_", ,  )',
        "targetAttributeDefinition": None,
        "testInputObject": documented_input(),
    }
    with sqlite_server.client(version=version) as client:
        before = store_snapshot(sqlite_server.db)
        response = client.post(f"{lite.parents[parent]}/parseExpression", json=body)
        assert store_snapshot(sqlite_server.db) == before
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["@odata.context"].endswith("$metadata#microsoft.graph.parseExpressionResponse")
    assert answer["parsingSucceeded"] is True
    assert answer["evaluationSucceeded"] is True
    assert answer["evaluationResult"] == ["EN_US"]
    assert answer["error"] is None
    parsed = answer["parsedExpression"]
    # The canonical text is the documented response's `expression`.
    assert parsed["expression"] == 'Replace([preferredLanguage], "-", , , "_", , )'
    assert (parsed["name"], parsed["type"]) == ("Replace", "Function")
    # The doc names the given parameters Find and Replacement; the function schema (and so this
    # tree) names them oldValue and replacementValue, and keeps the empty ones as empty Constants.
    parameters = {p["key"]: p["value"] for p in parsed["parameters"]}
    assert parameters["source"] == {
        "expression": "[preferredLanguage]",
        "name": "preferredLanguage",
        "parameters": [],
        "type": "Attribute",
    }
    assert parameters["oldValue"] == {"expression": '"-"', "name": "-", "parameters": [], "type": "Constant"}
    assert parameters["replacementValue"]["name"] == "_"
    assert [p["key"] for p in parsed["parameters"]] == [
        "source",
        "oldValue",
        "regexPattern",
        "regexGroupName",
        "replacementValue",
        "replacementAttributeName",
        "template",
    ]


def test_parse_expression_without_test_input_only_parses(sqlite_server: LiveServer, lite: Setup) -> None:
    with sqlite_server.client() as client:
        answer = parse(client, lite.parents["job"], {"expression": 'Join(" ", [givenName], [surname])'})
    assert answer["parsingSucceeded"] is True
    assert answer["evaluationSucceeded"] is False
    assert answer["evaluationResult"] == []
    assert answer["error"] is None
    assert [p["key"] for p in answer["parsedExpression"]["parameters"]] == ["separator", "source", "source"]


def test_parse_expression_types_test_input_by_the_schema_when_no_definition_is_given(
    sqlite_server: LiveServer, lite: Setup
) -> None:
    """IsSoftDeleted is Boolean in the schema's User definition, so "false" is False as in a cycle."""
    with sqlite_server.client() as client:
        answer = parse(
            client,
            lite.parents["job"],
            {"expression": ACTIVE_FROM_SOFT_DELETE, "testInputObject": documented_input()},
        )
        assert answer["evaluationResult"] == ["True"]
        deleted = parse(
            client,
            lite.parents["job"],
            {
                "expression": ACTIVE_FROM_SOFT_DELETE,
                "testInputObject": documented_input(IsSoftDeleted="TRUE"),
            },
        )
        assert deleted["evaluationResult"] == ["False"]
        # A definition in the request wins: as a String attribute, "false" matches no key.
        as_string = documented_input()
        as_string["definition"] = {
            "name": "User",
            "attributes": [{"name": "IsSoftDeleted", "type": "String"}],
        }
        untyped = parse(
            client, lite.parents["job"], {"expression": ACTIVE_FROM_SOFT_DELETE, "testInputObject": as_string}
        )
        assert (untyped["evaluationSucceeded"], untyped["evaluationResult"]) == (True, [])


def test_parse_expression_gives_every_value_of_a_multi_valued_result(
    sqlite_server: LiveServer, lite: Setup
) -> None:
    with sqlite_server.client() as client:
        roles = parse(
            client,
            lite.parents["job"],
            {"expression": 'Join("|", [appRoleAssignments], [mail])', "testInputObject": documented_input()},
        )
        assert roles["evaluationResult"] == ["Default Assignment|johns@contoso.com"]
        split = parse(
            client,
            lite.parents["job"],
            {"expression": 'Split([mail], "@")', "testInputObject": documented_input()},
        )
        assert split["evaluationResult"] == ["johns", "contoso.com"]


def test_parse_expression_checks_the_result_against_the_target_attribute(
    sqlite_server: LiveServer, lite: Setup
) -> None:
    body: dict[str, Any] = {"expression": 'Split([mail], "@")', "testInputObject": documented_input()}
    with sqlite_server.client() as client:
        single = parse(
            client,
            lite.parents["job"],
            body | {"targetAttributeDefinition": {"name": "userName", "type": "String"}},
        )
        assert single["parsingSucceeded"] is True and single["evaluationSucceeded"] is False
        assert single["error"]["code"] == "ExpressionEvaluationFailed"
        assert "'userName' is single-valued" in single["error"]["message"]
        multi = parse(
            client,
            lite.parents["job"],
            body | {"targetAttributeDefinition": {"name": "emails", "type": "String", "multivalued": True}},
        )
        assert multi["evaluationSucceeded"] is True
        boolean = parse(
            client,
            lite.parents["job"],
            {
                "expression": "[department]",
                "testInputObject": documented_input(),
                "targetAttributeDefinition": {"name": "active", "type": "Boolean"},
            },
        )
        assert boolean["evaluationSucceeded"] is False
        assert (
            "'Sales' does not fit the target attribute 'active' of type Boolean"
            in boolean["error"]["message"]
        )


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('Join(" ", [givenName] [surname])', "Expected ')' or ',' at position 22, found '['"),
        ('Join(" ", [givenName]', "Expected ')' or ',' at position 21, found the end of the expression"),
        ('join(" ", [givenName])', "did you mean 'Join'?) at position 0"),
        ("Mid([displayName], 1)", "Mid expects 3 arguments (source, start, length), got 2 at position 0"),
        ('"unclosed', "Expected '\"' to close the string opened at position 0"),
    ],
)
def test_parse_expression_reports_a_syntax_error_with_its_position(
    sqlite_server: LiveServer, lite: Setup, expression: str, expected: str
) -> None:
    with sqlite_server.client() as client:
        answer = parse(
            client, lite.parents["job"], {"expression": expression, "testInputObject": documented_input()}
        )
    assert answer["parsingSucceeded"] is False
    assert answer["evaluationSucceeded"] is False
    assert answer["parsedExpression"] is None
    assert answer["evaluationResult"] == []
    assert answer["error"]["code"] == "ExpressionParsingFailed"
    assert answer["error"]["target"] == "expression"
    assert expected in answer["error"]["message"]


def test_parse_expression_reports_an_evaluation_error(sqlite_server: LiveServer, lite: Setup) -> None:
    with sqlite_server.client() as client:
        answer = parse(
            client,
            lite.parents["job"],
            {"expression": "Item([appRoleAssignments], 0)", "testInputObject": documented_input()},
        )
    assert answer["parsingSucceeded"] is True
    assert answer["parsedExpression"]["name"] == "Item"
    assert answer["evaluationSucceeded"] is False
    assert answer["error"]["code"] == "ExpressionEvaluationFailed"
    assert "1-based" in answer["error"]["message"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "Property 'expression' is required"),
        ({"expression": 5}, "'expression'"),
        ({"expression": ["[mail]"]}, "'expression'"),
        ({"expression": "[mail]", "testInputObject": "x"}, "'testInputObject'"),
        ({"expression": "[mail]", "testInputObject": {"properties": [{"value": "x"}]}}, "needs a key"),
        (
            {"expression": "[mail]", "targetAttributeDefinition": {"type": "Text"}},
            "targetAttributeDefinition",
        ),
        ({"expression": "[mail]", "surprise": True}, "Invalid property 'surprise'"),
        ({"expression": "[" + "a" * 9_999 + "]"}, "10001 characters long"),
    ],
)
def test_parse_expression_with_a_bad_body_is_400(
    sqlite_server: LiveServer, lite: Setup, body: dict[str, Any], fragment: str
) -> None:
    with sqlite_server.client() as client:
        error = assert_graph_error(client.post(f"{lite.parents['job']}/parseExpression", json=body), 400)
    assert fragment in error["message"]


def test_parse_expression_of_exactly_ten_thousand_characters_is_parsed(
    sqlite_server: LiveServer, lite: Setup
) -> None:
    with sqlite_server.client() as client:
        answer = parse(client, lite.parents["job"], {"expression": "[" + "a" * 9_998 + "]"})
    assert answer["parsingSucceeded"] is True


def test_parse_expression_with_malformed_json_or_another_media_type_is_refused(
    sqlite_server: LiveServer, lite: Setup
) -> None:
    url = f"{lite.parents['job']}/parseExpression"
    with sqlite_server.client() as client:
        headers = {"Content-Type": "application/json"}
        assert_graph_error(client.post(url, content="{nope", headers=headers), 400)
        assert_graph_error(client.post(url, content="", headers=headers), 400)
        assert_graph_error(client.post(url, content="[mail]", headers={"Content-Type": "text/plain"}), 415)


@pytest.mark.parametrize(
    ("method", "suffix"), [("GET", "functions"), ("GET", "filterOperators"), ("POST", "parseExpression")]
)
def test_schema_functions_of_an_unknown_job_or_template_are_404(
    sqlite_server: LiveServer, lite: Setup, method: str, suffix: str
) -> None:
    sync = f"/servicePrincipals/{lite.sp_id}/synchronization"
    with sqlite_server.client() as client:
        for url in (f"{sync}/jobs/scim.nope/schema", f"{sync}/templates/nope/schema"):
            response = client.request(method, f"{url}/{suffix}", json={"expression": "[mail]"})
            assert_graph_error(response, 404, "Request_ResourceNotFound")


@pytest.mark.parametrize(
    ("method", "suffix"), [("GET", "functions"), ("GET", "filterOperators"), ("POST", "parseExpression")]
)
@pytest.mark.parametrize("parent", PARENTS)
def test_schema_functions_need_synchronization_read_write(
    sqlite_server: LiveServer, lite: Setup, parent: str, method: str, suffix: str
) -> None:
    token = sqlite_server.token(
        scopes=["Synchronization.Read.All"], wids=["9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"]
    )
    with sqlite_server.client(token) as client:
        response = client.request(method, f"{lite.parents[parent]}/{suffix}", json={"expression": "[mail]"})
    error = assert_graph_error(response, 403)
    assert "Synchronization.ReadWrite.All" in error["message"]


# --- schema PUT validates every expression and scoping filter ---------------------------------


def users_mapping(schema: dict[str, Any]) -> dict[str, Any]:
    mappings = schema["synchronizationRules"][0]["objectMappings"]
    return next(m for m in mappings if m["name"] == USERS_MAPPING)


def attribute_mapping(schema: dict[str, Any], target: str) -> dict[str, Any]:
    return next(a for a in users_mapping(schema)["attributeMappings"] if a["targetAttributeName"] == target)


def bad_expression(schema: dict[str, Any]) -> dict[str, Any]:
    attribute_mapping(schema, "name.formatted")["source"]["expression"] = 'Join(" ", [givenName] [surname])'
    return schema


SALES = {"operatorName": "EQUALS", "sourceOperandName": "department", "targetOperand": {"values": ["Sales"]}}


def sales_scope(*more: dict[str, Any]) -> dict[str, Any]:
    """A scoping filter with one group: department EQUALS Sales, and the clauses given."""
    return {"groups": [{"name": "Sales only", "clauses": [SALES, *more]}]}


def bad_scope(schema: dict[str, Any]) -> dict[str, Any]:
    users_mapping(schema)["scope"] = sales_scope(
        {
            "operatorName": "Greater_Than",
            "sourceOperandName": "employeeId",
            "targetOperand": {"values": ["ten"]},
        }
    )
    return schema


def unknown_function_tree(schema: dict[str, Any]) -> dict[str, Any]:
    attribute_mapping(schema, "displayName")["source"] = {
        "type": "Function",
        "name": "Concat",
        "parameters": [{"key": "source", "value": {"type": "Attribute", "name": "displayName"}}],
    }
    return schema


BAD_SCHEMAS = {
    "expression text": (
        bad_expression,
        f"Object mapping '{USERS_MAPPING}', attribute 'name.formatted': Expected ')' or ',' at position 22",
    ),
    "scoping filter": (
        bad_scope,
        f"Object mapping '{USERS_MAPPING}': groups group 'Sales only', clause 2: operator 'Greater_Than' needs integer values",
    ),
    "function tree": (
        unknown_function_tree,
        f"Object mapping '{USERS_MAPPING}', attribute 'displayName': Unknown function 'Concat'",
    ),
}


def get_schema(client: httpx.Client, url: str) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, response.text
    return {k: v for k, v in response.json().items() if not k.startswith("@odata")}


@pytest.mark.parametrize("problem", list(BAD_SCHEMAS))
def test_job_schema_put_with_a_bad_expression_or_filter_is_400_and_changes_nothing(
    live_server: LiveServer, problem: str
) -> None:
    target = setup(live_server)
    url = target.parents["job"]
    make_bad, message = BAD_SCHEMAS[problem]
    with live_server.client() as client:
        schema = get_schema(client, url)
        before = store_snapshot(live_server.db)
        error = assert_graph_error(
            client.put(url, json=make_bad(copy.deepcopy(schema))), 400, "InvalidSchema"
        )
        assert message in error["message"]
        assert store_snapshot(live_server.db) == before
        assert get_schema(client, url) == schema


@pytest.mark.parametrize("problem", list(BAD_SCHEMAS))
def test_template_schema_put_and_patch_with_a_bad_schema_are_400_and_change_nothing(
    sqlite_server: LiveServer, lite: Setup, problem: str
) -> None:
    url = lite.parents["app-template"]
    template_url = url.removesuffix("/schema")
    make_bad, message = BAD_SCHEMAS[problem]
    with sqlite_server.client() as client:
        schema = get_schema(client, url)
        before = store_snapshot(sqlite_server.db)
        error = assert_graph_error(
            client.put(url, json=make_bad(copy.deepcopy(schema))), 400, "InvalidSchema"
        )
        assert message in error["message"]
        template = {k: v for k, v in client.get(template_url).json().items() if not k.startswith("@odata")}
        template["schema"] = make_bad(copy.deepcopy(schema))
        error = assert_graph_error(client.patch(template_url, json=template), 400, "InvalidSchema")
        assert message in error["message"]
        assert store_snapshot(sqlite_server.db) == before
        assert get_schema(client, url) == schema


def test_schema_put_with_valid_expressions_and_filters_is_saved(
    sqlite_server: LiveServer, lite: Setup
) -> None:
    url = lite.parents["job"]
    with sqlite_server.client() as client:
        schema = get_schema(client, url)
        attribute_mapping(schema, "displayName")["source"] = {
            "expression": 'Join(", ", [surname], [givenName])',
            "name": "Join",
            "parameters": [],
            "type": "Function",
        }
        users_mapping(schema)["scope"] = sales_scope(
            {"operatorName": "IS NOT NULL", "sourceOperandName": "mail", "targetOperand": None}
        )
        response = client.put(url, json=schema)
        assert response.status_code == 204, response.text
        saved = get_schema(client, url)
    assert (
        attribute_mapping(saved, "displayName")["source"]["expression"]
        == 'Join(", ", [surname], [givenName])'
    )
    assert users_mapping(saved)["scope"]["groups"][0]["clauses"][0] == SALES
