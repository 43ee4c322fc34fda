"""How a provisioning log entry's steps and property changes are kept: JSON lists of the
domain's objects (provisiond.domain.provisioning_log) with the domain's field names, never
Graph's provisioningStep or modifiedProperty shape.

`LogStepsColumn` and `PropertyChangesColumn` are the types of `provisioning_logs.steps` and
`.modified_properties`: every reader of a log row gets typed steps and changes, and every
writer hands them over typed. Migration 0006 brought the older rows (Graph's names) to this.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, TypeDecorator

from provisiond.domain.provisioning_log import LogStep, PropertyChange, StepKind


class LogStepsColumn(TypeDecorator[list[LogStep]]):
    impl = JSON
    cache_ok = True

    def process_bind_param(
        self, value: Sequence[LogStep] | None, dialect: Any
    ) -> list[dict[str, Any]] | None:
        return None if value is None else [step_to_json(s) for s in value]

    def process_result_value(self, value: Any, dialect: Any) -> list[LogStep] | None:
        return None if value is None else [step_from_json(s) for s in value]


class PropertyChangesColumn(TypeDecorator[list[PropertyChange]]):
    impl = JSON
    cache_ok = True

    def process_bind_param(
        self, value: Sequence[PropertyChange] | None, dialect: Any
    ) -> list[dict[str, Any]] | None:
        return None if value is None else [{"name": p.name, "old": p.old, "new": p.new} for p in value]

    def process_result_value(self, value: Any, dialect: Any) -> list[PropertyChange] | None:
        return None if value is None else [PropertyChange(p["name"], p["old"], p["new"]) for p in value]


def step_to_json(step: LogStep) -> dict[str, Any]:
    return {
        "name": step.name,
        "kind": step.kind.value,
        "status": step.status,
        "description": step.description,
        "details": dict(step.details),
    }


def step_from_json(data: dict[str, Any]) -> LogStep:
    return LogStep(
        name=data["name"],
        kind=StepKind(data["kind"]),
        status=data["status"],
        description=data["description"],
        details=dict(data.get("details") or {}),
    )
