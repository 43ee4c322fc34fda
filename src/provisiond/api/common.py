"""Request and response plumbing shared by the routes: bodies, OData options, contexts, paging."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError

from provisiond.api.errors import GraphError, bad_request
from provisiond.graph.odata import (
    And,
    Expand,
    ODataError,
    QueryOptions,
    ResourceQuerySpec,
    apply_select,
    decode_skiptoken,
    encode_skiptoken,
    next_link,
    parse_query_options,
)
from provisiond.graph.text import BadText, load_json

M = TypeVar("M", bound=BaseModel)
# What `$expand` adds to a page of directory objects: parent id -> the expanded property's value
# (a parent left out gets no property). Routes that serve `$expand` pass one
# (`provisiond.api.relationships.expander`); elsewhere `$expand` is refused.
Expander = Callable[[Sequence[str], Expand], dict[str, Any]]

JSON_TYPES = ("application/json", "application/scim+json", "text/json")
DEFAULT_PAGE_SIZE = 100
EXPAND_PAGE_SIZE = 100


def api_version(request: Request) -> str:
    return "beta" if request.url.path.startswith("/beta") else "v1.0"


def odata_context(request: Request, fragment: str) -> str:
    return f"{str(request.base_url).rstrip('/')}/{api_version(request)}/$metadata#{fragment}"


async def read_body(request: Request) -> bytes:
    """The raw body, read on the event loop; the route, a plain `def`, then runs in the thread
    pool with everything else it does (see `provisiond.api.app`)."""
    return await request.body()


def json_object(request: Request, raw: bytes, *, required: bool = True) -> dict[str, Any] | None:
    """The request's JSON object; 415 for other media types, 400 for malformed JSON, for JSON
    nested too deep and for strings no backend can store (`provisiond.graph.text`)."""
    if not raw.strip():
        if required:
            raise bad_request("The request body is empty; a JSON object is required.")
        return None
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type not in JSON_TYPES:
        raise GraphError(
            415,
            "UnsupportedMediaType",
            f"The content type '{content_type}' is not supported; send application/json.",
        )
    try:
        value = load_json(raw)
    except BadText as exc:
        raise bad_request(str(exc)) from None
    except ValueError:  # UnicodeDecodeError included
        raise bad_request(
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format."
        ) from None
    if not isinstance(value, dict):
        raise bad_request("The request body must be a JSON object.")
    return value


def parse_model(model: type[M], body: dict[str, Any] | None, *, type_name: str) -> M:
    """Validate a body into an input model, with Graph's wording for the first problem found."""
    try:
        return model.model_validate(body or {})
    except ValidationError as exc:
        raise bad_request(validation_message(exc, type_name)) from None


def validation_message(exc: ValidationError, type_name: str) -> str:
    error = exc.errors()[0]
    loc = [str(p) for p in error["loc"]]
    name = ".".join(loc) or "body"
    if error["type"] == "extra_forbidden":
        return f"Invalid property '{name}' on type '{type_name}'."
    if error["type"] == "missing":
        return f"Property '{name}' is required on type '{type_name}'."
    return f"Invalid value specified for property '{name}' of resource '{type_name}': {error['msg']}."


@dataclass
class ListQuery:
    options: QueryOptions
    after: str | None
    limit: int
    # With `$orderby`: the (sort value, id) keyset position of the `$skiptoken`.
    after_key: tuple[Any, ...] | None = None


def advanced_query(request: Request, options: QueryOptions) -> bool:
    """Whether the request carries Graph's advanced query parameters: the `ConsistencyLevel:
    eventual` header and `$count=true`."""
    return request.headers.get("consistencylevel", "").strip().lower() == "eventual" and options.count


def check_orderby(request: Request, options: QueryOptions, by_default: frozenset[str]) -> None:
    """Graph's 400 for a `$orderby` that needs the advanced query parameters but lacks them."""
    order = options.orderby
    if order is None or advanced_query(request, options):
        return
    if order.prop not in by_default or options.filter is not None:
        raise bad_request("Sorting not supported for current query.", code="Request_UnsupportedQuery")


def list_query_options(request: Request, spec: ResourceQuerySpec) -> QueryOptions:
    try:
        return parse_query_options(list(request.query_params.multi_items()), resource=spec)
    except ODataError as exc:
        raise bad_request(str(exc)) from None


SEARCH_NEEDS_HEADER = (
    "Request with $search query parameter only works through MSGraph with a special request header: "
    "'ConsistencyLevel: eventual'"
)


def list_query(request: Request, spec: ResourceQuerySpec) -> ListQuery:
    options = list_query_options(request, spec)
    if options.search is not None:
        if request.headers.get("consistencylevel", "").strip().lower() != "eventual":
            raise bad_request(SEARCH_NEEDS_HEADER, code="Request_UnsupportedQuery")
        # `$search` narrows like one more `$filter` clause, compiled to SQL the same way.
        options.filter = options.search if options.filter is None else And(options.filter, options.search)
    try:
        after = None
        after_key = None
        if options.skiptoken is not None:
            key = decode_skiptoken(options.skiptoken)
            if options.orderby is not None:
                if len(key) != 2 or not isinstance(key[1], str):
                    raise ODataError("Invalid $skiptoken value.")
                after_key = key
            elif len(key) != 1 or not isinstance(key[0], str):
                raise ODataError("Invalid $skiptoken value.")
            else:
                after = key[0]
    except ODataError as exc:
        raise bad_request(str(exc)) from None
    limit = options.top or DEFAULT_PAGE_SIZE
    if options.expand is not None:
        # Graph pages directory objects by at most 100 when expanding, whatever $top asks.
        limit = min(limit, EXPAND_PAGE_SIZE)
    return ListQuery(options, after, limit, after_key)


def collection(
    request: Request,
    items: list[dict[str, Any]],
    *,
    context: str,
    query: ListQuery | None = None,
    options: QueryOptions | None = None,
    spec: ResourceQuerySpec | None = None,
    next_after: str | None = None,
    next_key: list[Any] | None = None,
    count: int | None = None,
    expander: Expander | None = None,
) -> JSONResponse:
    """A collection page; `next_after` (an id) or `next_key` (any keyset key) makes the nextLink."""
    options = options or (query.options if query else None)
    select = options.select if options else None
    expand = _checked_expand(options, expander)
    if next_after is not None:
        next_key = [next_after]
    ids = [item["id"] for item in items] if expand is not None else []
    if spec is not None:
        items = [apply_select(item, select, spec) for item in items]
    if expander is not None and expand is not None:
        related = expander(ids, expand)
        items = [
            _with_expansion(item, expand.prop, related.get(i, _ABSENT))
            for i, item in zip(ids, items, strict=True)
        ]
    fragment = context + context_suffix(select, expand)
    body: dict[str, Any] = {"@odata.context": odata_context(request, fragment)}
    if count is not None:
        body["@odata.count"] = count
    if next_key is not None:
        body["@odata.nextLink"] = next_link(
            str(request.url).split("?")[0],
            list(request.query_params.multi_items()),
            encode_skiptoken(next_key),
        )
    body["value"] = items
    return JSONResponse(body)


_ABSENT = object()


def _checked_expand(options: QueryOptions | None, expander: Expander | None) -> Expand | None:
    """The `$expand` to apply; a route that cannot expand refuses it rather than ignore it."""
    expand = options.expand if options else None
    if expand is not None and expander is None:
        raise bad_request("Query option '$expand' is not supported.")
    return expand


def _with_expansion(item: dict[str, Any], prop: str, value: Any) -> dict[str, Any]:
    """The item with the expanded property after its other properties; a missing manager is
    left out rather than shown as null, as Graph does."""
    return item if value is _ABSENT else {**item, prop: value}


def entity(request: Request, item: dict[str, Any], *, context: str, status: int = 200) -> JSONResponse:
    return JSONResponse({"@odata.context": odata_context(request, context), **item}, status_code=status)


def selected_entity(
    request: Request,
    item: dict[str, Any],
    *,
    context: str,
    spec: ResourceQuerySpec,
    expander: Expander | None = None,
) -> JSONResponse:
    """A single entity honouring `$select` and, where the route passes an expander, `$expand`."""
    try:
        options = parse_query_options(list(request.query_params.multi_items()), resource=spec)
    except ODataError as exc:
        raise bad_request(str(exc)) from None
    if options.filter is not None or options.top is not None or options.skiptoken is not None:
        raise bad_request(
            "Query options $filter, $top and $skiptoken apply to collections, not to a single entity."
        )
    expand = _checked_expand(options, expander)
    shaped = apply_select(item, options.select, spec)
    if expander is not None and expand is not None:
        related = expander([item["id"]], expand)
        shaped = _with_expansion(shaped, expand.prop, related.get(item["id"], _ABSENT))
    suffix = context_suffix(options.select, expand)
    if suffix:
        context = (
            context.replace("/$entity", suffix + "/$entity")
            if context.endswith("/$entity")
            else context + suffix
        )
    return entity(request, shaped, context=context)


def context_suffix(select: list[str] | None, expand: Expand | None) -> str:
    """The `@odata.context` select list: `(a,b)`, with `nav()` or `nav(x,y)` for an expansion
    (OData 4.01's form)."""
    items = list(select or [])
    if expand is not None:
        items.append(f"{expand.prop}({','.join(expand.select or [])})")
    return f"({','.join(items)})" if items else ""


def no_content() -> Response:
    return Response(status_code=204)
