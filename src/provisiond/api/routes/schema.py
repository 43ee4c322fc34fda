"""The schema's bound functions and action (reference §1.2 S6 to S8), on a job's schema, a
service principal's template schema and an application's template schema:

- `GET .../schema/functions`: every expression function with its parameters;
- `GET .../schema/filterOperators`: every scoping-filter operator;
- `POST .../schema/parseExpression`: parse (and evaluate) one expression.

All three need Synchronization.ReadWrite.All or, app-only, Application.ReadWrite.OwnedBy on an
owned application (§5.1), and answer 404 for an unknown job or template like every schema route.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from provisiond.api import permissions as perm
from provisiond.api.auth import Principal, authenticate
from provisiond.api.common import collection, entity, json_object, parse_model, read_body
from provisiond.api.context import services
from provisiond.api.routes.targets import APP, JOB, SP, target_of
from provisiond.graph.synchronization import ParseExpressionRequest
from provisiond.mapping.functions import FUNCTION_SIGNATURES
from provisiond.mapping.scoping import FILTER_OPERATORS
from provisiond.services.parse_expression import parse_expression

router = APIRouter()

SCHEMA_PARENTS = (
    JOB + "/schema",
    SP + "/templates/{template_id}/schema",
    APP + "/templates/{template_id}/schema",
)


def _schema(request: Request, caller: Principal) -> dict[str, Any]:
    """The schema the path names, after the permission check; 404 for an unknown job or template."""
    params = request.path_params
    target = target_of(request, caller, perm.SYNC_WRITE)
    sync = services(request).synchronization
    if "job_id" in params:
        return sync.job_schema(sync.job(target.sp, params["job_id"]))
    template = sync.template(target.sp, target.application_id, params["template_id"])
    return dict(template["schema"])


def list_functions(request: Request, caller: Principal = Depends(authenticate)) -> JSONResponse:
    _schema(request, caller)
    items = [signature.as_graph() for signature in FUNCTION_SIGNATURES.values()]
    return collection(request, items, context="functions")


def list_filter_operators(request: Request, caller: Principal = Depends(authenticate)) -> JSONResponse:
    _schema(request, caller)
    items = [operator.as_graph() for operator in FILTER_OPERATORS.values()]
    return collection(request, items, context="filterOperators")


def parse_expression_action(
    request: Request, caller: Principal = Depends(authenticate), raw: bytes = Depends(read_body)
) -> JSONResponse:
    schema = _schema(request, caller)
    body = parse_model(
        ParseExpressionRequest, json_object(request, raw), type_name="microsoft.graph.synchronizationSchema"
    )
    clock = services(request).synchronization.clock
    return entity(
        request,
        parse_expression(body, schema, clock.now),
        context="microsoft.graph.parseExpressionResponse",
    )


_ROUTES: tuple[tuple[str, str, Callable[..., Any]], ...] = (
    ("/functions", "GET", list_functions),
    ("/filterOperators", "GET", list_filter_operators),
    ("/parseExpression", "POST", parse_expression_action),
)

for _parent in SCHEMA_PARENTS:
    for _suffix, _method, _handler in _ROUTES:
        router.add_api_route(_parent + _suffix, _handler, methods=[_method])
