"""The engine's policies as pure functions over job settings: escrow backoff, quarantine
thresholds and retry schedule, the accidental-deletion threshold, export limits.

Every threshold is a job setting (`synchronizationJobSettings`) whose default is Entra's
(DESIGN invariant 5). Settings are strings on the wire; a malformed one falls back to the
default rather than stopping the job.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class EngineSettings:
    delete_threshold: int | None = 500
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
    def from_job(cls, settings: list[Mapping[str, Any]], secrets: Mapping[str, str]) -> EngineSettings:
        values = {str(s.get("name")): s.get("value") for s in settings}
        default = cls()

        def number(name: str, fallback: float) -> float:
            try:
                value = values.get(name)
                return float(str(value)) if value not in (None, "") else fallback
            except (TypeError, ValueError):
                return fallback

        threshold: int | None = int(
            number("QuarantineTooManyDeletesThreshold", default.delete_threshold or 0)
        )
        notification = _json_object(secrets.get("SyncNotificationSettings"))
        if notification.get("DeleteThresholdEnabled") is True:
            threshold = int(notification.get("DeleteThresholdValue") or threshold or 0)
        elif notification.get("DeleteThresholdEnabled") is False:
            threshold = None
        if threshold is not None and threshold <= 0:
            threshold = None
        return cls(
            delete_threshold=threshold,
            escrow_backoff_base=timedelta(minutes=number("EscrowBackoffBaseMinutes", 30)),
            escrow_backoff_cap=timedelta(minutes=number("EscrowBackoffCapMinutes", 480)),
            quarantine_min_failures=int(number("QuarantineMinimumFailures", default.quarantine_min_failures)),
            quarantine_failure_proportion=number(
                "QuarantineFailureProportion", default.quarantine_failure_proportion
            ),
            quarantine_failure_count=int(number("QuarantineFailureCount", default.quarantine_failure_count)),
            quarantine_total_failures=int(
                number("QuarantineTotalFailures", default.quarantine_total_failures)
            ),
            quarantine_disable_after=timedelta(days=number("QuarantineDisableAfterDays", 28)),
            export_concurrency=max(1, int(number("ExportConcurrency", default.export_concurrency))),
            export_rate_per_second=max(0.0, number("ExportRequestsPerSecond", 0.0)),
            export_timeout_seconds=max(1.0, number("ExportTimeoutSeconds", default.export_timeout_seconds)),
            member_batch_size=max(1, int(number("MemberBatchSize", default.member_batch_size))),
            log_retention=timedelta(days=number("ProvisioningLogRetentionDays", 30)),
        )


def _json_object(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def escrow_retry_at(settings: EngineSettings, attempts: int, now: datetime) -> datetime:
    """Exponential backoff: base, 2 x base, 4 x base ... capped (Entra: ~30 min doubling to ~8 h)."""
    delay = settings.escrow_backoff_base * (2 ** max(attempts - 1, 0))
    return now + min(delay, settings.escrow_backoff_cap)


@dataclass(frozen=True)
class QuarantineVerdict:
    reason: str
    message: str


def escrow_quarantine(
    settings: EngineSettings, object_failures: int, reference_failures: int, processed: int
) -> QuarantineVerdict | None:
    """Reference §3: evaluated from `quarantine_min_failures`; over the proportion or the count
    (reference failures excluded), or over the total (reference failures included)."""
    total = object_failures + reference_failures
    if total >= settings.quarantine_total_failures:
        return QuarantineVerdict(
            "EncounteredTotalEscrowThreshold", f"{total} escrowed failures reach the total threshold"
        )
    if object_failures < settings.quarantine_min_failures:
        return None
    if object_failures > settings.quarantine_failure_count:
        return QuarantineVerdict(
            "EncounteredBaseEscrowThreshold", f"{object_failures} escrowed failures exceed the threshold"
        )
    if processed and object_failures / processed > settings.quarantine_failure_proportion:
        share = round(100 * object_failures / processed)
        return QuarantineVerdict(
            "EncounteredEscrowProportionThreshold", f"{share}% of provisioning events failed"
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
