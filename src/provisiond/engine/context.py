"""Everything one cycle of one job works with, gathered once at its start."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from provisiond.clock import Clock
from provisiond.connectors.directory import Assignments, DirectorySource
from provisiond.connectors.scim_client import ScimClient
from provisiond.connectors.scim_requests import ScimFormat
from provisiond.domain.job_state import Execution, ExecutionResult, JobError
from provisiond.engine.policy import EngineSettings
from provisiond.mapping.flows import CompiledSchema
from provisiond.store import engine_state as state
from provisiond.store.db import Database
from provisiond.store.engine_state import GenerationChanged


class CycleStopped(Exception):
    """Paused, deleted or shutting down: stop at this safe point with progress kept."""


def ensure_still_running(
    db: Database, stopping: Callable[[], bool], job_id: str, generation: int, owner: str
) -> None:
    """A cycle's safe-point check: raise CycleStopped when the process is stopping or the job
    was paused or its lease lost, GenerationChanged when a restart or schema change owns it now."""
    if stopping():
        raise CycleStopped
    with db.read() as conn:
        job = state.get_job(conn, job_id)
    if job is None or job["generation"] != generation:
        raise GenerationChanged(job_id)
    if job["schedule_state"] != "Active" or job["lease_owner"] != owner:
        raise CycleStopped


def deletes_in_window(db: Database, job_id: str, settings: EngineSettings, now: datetime) -> int:
    """The disables and deletes the job exported within its deletion window (none when the
    window is PT0S, which counts each cycle alone): what the accidental-deletion guard adds a
    cycle's, or an on-demand call's, planned ones to."""
    if not settings.delete_window:
        return 0
    with db.read() as conn:
        return state.deletion_exports_count(conn, job_id, now - settings.delete_window)


@dataclass
class Counters:
    """The synchronizationTaskExecution counters of the cycle."""

    imported: int = 0
    imported_deltas: int = 0
    imported_reference_deltas: int = 0
    entitled: int = 0
    exports_expected: int = 0
    exported: int = 0
    escrowed: int = 0
    reference_failures: int = 0

    def execution(
        self, result: ExecutionResult, began: datetime, ended: datetime, error: JobError | None
    ) -> Execution:
        return Execution(
            result=result,
            began=began,
            ended=ended,
            error=error,
            entitled=self.entitled,
            entitled_for_provisioning=self.entitled,
            escrowed=self.escrowed,
            escrowed_raw=self.escrowed + self.reference_failures,
            exported=self.exported,
            exports=self.exports_expected,
            imported=self.imported,
            imported_deltas=self.imported_deltas,
            imported_reference_deltas=self.imported_reference_deltas,
        )


@dataclass
class CycleContext:
    db: Database
    clock: Clock
    source: DirectorySource
    job: dict[str, Any]
    service_principal_id: str
    secrets: Mapping[str, str]
    schema: CompiledSchema
    settings: EngineSettings
    client: ScimClient
    fmt: ScimFormat
    assignments: Assignments
    sync_all: bool
    skip_out_of_scope_deletions: bool
    cycle_id: str
    generation: int
    owner: str
    began: datetime
    evaluation: Any
    total_units: int = 0
    counters: Counters = field(default_factory=Counters)

    @property
    def job_id(self) -> str:
        return str(self.job["id"])
