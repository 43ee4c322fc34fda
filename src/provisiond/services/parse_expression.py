"""`schema/parseExpression`: parse an attribute-mapping expression into Graph's tree form and,
given a test input object, evaluate it as a cycle would (reference §1.2 S8, §2
parseExpressionResponse / expressionInputObject).

Choices where the reference is silent:

* An expression that does not parse is an answer, not an HTTP error: 200 with
  `parsingSucceeded` false and `error` {code `ExpressionParsingFailed`, target `expression`,
  a message naming the position and what was expected}. Only a malformed body is a 400 (no
  `expression`, wrong types, or more than 10,000 characters, which no schema could hold).
* `testInputObject.properties` give the attribute values, typed by the attribute definitions of
  `testInputObject.definition`, or when it is null (as in the documented example) by the schema's
  own definition of the source object of its first object mapping; attributes neither defines
  are used as sent. Typing: Boolean text ("false", any case) reads as a Boolean, so
  `Switch([IsSoftDeleted], , "False", ...)` sees what a cycle sees; Integer text as an integer; a
  multi-valued attribute sent as one value as a one-value list, and "" or null as no values.
* `evaluationResult` holds the text of each value: "True"/"False", decimal integers, dates as
  `M/d/yyyy h:mm:ss tt`, complex values (AppRoleAssignmentsComplex) as compact JSON. A null
  result, or one IgnoreFlowIfNullOrEmpty drops, is an empty collection: nothing would flow.
* A `targetAttributeDefinition` is checked against the result: several values for a single-valued
  attribute, or a value that is not a Boolean, Integer or DateTime for such an attribute, fail
  the evaluation (`ExpressionEvaluationFailed`) with a message naming the attribute.
* Now() reads the service clock; DefaultDomain() and SelectUniqueValue behave as in a cycle
  (no tenant domain; the first non-empty candidate, since there is no target to ask).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from provisiond.graph.enums import AttributeType
from provisiond.graph.synchronization import (
    AttributeDefinition,
    ExpressionInputObject,
    ObjectDefinition,
    ParseExpressionRequest,
    ParseExpressionResponse,
)
from provisiond.mapping import expressions
from provisiond.mapping.errors import ExpressionError, ExpressionSyntaxError
from provisiond.mapping.values import IGNORE_FLOW, EvaluationContext, as_datetime, as_int, as_string
from provisiond.services.errors import BadRequest

PARSING_FAILED = "ExpressionParsingFailed"
EVALUATION_FAILED = "ExpressionEvaluationFailed"

_INTEGER = re.compile(r"[+-]?\d+")


def parse_expression(
    body: ParseExpressionRequest, schema: Mapping[str, Any], now: Callable[[], datetime]
) -> dict[str, Any]:
    """The parseExpressionResponse JSON for one request against one schema."""
    if len(body.expression) > expressions.MAX_EXPRESSION_LENGTH:
        raise BadRequest(
            f"The expression is {len(body.expression)} characters long; "
            f"an expression has at most {expressions.MAX_EXPRESSION_LENGTH} characters.",
            code="RequestParameterInvalid",
        )
    try:
        expr = expressions.parse(body.expression)
    except ExpressionSyntaxError as exc:
        return _response(error=_error(PARSING_FAILED, exc.message))
    parsed = expressions.to_mapping_source(expr)
    if body.test_input_object is None:
        return _response(parsingSucceeded=True, parsedExpression=parsed)
    source = input_source(body.test_input_object, schema)
    try:
        value = expressions.compile(expr).evaluate(source, EvaluationContext(now=now))
        values = _values(value)
        if body.target_attribute_definition is not None:
            _check_target(values, body.target_attribute_definition)
        texts = [_text(item) for item in values]
    except (ExpressionError, ValueError) as exc:
        return _response(
            parsingSucceeded=True, parsedExpression=parsed, error=_error(EVALUATION_FAILED, str(exc))
        )
    return _response(
        parsingSucceeded=True, parsedExpression=parsed, evaluationSucceeded=True, evaluationResult=texts
    )


def _response(**fields: Any) -> dict[str, Any]:
    return ParseExpressionResponse.model_validate(fields).to_wire()


def _error(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "target": "expression"}


# --- the test input object --------------------------------------------------------------------


def input_source(test: ExpressionInputObject, schema: Mapping[str, Any]) -> dict[str, Any]:
    """The source object a cycle would evaluate: property values typed by their definitions."""
    definition = test.definition or source_object_definition(schema)
    attributes = {
        attribute.name.casefold(): attribute
        for attribute in (definition.attributes if definition else [])
        if attribute.name
    }
    source: dict[str, Any] = {}
    for prop in test.properties:
        if not prop.key:
            raise BadRequest("Every testInputObject property needs a key.", code="RequestParameterInvalid")
        value = (prop.model_extra or {}).get("value")
        attribute = attributes.get(prop.key.casefold())
        source[prop.key] = _typed(value, attribute) if attribute else value
    return source


def source_object_definition(schema: Mapping[str, Any]) -> ObjectDefinition | None:
    """The schema's definition of the object its first rule's first enabled object mapping reads."""
    rules = sorted(schema.get("synchronizationRules") or [], key=lambda rule: int(rule.get("priority") or 0))
    for rule in rules[:1]:
        mapping = next((m for m in rule.get("objectMappings") or [] if m.get("enabled", True)), None)
        if mapping is None:
            return None
        directory = _named(schema.get("directories"), rule.get("sourceDirectoryName"))
        found = _named((directory or {}).get("objects"), mapping.get("sourceObjectName"))
        return ObjectDefinition.model_validate(found) if found else None
    return None


def _named(items: Any, name: Any) -> dict[str, Any] | None:
    folded = str(name or "").casefold()
    return next((item for item in items or [] if str(item.get("name") or "").casefold() == folded), None)


def _typed(value: Any, attribute: AttributeDefinition) -> Any:
    if attribute.multivalued:
        if value is None or value == "":
            return []
        return [_scalar(item, attribute.type) for item in (value if isinstance(value, list) else [value])]
    return _scalar(value, attribute.type)


def _scalar(value: Any, kind: AttributeType) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if kind is AttributeType.Boolean and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if kind is AttributeType.Integer and _INTEGER.fullmatch(text):
        return int(text)
    return value


# --- the result -------------------------------------------------------------------------------


def _values(value: Any) -> list[Any]:
    if value is None or value is IGNORE_FLOW:
        return []
    return [item for item in value if item is not None] if isinstance(value, list) else [value]


def _text(value: Any) -> str:
    if isinstance(value, Mapping):
        return json.dumps(value, separators=(",", ":"))
    return as_string(value) or ""


def _check_target(values: list[Any], target: AttributeDefinition) -> None:
    name = target.name or "(unnamed)"
    if not target.multivalued and len(values) > 1:
        raise ValueError(
            f"The expression gives {len(values)} values, but the target attribute '{name}' is single-valued"
        )
    for value in values:
        if not _fits(value, target.type):
            raise ValueError(
                f"The value '{_text(value)}' does not fit the target attribute '{name}' of type {target.type.value}"
            )


def _fits(value: Any, kind: AttributeType) -> bool:
    if kind is AttributeType.Boolean:
        return isinstance(value, bool) or (
            isinstance(value, str) and value.strip().lower() in ("true", "false")
        )
    try:
        if kind is AttributeType.Integer:
            return not isinstance(value, bool) and as_int(value) is not None
        if kind is AttributeType.DateTime:
            return as_datetime(value) is not None
    except ValueError:
        return False
    return True
