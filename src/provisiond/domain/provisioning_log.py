"""What a provisioning log entry says happened to an object: its steps and the properties it
changed, as typed objects.

The engine records them as it works (engine/logs.py builds the entries); the store keeps them
as JSON of these objects (store/provisioning_logs.py); Graph's provisioningStep and
modifiedProperty shapes are built from them only at the edge (graph/provisioning.py for
provisioningObjectSummary, api/routes/on_demand.py for provisionOnDemand's record).

The step kinds are Graph's provisioningStepType members, since Entra's steps are the domain's
vocabulary; the wire's names (`provisioningStepType`, `oldValue`) are not.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace


class StepKind(enum.StrEnum):
    """Graph's provisioningStepType."""

    Import = "import"
    Scoping = "scoping"
    Matching = "matching"
    Processing = "processing"
    ReferenceResolution = "referenceResolution"
    Export = "export"


@dataclass(frozen=True)
class Initiator:
    """Who started the processing an entry records: Graph's `initiator` (initiatedBy)."""

    id: str
    initiator_type: str  # Graph's initiatorType: user, application or system
    display_name: str | None = None


# What a cycle's entries name as their initiator, as Entra's do.
PROVISIONING_SERVICE = Initiator("", "system", "Azure AD Provisioning Service")


@dataclass(frozen=True)
class LogStep:
    """One step of an object's processing: `name` is Entra's (EntryImport, EntryExportAdd, ...),
    `status` a provisioningResult member (success, failure, skipped, warning)."""

    name: str
    kind: StepKind
    status: str
    description: str
    details: Mapping[str, str] = field(default_factory=dict)

    def with_details(self, **more: str) -> LogStep:
        return replace(self, details={**self.details, **more})


@dataclass(frozen=True)
class PropertyChange:
    """A property the processing changed, its old and new values as text (None: absent)."""

    name: str
    old: str | None
    new: str | None


def property_changes(old: Mapping[str, object], new: Mapping[str, object]) -> list[PropertyChange]:
    """The properties whose values differ as text, by name. As text, because the app answers
    `true` where the mapping computes "True": the same value, no change to show."""
    changes = (
        PropertyChange(name, _text(old.get(name)), _text(new.get(name)))
        for name in sorted(set(old) | set(new))
    )
    return [c for c in changes if c.old != c.new]


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)
