"""Attribute flows: an object mapping of the schema, compiled once, applied to source objects.

`CompiledObjectMapping.values(source, creating=...)` gives the target attribute values the
mapping wants, keyed by target attribute name. Entra's rules:
- a null result does not flow (nulls are not provisioned);
- `defaultValue` applies when the source evaluates to null, on create only;
- flowType ObjectAddOnly flows on create only;
- IgnoreFlowIfNullOrEmpty drops the attribute from the flow.
Reference attributes (manager, members) are resolved by the engine against the connector
data store, so they are kept apart here as `references`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from provisiond.mapping import expressions, scoping
from provisiond.mapping.values import output

REFERENCE_ATTRIBUTES = frozenset({"manager", "members"})


class MappingError(ValueError):
    """A schema whose mappings cannot be compiled; names the mapping and the problem."""


@dataclass(frozen=True)
class AttributeFlow:
    target: str
    expression: Any  # a compiled expression, or None for a constant-default mapping
    default_value: str | None
    add_only: bool
    matching_priority: int
    source_text: str


@dataclass(frozen=True)
class CompiledObjectMapping:
    name: str
    source_object: str
    target_object: str
    enabled: bool
    flow_add: bool
    flow_update: bool
    flow_delete: bool
    scope: Any
    attributes: tuple[AttributeFlow, ...]
    references: dict[str, str]  # source reference attribute -> target attribute

    @property
    def matching(self) -> list[AttributeFlow]:
        """Attributes to match on, lowest matching priority first."""
        return sorted(
            (a for a in self.attributes if a.matching_priority > 0), key=lambda a: a.matching_priority
        )

    @cached_property
    def add_only_targets(self) -> frozenset[str]:
        """Target attributes that flow on create only (ObjectAddOnly)."""
        return frozenset(flow.target for flow in self.attributes if flow.add_only)

    @property
    def targets(self) -> list[str]:
        return [flow.target for flow in self.attributes]

    @property
    def soft_delete_target(self) -> str | None:
        """The target attribute fed from IsSoftDeleted (usually `active`): how disables are sent."""
        for flow in self.attributes:
            if "IsSoftDeleted" in flow.source_text:
                return flow.target
        return None

    def values(self, source: Mapping[str, Any], context: Any, *, creating: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for flow in self.attributes:
            if flow.add_only and not creating:
                continue
            expression = flow.expression
            if expression is None:
                value = None
            elif expression.plain_attribute in source:
                # `[attribute]` with the exact name present: what evaluate would give, cheaper.
                value = output(source[expression.plain_attribute])
            else:
                value = expression.evaluate(source, context)
            if value is expressions.IGNORE_FLOW:
                continue
            if value is None or value == [] or value == "":
                if creating and flow.default_value not in (None, ""):
                    value = flow.default_value
                else:
                    continue
            out[flow.target] = value
        return out

    def matching_value(self, flow: AttributeFlow, source: Mapping[str, Any], context: Any) -> Any:
        return (
            flow.expression.evaluate(source, context) if flow.expression is not None else flow.default_value
        )


def _expression(source: Mapping[str, Any], strict: bool) -> expressions.Expr:
    """The expression of a source; `strict` makes a Function source's text authoritative (a text
    that does not parse is an error, not a reason to fall back on the tree)."""
    text = source.get("expression")
    if strict and text and str(source.get("type") or "").casefold() == "function":
        return expressions.parse(str(text))
    return expressions.from_mapping_source(source)


def compile_object_mapping(mapping: Mapping[str, Any], *, strict: bool = False) -> CompiledObjectMapping:
    """Compile one objectMapping; MappingError names the mapping, the target attribute and the
    problem (with its position in the expression text, or the scoping group and clause)."""
    name = str(mapping.get("name") or mapping.get("sourceObjectName") or "?")
    flow_types = str(mapping.get("flowTypes") or "Add, Update, Delete")
    flows = {part.strip().lower() for part in flow_types.split(",")}
    attributes: list[AttributeFlow] = []
    references: dict[str, str] = {}
    for entry in mapping.get("attributeMappings") or []:
        target = str(entry.get("targetAttributeName") or "")
        source = entry.get("source")
        if (
            source
            and source.get("type", "Attribute") == "Attribute"
            and source.get("name") in REFERENCE_ATTRIBUTES
        ):
            references[str(source["name"])] = target
            continue
        try:
            compiled = expressions.compile(_expression(source, strict)) if source else None
        except Exception as exc:  # the expression module's own error types all name the position
            raise MappingError(f"Object mapping '{name}', attribute '{target}': {exc}") from exc
        attributes.append(
            AttributeFlow(
                target=target,
                expression=compiled,
                default_value=entry.get("defaultValue"),
                add_only=str(entry.get("flowType") or "Always") == "ObjectAddOnly",
                matching_priority=int(entry.get("matchingPriority") or 0),
                source_text=str((source or {}).get("expression") or (source or {}).get("name") or ""),
            )
        )
    try:
        scope = scoping.compile_filter(mapping.get("scope"))
    except Exception as exc:
        raise MappingError(f"Object mapping '{name}': {exc}") from exc
    return CompiledObjectMapping(
        name=name,
        source_object=str(mapping.get("sourceObjectName") or ""),
        target_object=str(mapping.get("targetObjectName") or ""),
        enabled=bool(mapping.get("enabled", True)),
        flow_add="add" in flows,
        flow_update="update" in flows,
        flow_delete="delete" in flows,
        scope=scope,
        attributes=tuple(attributes),
        references=references,
    )


@dataclass(frozen=True)
class CompiledSchema:
    users: CompiledObjectMapping | None
    groups: CompiledObjectMapping | None
    rule_id: str | None


def compile_schema(schema: Mapping[str, Any]) -> CompiledSchema:
    """The outbound user and group mappings of the schema's first rule (lowest priority)."""
    rules = sorted(schema.get("synchronizationRules") or [], key=lambda r: int(r.get("priority") or 0))
    users = groups = None
    rule_id = None
    for rule in rules[:1]:
        rule_id = rule.get("id")
        for mapping in rule.get("objectMappings") or []:
            compiled = compile_object_mapping(mapping)
            if not compiled.enabled:
                continue
            if compiled.source_object.lower() == "user" and users is None:
                users = compiled
            elif compiled.source_object.lower() == "group" and groups is None:
                groups = compiled
    return CompiledSchema(users, groups, rule_id)


def compile_schema_once(schema: Mapping[str, Any]) -> CompiledSchema:
    """`compile_schema`, memoised on the rules' content: each schema version compiles once per
    process, however many cycles and objects evaluate it."""
    rules = json.dumps(schema.get("synchronizationRules") or [], sort_keys=True, separators=(",", ":"))
    return _compile_rules(rules)


@lru_cache(maxsize=256)
def _compile_rules(rules: str) -> CompiledSchema:
    return compile_schema({"synchronizationRules": json.loads(rules)})
