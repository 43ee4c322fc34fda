"""What the console's pages show, computed from the domain objects: a job's state in words and
colours, what to do about a quarantine, the live progress, and the chart of recent cycles
(drawn here as SVG, so the page needs no chart library and works without JavaScript)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

from provisiond.domain.job_state import NEVER, JobState, Quarantine, QuarantineReason, StatusCode
from provisiond.graph.enums import SynchronizationJobRestartScope as Scope
from provisiond.services.console import CycleSummary
from provisiond.services.synchronization import DEFAULT_RESTART_SCOPE

# The colour of a state, as a CSS class: ok (green), busy (blue), idle (grey), bad (red).
STATE_CLASSES = {
    StatusCode.Active: "ok",
    StatusCode.NotRun: "busy",
    StatusCode.Paused: "idle",
    StatusCode.NotConfigured: "idle",
    StatusCode.Quarantine: "bad",
}

QUARANTINE_HINTS = {
    QuarantineReason.TooManyDeletes: (
        "A cycle would have disabled or deleted more objects than QuarantineTooManyDeletesThreshold allows, "
        "so those were held. Check the held deletes in the provisioning logs (action StagedDelete). If they "
        "are intended, restart with ForceDeletes; if not, fix the assignment or scoping change that caused "
        "them and restart."
    ),
    QuarantineReason.EncounteredQuarantineException: (
        "The SCIM app could not be used at all: check BaseAddress and SecretToken below with Test connection, "
        "and that the app is up. Then Start (or Restart) the job to try again now instead of at the next attempt."
    ),
    QuarantineReason.EncounteredBaseEscrowThreshold: (
        "Too many objects failed to export. Open the provisioning logs filtered on failures to see the "
        "errors, fix the mapping or the app, then restart with Escrows to try them again."
    ),
    QuarantineReason.EncounteredTotalEscrowThreshold: (
        "Too many objects failed to export in total. Look at the failures in the provisioning logs, fix "
        "their cause, then restart with Escrows."
    ),
    QuarantineReason.EncounteredEscrowProportionThreshold: (
        "Too large a share of the objects failed to export. Look at the failures in the provisioning logs, "
        "fix their cause, then restart with Escrows."
    ),
}
DEFAULT_HINT = (
    "Look at the last execution's error and the provisioning logs, fix the cause, then restart the job."
)

# The resetScope flags the restart dialog offers, each with what it clears.
RESTART_FLAGS: tuple[tuple[Scope, str], ...] = (
    (Scope.Watermark, "Forget how far the change log was read: every object is looked at again."),
    (Scope.Escrows, "Drop pending retries of failed objects: they are tried now as first attempts."),
    (Scope.QuarantineState, "Lift the quarantine: run now instead of at the next quarantine retry."),
    (
        Scope.ConnectorDataStore,
        "Forget what the engine knows of the app: every object is matched again and drift is corrected.",
    ),
    (
        Scope.ForceDeletes,
        "Release the disables and deletes the deletion guard holds: they run in the next cycle.",
    ),
)
DEFAULT_FLAGS = frozenset(str(f.name) for f, _ in RESTART_FLAGS if f & DEFAULT_RESTART_SCOPE)

# Hints for provisioning log errors, by the start of their error code.
ERROR_HINTS = (
    (
        "SystemForCrossDomainIdentityManagementInvalidCredentials",
        "The app refused the SecretToken: update it in the job's secrets.",
    ),
    (
        "SystemForCrossDomainIdentityManagementServiceUnreachable",
        "The app could not be reached: check BaseAddress and that the app is up.",
    ),
    (
        "SystemForCrossDomainIdentityManagementBadRequest",
        "The app refused the request's content: check the attribute mappings that feed the properties named in the error.",
    ),
    (
        "SystemForCrossDomainIdentityManagementConflict",
        "The app already holds an object with a unique value: check the matching attribute or the app's data.",
    ),
    (
        "SystemForCrossDomainIdentityManagementThrottled",
        "The app asked to slow down: the object is retried later; ExportRequestsPerSecond can lower the rate.",
    ),
    (
        "SystemForCrossDomainIdentityManagementService",
        "The app failed while handling the request: its own logs say why; the object is retried later.",
    ),
    (
        "Expression",
        "An attribute-mapping expression failed for this object: test it on the Mappings page with this user.",
    ),
)


def error_hint(code: str | None) -> str | None:
    if not code:
        return None
    for prefix, hint in ERROR_HINTS:
        if code.startswith(prefix):
            return hint
    return "The object is retried with backoff (an escrow); restart with Escrows to try it now."


def when(value: datetime | None) -> str:
    """A time as the pages write it (UTC, to the second); '' for never."""
    if value is None or value == NEVER:
        return ""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class LiveProgress:
    """The running cycle's progress: the bar's numbers, and when they were observed (the page's
    script derives the rate and the time left from successive observations)."""

    completed: int
    total: int
    observed: datetime

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.completed / self.total)) if self.total else 0


def live_progress(state: JobState, running: bool) -> LiveProgress | None:
    """The bar while a cycle runs; None between cycles."""
    progress = state.status.progress
    if progress:
        p = progress[0]
        return LiveProgress(p.completed, p.total, p.observed)
    return None


def state_label(state: JobState, running: bool) -> tuple[str, str]:
    """The job's state in a word or two, and its colour class."""
    code = state.status.code
    if running and code is not StatusCode.Quarantine:
        label = "Initial cycle" if state.status.last_execution is None else "Running"
        return label, "busy"
    return code.value, STATE_CLASSES.get(code, "idle")


def quarantine_hint(quarantine: Quarantine) -> str:
    return QUARANTINE_HINTS.get(quarantine.reason, DEFAULT_HINT)


def cycle_chart(cycles: list[CycleSummary], width: int = 640, height: int = 180) -> Markup:
    """Per finished cycle, oldest on the left: a bar of its exports (green), the escrows pending
    at its end (red) and the disables and deletes the guard held (amber); a failed cycle's slot
    is shaded; the cycles' durations as a line. Each slot's title says the numbers."""
    if not cycles:
        return Markup('<p class="muted">No cycle has finished yet.</p>')
    pad_left, pad_bottom, pad_top = 36, 22, 10
    plot_w, plot_h = width - pad_left - 10, height - pad_bottom - pad_top
    top = max(max(c.exported + c.escrowed + c.held for c in cycles), 1)
    longest = max(max(c.seconds for c in cycles), 0.001)
    slot = plot_w / len(cycles)
    bar = max(4.0, min(28.0, slot * 0.6))
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'aria-label="Exports, escrows, held deletes and durations of the last {len(cycles)} cycles">',
        f'<line x1="{pad_left}" y1="{pad_top + plot_h}" x2="{width - 10}" y2="{pad_top + plot_h}" class="axis"/>',
        f'<text x="{pad_left - 4}" y="{pad_top + 8}" text-anchor="end" class="tick">{top}</text>',
        f'<text x="{pad_left - 4}" y="{pad_top + plot_h}" text-anchor="end" class="tick">0</text>',
    ]
    points = []
    for i, cycle in enumerate(cycles):
        left = pad_left + slot * i
        x = left + (slot - bar) / 2
        if cycle.result == "Failed":
            parts.append(
                f'<rect x="{left:.1f}" y="{pad_top}" width="{slot:.1f}" height="{plot_h}" class="failed-cycle"/>'
            )
        base = float(pad_top + plot_h)
        for value, css in ((cycle.exported, "exports"), (cycle.escrowed, "failures"), (cycle.held, "held")):
            if value:
                h = plot_h * value / top
                base -= h
                parts.append(
                    f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{h:.1f}" class="{css}"/>'
                )
        outcome = cycle.result + (f" ({cycle.error_code})" if cycle.error_code else "")
        title = escape(
            f"{when(cycle.began)}: {outcome}; {cycle.exported} exports, {cycle.escrowed} escrows, "
            f"{cycle.held} held; {cycle.imported} objects in {cycle.seconds:.1f} s"
        )
        parts.append(
            f'<rect x="{left:.1f}" y="{pad_top}" width="{slot:.1f}" height="{plot_h}" '
            f'class="hit"><title>{title}</title></rect>'
        )
        points.append(f"{x + bar / 2:.1f},{pad_top + plot_h - plot_h * cycle.seconds / longest:.1f}")
    if len(points) > 1:
        parts.append(f'<polyline points="{" ".join(points)}" class="duration"/>')
    parts.append(
        f'<text x="{width - 10}" y="{height - 4}" text-anchor="end" class="tick">'
        f"duration line: longest {longest:.1f} s</text>"
    )
    parts.append("</svg>")
    return Markup("".join(parts))


def restart_flags_view(checked: frozenset[str]) -> list[dict[str, Any]]:
    return [
        {"name": flag.name, "sentence": sentence, "checked": flag.name in checked}
        for flag, sentence in RESTART_FLAGS
    ]
