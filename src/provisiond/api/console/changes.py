"""A mapping change on its way from an editor to Apply: what Save carries to the review page
(and, for a preview that runs in the background, to the preview's own page), and what Apply
posts back to be saved.

The change travels as plain form fields (`fields`), never as server-side state: the review
page's Apply and Back to editing buttons post it again, CSRF-checked. It names the schema
version it was previewed against, so an Apply after someone else saved the schema is shown a
fresh preview instead of overwriting their change unseen. On the URL of a background preview
it is signed with the session's CSRF token (`signature`), so a link made elsewhere cannot put
an Apply button for another change under a preview.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError

from provisiond.api.console.filters import scope_text
from provisiond.graph.synchronization import FilterGroup
from provisiond.mapping import expressions
from provisiond.mapping.errors import ExpressionError

ATTRIBUTE = "attribute"  # one attribute mapping's expression
SCOPE = "scope"  # one object mapping's scoping filter (its `scope.groups`)
KINDS = (ATTRIBUTE, SCOPE)
NO_FILTER = "(no scoping filter: every assigned object is in scope)"


def expression_text(source: Mapping[str, Any] | None) -> str:
    """An attribute mapping's source as the editors show it (its expression text)."""
    if not source:
        return ""
    try:
        return expressions.to_text(expressions.from_mapping_source(source))
    except (ExpressionError, ValueError, KeyError):
        return str(source.get("expression") or source.get("name") or "")


def object_mapping(schema: Mapping[str, Any], rule: int, obj: int) -> dict[str, Any]:
    """The object mapping at these positions; IndexError when there is none."""
    if min(rule, obj) < 0:
        raise IndexError
    try:
        mapping = schema["synchronizationRules"][rule]["objectMappings"][obj]
    except (KeyError, TypeError):
        raise IndexError from None
    return dict(mapping)


def attribute_mapping(schema: Mapping[str, Any], rule: int, obj: int, attr: int) -> dict[str, Any]:
    """The attribute mapping at these positions; IndexError when there is none."""
    if attr < 0:
        raise IndexError
    mappings = object_mapping(schema, rule, obj).get("attributeMappings") or []
    return dict(mappings[attr])


def _number(fields: Mapping[str, Any], name: str) -> int:
    try:
        return int(str(fields.get(name, "")))
    except ValueError:
        raise ValueError(f"The form's {name} is not a position.") from None


def _groups(text: str) -> tuple[dict[str, Any], ...]:
    """A scoping change's groups as its form field carries them (JSON); ValueError otherwise."""
    try:
        groups = json.loads(text)
    except ValueError:
        raise ValueError("The form's scoping filter is not readable.") from None
    if not isinstance(groups, list):
        raise ValueError("The form's scoping filter is not a list of groups.")
    for group in groups:
        try:
            FilterGroup.model_validate(group)
        except ValidationError:
            raise ValueError("The form's scoping filter is not a list of groups.") from None
    return tuple(groups)


@dataclass(frozen=True)
class PendingChange:
    """One attribute mapping's new expression (kind `attribute`) or one object mapping's new
    scoping filter groups (kind `scope`), made on schema `version`."""

    kind: str
    rule: int
    object: int
    attr: int = 0
    expression: str = ""
    version: int = 0
    groups: tuple[dict[str, Any], ...] = ()

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> PendingChange:
        """The change a form (or a preview page's query) carries; ValueError when it is not one."""
        kind = str(fields.get("kind") or "")
        if kind not in KINDS:
            raise ValueError("The form does not carry a mapping change.")
        version = _number(fields, "version") if fields.get("version") not in (None, "") else 0
        rule, obj = _number(fields, "rule"), _number(fields, "object")
        if kind == SCOPE:
            return cls(kind, rule, obj, version=version, groups=_groups(str(fields.get("scope") or "[]")))
        return cls(
            kind=kind,
            rule=rule,
            object=obj,
            attr=_number(fields, "attr"),
            expression=str(fields.get("expression") or "").strip(),
            version=version,
        )

    def with_version(self, version: int) -> PendingChange:
        return replace(self, version=version)

    def fields(self) -> dict[str, str]:
        """The hidden form fields (and query parameters) that carry this change."""
        common = {"kind": self.kind, "rule": str(self.rule), "object": str(self.object)}
        if self.kind == SCOPE:
            scope = json.dumps(list(self.groups), separators=(",", ":"))
            return {**common, "scope": scope, "version": str(self.version)}
        return {**common, "attr": str(self.attr), "expression": self.expression, "version": str(self.version)}

    def apply(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """The schema with this change made; IndexError when its mapping is not in the schema,
        ValueError when the expression does not parse."""
        if self.kind == SCOPE:
            return self._apply_scope(schema)
        attribute_mapping(schema, self.rule, self.object, self.attr)
        try:
            source = expressions.to_mapping_source(expressions.parse(self.expression))
        except ExpressionError as exc:
            raise ValueError(f"The expression does not parse: {exc}") from None
        changed = copy.deepcopy(dict(schema))
        mapping = changed["synchronizationRules"][self.rule]["objectMappings"][self.object]
        mapping["attributeMappings"][self.attr]["source"] = source
        return changed

    def _apply_scope(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """The scoping filter's groups replaced; its other filter sets are kept as they are."""
        object_mapping(schema, self.rule, self.object)
        changed = copy.deepcopy(dict(schema))
        mapping = changed["synchronizationRules"][self.rule]["objectMappings"][self.object]
        scope = {k: v for k, v in (mapping.get("scope") or {}).items() if k != "groups" and v}
        mapping["scope"] = (
            {**scope, "groups": copy.deepcopy(list(self.groups))} if scope or self.groups else None
        )
        return changed

    def describe(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """What the review page says the change is: where, before and after."""
        mapping = object_mapping(schema, self.rule, self.object)
        if self.kind == SCOPE:
            before = list((mapping.get("scope") or {}).get("groups") or [])
            return {
                "what": f"scoping filter of {mapping.get('name') or mapping.get('sourceObjectName')}",
                "before": scope_text(before) or NO_FILTER,
                "after": scope_text(self.groups) or NO_FILTER,
            }
        attribute = attribute_mapping(schema, self.rule, self.object, self.attr)
        return {
            "what": f"{attribute.get('targetAttributeName')} of {mapping.get('targetObjectName')}",
            "before": expression_text(attribute.get("source")),
            "after": self.expression,
        }

    def signature(self, key: str, preview_id: str) -> str:
        """This change bound to one preview, keyed by the session's CSRF token."""
        text = preview_id + "\n" + urlencode(sorted(self.fields().items()))
        return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()

    def query(self, key: str, preview_id: str) -> str:
        """The query string of the background preview's page that offers Apply for this change."""
        return urlencode({**self.fields(), "sig": self.signature(key, preview_id)})


def signed_change(query: Mapping[str, Any], key: str, preview_id: str) -> PendingChange | None:
    """The change a preview page's URL carries, if this session signed it for this preview."""
    if not query.get("kind"):
        return None
    try:
        change = PendingChange.from_fields(query)
    except ValueError:
        return None
    sent = str(query.get("sig") or "")
    if not hmac.compare_digest(sent.encode(), change.signature(key, preview_id).encode()):
        return None
    return change
