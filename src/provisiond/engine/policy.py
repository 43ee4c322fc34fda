"""The engine's policies as pure functions over job settings: escrow backoff, quarantine
thresholds and retry schedule, the accidental-deletion threshold and its window, export limits,
the backoff after a cycle that failed unexpectedly.

Every threshold is a job setting (`synchronizationJobSettings`) whose default is Entra's
(DESIGN invariant 5). Settings are strings on the wire. `SETTINGS` says, for each one the
engine reads, its type and allowed range: the API refuses anything else (`check_setting`), so
a job cannot be configured into a state the engine cannot run. A stored value that does not
parse (written before validation existed) falls back to the default rather than stopping
the job.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from provisiond.domain.job_state import QuarantineReason
from provisiond.graph.base import parse_duration

HOUR = timedelta(hours=1)
MAX_DELETE_WINDOW = timedelta(days=30)
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
DEFAULT_SCHEDULE_INTERVAL = timedelta(minutes=40)


class InvalidSetting(ValueError):
    """A job setting's value the engine cannot run with; the message names the setting and
    what it accepts."""


@dataclass(frozen=True)
class SettingSpec:
    """A job setting the engine reads: `kind` is "integer", "number" or "duration" (ISO 8601),
    within [minimum, maximum] (minimum excluded when `exclusive`)."""

    name: str
    kind: str
    minimum: float
    maximum: float
    exclusive: bool = False
    meaning: str = ""

    def parse(self, text: object) -> float | timedelta:
        value: float | timedelta
        if not isinstance(text, str):
            raise InvalidSetting(f"The job setting '{self.name}' must be a string; {self.allowed()}.")
        if self.kind == "duration":
            try:
                value = parse_duration(text)
            except ValueError:
                raise InvalidSetting(
                    f"The job setting '{self.name}' must be an ISO 8601 duration such as 'PT40M'; "
                    f"{self.allowed()}."
                ) from None
            amount = value.total_seconds()
        else:
            pattern = _INTEGER if self.kind == "integer" else _NUMBER
            if pattern.fullmatch(text.strip()) is None:
                raise InvalidSetting(
                    f"The job setting '{self.name}' must be {'an integer' if self.kind == 'integer' else 'a number'}; "
                    f"{self.allowed()}."
                )
            try:
                number = int(text.strip()) if self.kind == "integer" else float(text.strip())
            except ValueError:  # more digits than Python converts
                number = math.inf
            if not math.isfinite(number):
                raise InvalidSetting(f"The job setting '{self.name}' must be finite; {self.allowed()}.")
            value = amount = number
        low_ok = amount > self.minimum if self.exclusive else amount >= self.minimum
        if not low_ok or amount > self.maximum:
            raise InvalidSetting(f"The job setting '{self.name}' is out of range; {self.allowed()}.")
        return value

    def allowed(self) -> str:
        if self.kind == "duration":
            low, high = _duration_text(self.minimum), _duration_text(self.maximum)
        else:
            low, high = f"{self.minimum:g}", f"{self.maximum:g}"
        above = "above" if self.exclusive else "from"
        what = {"integer": "an integer", "number": "a number", "duration": "a duration"}[self.kind]
        return f"allowed: {what} {above} {low} up to {high}" + (f" ({self.meaning})" if self.meaning else "")


def _duration_text(seconds: float) -> str:
    if seconds == 0:
        return "PT0S"
    if seconds % 86400 == 0:
        return f"P{int(seconds // 86400)}D"
    if seconds % 60 == 0:
        return f"PT{int(seconds // 60)}M"
    return f"PT{seconds:g}S"


MINUTES_PER_DAY = 24 * 60
SETTINGS: dict[str, SettingSpec] = {
    spec.name: spec
    for spec in (
        SettingSpec(
            "QuarantineTooManyDeletesThreshold", "integer", 0, 10_000_000, meaning="0 turns the guard off"
        ),
        SettingSpec(
            "QuarantineTooManyDeletesWindow",
            "duration",
            0,
            MAX_DELETE_WINDOW.total_seconds(),
            meaning="PT0S counts each cycle alone; default: the schedule interval",
        ),
        SettingSpec("EscrowBackoffBaseMinutes", "number", 0, 7 * MINUTES_PER_DAY, exclusive=True),
        SettingSpec("EscrowBackoffCapMinutes", "number", 0, 28 * MINUTES_PER_DAY, exclusive=True),
        SettingSpec("QuarantineMinimumFailures", "integer", 1, 100_000_000),
        SettingSpec("QuarantineFailureProportion", "number", 0, 1, exclusive=True),
        SettingSpec("QuarantineFailureCount", "integer", 1, 100_000_000),
        SettingSpec("QuarantineTotalFailures", "integer", 1, 100_000_000),
        SettingSpec("QuarantineDisableAfterDays", "number", 0, 3650, exclusive=True),
        SettingSpec("ExportConcurrency", "integer", 1, 256),
        SettingSpec("ExportRequestsPerSecond", "number", 0, 100_000, meaning="0 means unlimited"),
        SettingSpec("ExportTimeoutSeconds", "number", 1, 600),
        SettingSpec("MemberBatchSize", "integer", 1, 1000),
        SettingSpec("ProvisioningLogRetentionDays", "number", 0, 3650, exclusive=True),
    )
}


def check_setting(name: str, value: object) -> None:
    """Raise InvalidSetting unless the engine can run with this value of this setting. Names the
    engine does not read are the caller's (templates carry their own) and pass as they are."""
    spec = SETTINGS.get(name)
    if spec is not None:
        spec.parse(value)


@dataclass(frozen=True)
class EngineSettings:
    delete_threshold: int | None = 500
    # By default the schedule interval (DESIGN invariant 8); timedelta(0) counts each cycle alone.
    delete_window: timedelta = DEFAULT_SCHEDULE_INTERVAL
    escrow_backoff_base: timedelta = timedelta(minutes=30)
    escrow_backoff_cap: timedelta = timedelta(hours=8)
    quarantine_min_failures: int = 5000
    quarantine_failure_proportion: float = 0.40
    quarantine_failure_count: int = 40000
    quarantine_total_failures: int = 60000
    quarantine_disable_after: timedelta = timedelta(days=28)
    export_concurrency: int = 8
    export_rate_per_second: float = 0.0
    export_timeout_seconds: float = 30.0
    member_batch_size: int = 100
    log_retention: timedelta = timedelta(days=30)

    @classmethod
    def from_job(
        cls,
        settings: list[Mapping[str, Any]],
        secrets: Mapping[str, str],
        schedule_interval: str | None = None,
    ) -> EngineSettings:
        values = {str(s.get("name")): s.get("value") for s in settings}
        default = cls()

        def read(name: str, fallback: Any) -> Any:
            value = values.get(name)
            if value in (None, ""):
                return fallback
            try:
                return SETTINGS[name].parse(value)
            except InvalidSetting:
                return fallback

        threshold: int | None = int(read("QuarantineTooManyDeletesThreshold", default.delete_threshold))
        notification = _json_object(secrets.get("SyncNotificationSettings"))
        if notification.get("DeleteThresholdEnabled") is True:
            with contextlib.suppress(TypeError, ValueError, OverflowError):
                threshold = int(notification.get("DeleteThresholdValue") or threshold or 0)
        elif notification.get("DeleteThresholdEnabled") is False:
            threshold = None
        if threshold is not None and threshold <= 0:
            threshold = None
        return cls(
            delete_threshold=threshold,
            delete_window=read("QuarantineTooManyDeletesWindow", _interval_window(schedule_interval)),
            escrow_backoff_base=timedelta(minutes=read("EscrowBackoffBaseMinutes", 30)),
            escrow_backoff_cap=timedelta(minutes=read("EscrowBackoffCapMinutes", 480)),
            quarantine_min_failures=int(read("QuarantineMinimumFailures", default.quarantine_min_failures)),
            quarantine_failure_proportion=read(
                "QuarantineFailureProportion", default.quarantine_failure_proportion
            ),
            quarantine_failure_count=int(read("QuarantineFailureCount", default.quarantine_failure_count)),
            quarantine_total_failures=int(read("QuarantineTotalFailures", default.quarantine_total_failures)),
            quarantine_disable_after=timedelta(days=read("QuarantineDisableAfterDays", 28)),
            export_concurrency=int(read("ExportConcurrency", default.export_concurrency)),
            export_rate_per_second=read("ExportRequestsPerSecond", 0.0),
            export_timeout_seconds=read("ExportTimeoutSeconds", default.export_timeout_seconds),
            member_batch_size=int(read("MemberBatchSize", default.member_batch_size)),
            log_retention=timedelta(days=read("ProvisioningLogRetentionDays", 30)),
        )


def _interval_window(schedule_interval: str | None) -> timedelta:
    """The deletion window by default: the schedule interval (Entra evaluates the threshold per
    cycle, and its cycles are an interval apart), at most MAX_DELETE_WINDOW."""
    try:
        interval = parse_duration(schedule_interval) if schedule_interval else DEFAULT_SCHEDULE_INTERVAL
    except ValueError:
        interval = DEFAULT_SCHEDULE_INTERVAL
    return min(max(interval, timedelta(0)), MAX_DELETE_WINDOW)


def _json_object(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def escrow_retry_at(settings: EngineSettings, attempts: int, now: datetime) -> datetime:
    """Exponential backoff: base, 2 x base, 4 x base ... capped (Entra: ~30 min doubling to ~8 h)."""
    return now + _doubling(settings.escrow_backoff_base, attempts, settings.escrow_backoff_cap)


FAILED_CYCLE_BACKOFF = timedelta(minutes=1)
FAILED_CYCLE_BACKOFF_CAP = timedelta(hours=24)


def failed_cycle_retry_at(failures: int, schedule_interval: timedelta, now: datetime) -> datetime:
    """When to try again after the `failures`-th cycle in a row that failed unexpectedly (a
    fault of ours, not of the target): 1 min, 2, 4 ... doubling, never later than a normal
    cycle (the schedule interval) would run, and at most a day."""
    cap = min(max(schedule_interval, FAILED_CYCLE_BACKOFF), FAILED_CYCLE_BACKOFF_CAP)
    return now + _doubling(FAILED_CYCLE_BACKOFF, failures, cap)


def _doubling(base: timedelta, attempt: int, cap: timedelta) -> timedelta:
    """base x 2^(attempt-1), at most cap, computed without overflowing whatever `attempt` is."""
    seconds = base.total_seconds() * 2.0 ** min(max(attempt - 1, 0), 1000)
    return min(timedelta(seconds=min(seconds, cap.total_seconds())), cap)


@dataclass(frozen=True)
class QuarantineVerdict:
    reason: QuarantineReason
    message: str


def escrow_quarantine(
    settings: EngineSettings, object_failures: int, reference_failures: int, processed: int
) -> QuarantineVerdict | None:
    """Reference §3: evaluated from `quarantine_min_failures`; over the proportion or the count
    (reference failures excluded), or over the total (reference failures included)."""
    total = object_failures + reference_failures
    if total >= settings.quarantine_total_failures:
        return QuarantineVerdict(
            QuarantineReason.EncounteredTotalEscrowThreshold,
            f"{total} escrowed failures reach the total threshold",
        )
    if object_failures < settings.quarantine_min_failures:
        return None
    if object_failures > settings.quarantine_failure_count:
        return QuarantineVerdict(
            QuarantineReason.EncounteredBaseEscrowThreshold,
            f"{object_failures} escrowed failures exceed the threshold",
        )
    if processed and object_failures / processed > settings.quarantine_failure_proportion:
        share = round(100 * object_failures / processed)
        return QuarantineVerdict(
            QuarantineReason.EncounteredEscrowProportionThreshold, f"{share}% of provisioning events failed"
        )
    return None


def quarantine_next_attempt(series_began: datetime, now: datetime) -> datetime:
    """Retries 6 h, 12 h and 24 h after the first failure, then every 24 h (reference §3)."""
    for hours in (6, 12, 24):
        candidate = series_began + hours * HOUR
        if candidate > now:
            return candidate
    elapsed_days = (now - series_began) // timedelta(days=1)
    return series_began + timedelta(days=elapsed_days + 1)
