"""The engine's policies, with Entra's documented figures as the expected values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from provisiond.engine.policy import (
    MAX_DELETE_WINDOW,
    EngineSettings,
    InvalidSetting,
    check_setting,
    escrow_quarantine,
    escrow_retry_at,
    failed_cycle_retry_at,
    quarantine_next_attempt,
)

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
DEFAULTS = EngineSettings()


@pytest.mark.parametrize(
    ("attempts", "delay"),
    [
        (1, timedelta(minutes=30)),
        (2, timedelta(hours=1)),
        (3, timedelta(hours=2)),
        (5, timedelta(hours=8)),
        (9, timedelta(hours=8)),
    ],
)
def test_escrow_backoff_doubles_from_thirty_minutes_to_an_eight_hour_cap(
    attempts: int, delay: timedelta
) -> None:
    assert escrow_retry_at(DEFAULTS, attempts, T0) == T0 + delay


@pytest.mark.parametrize(
    ("object_failures", "reference_failures", "processed", "reason"),
    [
        (4000, 0, 4000, None),  # under 5,000 nothing is evaluated
        (45000, 0, 200000, "EncounteredBaseEscrowThreshold"),  # more than 40,000
        (30000, 0, 35000, "EncounteredEscrowProportionThreshold"),  # 30,000 failed, 5,000 succeeded
        (20000, 0, 120000, None),  # 20,000 failed, 100,000 succeeded
        (40000, 21000, 500000, "EncounteredTotalEscrowThreshold"),  # 61,000 with reference failures
        (6000, 30000, 100000, None),  # reference failures do not count toward the proportion
    ],
)
def test_escrow_quarantine_follows_the_documented_examples(
    object_failures: int, reference_failures: int, processed: int, reason: str | None
) -> None:
    verdict = escrow_quarantine(DEFAULTS, object_failures, reference_failures, processed)
    assert (verdict.reason if verdict else None) == reason


@pytest.mark.parametrize(
    ("elapsed", "next_in"),
    [
        (timedelta(0), timedelta(hours=6)),
        (timedelta(hours=6), timedelta(hours=12)),
        (timedelta(hours=13), timedelta(hours=24)),
        (timedelta(hours=24), timedelta(days=2)),
        (timedelta(days=5, hours=3), timedelta(days=6)),
    ],
)
def test_quarantine_retries_at_6_12_and_24_hours_then_daily(elapsed: timedelta, next_in: timedelta) -> None:
    assert quarantine_next_attempt(T0, T0 + elapsed) == T0 + next_in


def test_settings_default_to_entra_and_read_job_settings() -> None:
    settings = EngineSettings.from_job([{"name": "QuarantineTooManyDeletesThreshold", "value": "500"}], {})
    assert settings.delete_threshold == 500
    assert settings.escrow_backoff_base == timedelta(minutes=30)
    custom = EngineSettings.from_job(
        [
            {"name": "QuarantineTooManyDeletesThreshold", "value": "7"},
            {"name": "EscrowBackoffBaseMinutes", "value": "1"},
            {"name": "ExportConcurrency", "value": "16"},
        ],
        {},
    )
    assert (custom.delete_threshold, custom.escrow_backoff_base, custom.export_concurrency) == (
        7,
        timedelta(minutes=1),
        16,
    )


def test_sync_notification_settings_can_set_or_disable_the_delete_threshold() -> None:
    job = [{"name": "QuarantineTooManyDeletesThreshold", "value": "500"}]
    enabled = EngineSettings.from_job(
        job, {"SyncNotificationSettings": '{"DeleteThresholdEnabled":true,"DeleteThresholdValue":17}'}
    )
    assert enabled.delete_threshold == 17
    disabled = EngineSettings.from_job(
        job, {"SyncNotificationSettings": '{"Enabled":false,"DeleteThresholdEnabled":false}'}
    )
    assert disabled.delete_threshold is None


def test_malformed_settings_fall_back_to_defaults() -> None:
    settings = EngineSettings.from_job(
        [{"name": "QuarantineTooManyDeletesThreshold", "value": "lots"}], {"SyncNotificationSettings": "{"}
    )
    assert settings.delete_threshold == 500


def test_stored_values_the_engine_cannot_run_with_fall_back_to_defaults_instead_of_raising() -> None:
    # Written before validation existed, or straight into the database.
    settings = EngineSettings.from_job(
        [
            {"name": "EscrowBackoffCapMinutes", "value": "1e309"},
            {"name": "EscrowBackoffBaseMinutes", "value": "nan"},
            {"name": "ExportConcurrency", "value": "-5"},
            {"name": "QuarantineTooManyDeletesWindow", "value": "P99999D"},
        ],
        {"SyncNotificationSettings": '{"DeleteThresholdEnabled":true,"DeleteThresholdValue":"x"}'},
    )
    assert settings.escrow_backoff_cap == DEFAULTS.escrow_backoff_cap
    assert settings.escrow_backoff_base == DEFAULTS.escrow_backoff_base
    assert settings.export_concurrency == DEFAULTS.export_concurrency
    assert settings.delete_window == DEFAULTS.delete_window
    assert settings.delete_threshold == 500


def test_the_deletion_window_is_the_schedule_interval_unless_set() -> None:
    assert EngineSettings.from_job([], {}).delete_window == timedelta(minutes=40)
    assert EngineSettings.from_job([], {}, "PT5M").delete_window == timedelta(minutes=5)
    # A disabled job's interval (TimeSpan.MaxValue) is capped.
    assert EngineSettings.from_job([], {}, "P10675199DT2H48M5.4775807S").delete_window == MAX_DELETE_WINDOW
    custom = [{"name": "QuarantineTooManyDeletesWindow", "value": "PT0S"}]
    assert EngineSettings.from_job(custom, {}, "PT5M").delete_window == timedelta(0)


def test_escrow_backoff_never_overflows_however_many_attempts() -> None:
    assert escrow_retry_at(DEFAULTS, 10**9, T0) == T0 + DEFAULTS.escrow_backoff_cap


@pytest.mark.parametrize(
    ("failures", "interval", "wait"),
    [
        (1, timedelta(minutes=40), timedelta(minutes=1)),
        (2, timedelta(minutes=40), timedelta(minutes=2)),
        (5, timedelta(minutes=40), timedelta(minutes=16)),
        (6, timedelta(minutes=40), timedelta(minutes=32)),
        (7, timedelta(minutes=40), timedelta(minutes=40)),
        (10**6, timedelta(minutes=40), timedelta(minutes=40)),
        (20, timedelta(days=3650), timedelta(hours=24)),
        (3, timedelta(seconds=5), timedelta(minutes=1)),
    ],
)
def test_a_failed_cycle_is_retried_after_a_doubling_wait_no_later_than_a_normal_cycle(
    failures: int, interval: timedelta, wait: timedelta
) -> None:
    assert failed_cycle_retry_at(failures, interval, T0) == T0 + wait


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ExportConcurrency", " 4 "),
        ("QuarantineFailureProportion", "0.4"),
        ("QuarantineTooManyDeletesWindow", "PT40M"),
        ("QuarantineTooManyDeletesThreshold", "0"),
    ],
)
def test_check_setting_accepts_what_the_engine_can_run_with(name: str, value: str) -> None:
    check_setting(name, value)


def test_check_setting_leaves_unknown_names_to_their_owner_and_wants_integers_written_as_such() -> None:
    check_setting("NotAnEngineSetting", "anything")  # a template's own setting, kept as given
    with pytest.raises(InvalidSetting, match=r"ExportConcurrency.*integer"):
        check_setting("ExportConcurrency", "1e3")
