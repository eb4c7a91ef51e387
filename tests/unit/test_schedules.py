"""Schedule maths: cron in time zones across DST, intervals with anchors, merging, run names."""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from kflow_operator.decisions import schedules as maths
from kflow_operator.decisions.schedules import (
    EPOCH,
    MAX_RUN_NAME_LENGTH,
    CronSchedule,
    IntervalSchedule,
    ScheduleError,
    describe_schedules,
    fire_times_before,
    fire_times_in_window,
    latest_fire_time,
    next_fire_time,
    parse_schedules,
    scheduled_run_name,
    upcoming_fire_times,
)

NEW_YORK = ZoneInfo("America/New_York")
DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def local(instants: list[datetime], zone: ZoneInfo = NEW_YORK) -> list[str]:
    return [instant.astimezone(zone).isoformat() for instant in instants]


# --- cron in a time zone -----------------------------------------------------------------


def test_daily_cron_in_utc() -> None:
    schedule = CronSchedule("0 9 * * *")
    assert upcoming_fire_times([schedule], utc(2026, 1, 1, 9), 3) == [
        utc(2026, 1, 2, 9),
        utc(2026, 1, 3, 9),
        utc(2026, 1, 4, 9),
    ]


def test_daily_cron_in_a_time_zone_fires_at_local_wall_clock_time() -> None:
    schedule = CronSchedule("0 9 * * *", "Asia/Tokyo")
    assert upcoming_fire_times([schedule], utc(2025, 12, 31, 12), 2) == [
        utc(2026, 1, 1, 0),
        utc(2026, 1, 2, 0),
    ]


def test_spring_forward_nonexistent_time_fires_once_at_the_end_of_the_gap() -> None:
    # 2026-03-08 in New York: 02:00 EST jumps to 03:00 EDT; 02:30 does not exist.
    schedule = CronSchedule("30 2 * * *", "America/New_York")
    fires = upcoming_fire_times([schedule], utc(2026, 3, 7), 3)
    assert local(fires) == [
        "2026-03-07T02:30:00-05:00",
        "2026-03-08T03:00:00-04:00",
        "2026-03-09T02:30:00-04:00",
    ]


def test_several_times_in_one_gap_fire_once_together() -> None:
    schedule = CronSchedule("*/20 2,3 8 3 *", "America/New_York")
    fires = upcoming_fire_times([schedule], utc(2026, 3, 8), 4)
    assert local(fires) == [
        "2026-03-08T03:00:00-04:00",  # 02:00, 02:20, 02:40 and 03:00 itself: one run
        "2026-03-08T03:20:00-04:00",
        "2026-03-08T03:40:00-04:00",
        "2027-03-08T02:00:00-05:00",
    ]


def test_fall_back_ambiguous_time_fires_once_at_its_first_occurrence() -> None:
    # 2026-11-01 in New York: 02:00 EDT falls back to 01:00 EST; 01:30 happens twice.
    schedule = CronSchedule("30 1 * * *", "America/New_York")
    fires = upcoming_fire_times([schedule], utc(2026, 10, 31), 3)
    assert local(fires) == [
        "2026-10-31T01:30:00-04:00",
        "2026-11-01T01:30:00-04:00",
        "2026-11-02T01:30:00-05:00",
    ]


def test_fall_back_starting_inside_the_repeated_hour_does_not_fire_again() -> None:
    schedule = CronSchedule("30 1 * * *", "America/New_York")
    # 01:10 EST, the second pass through 01:xx, after 01:30 EDT has already fired.
    second_pass = datetime(2026, 11, 1, 1, 10, tzinfo=NEW_YORK, fold=1)
    assert local(upcoming_fire_times([schedule], second_pass, 1)) == ["2026-11-02T01:30:00-05:00"]


def test_hourly_cron_across_fall_back_adds_no_run_for_the_repeated_hour() -> None:
    schedule = CronSchedule("0 * * * *", "America/New_York")
    fires = upcoming_fire_times([schedule], utc(2026, 11, 1, 4), 4)
    assert local(fires) == [
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T02:00:00-05:00",
        "2026-11-01T03:00:00-05:00",
        "2026-11-01T04:00:00-05:00",
    ]


def test_hourly_cron_across_spring_forward_loses_no_elapsed_hour() -> None:
    schedule = CronSchedule("0 * * * *", "America/New_York")
    fires = upcoming_fire_times([schedule], utc(2026, 3, 8, 5), 3)
    assert local(fires) == [
        "2026-03-08T01:00:00-05:00",
        "2026-03-08T03:00:00-04:00",
        "2026-03-08T04:00:00-04:00",
    ]
    assert fires[1] - fires[0] == timedelta(hours=1)


def test_backwards_iteration_agrees_with_forwards_across_both_transitions() -> None:
    schedule = CronSchedule("*/30 * * * *", "America/New_York")
    for start in (utc(2026, 3, 8, 3), utc(2026, 11, 1, 3)):
        forwards = upcoming_fire_times([schedule], start, 20)
        backwards = list(_take(fire_times_before(schedule, forwards[-1]), 20))
        assert backwards == sorted(forwards, reverse=True)


def test_cron_in_a_half_hour_dst_zone() -> None:
    # Lord Howe Island shifts by 30 minutes: 02:00 -> 02:30 on 2026-10-04.
    schedule = CronSchedule("15 2 * * *", "Australia/Lord_Howe")
    fire = next_fire_time([schedule], utc(2026, 10, 3, 12))
    assert fire is not None
    assert fire.astimezone(ZoneInfo("Australia/Lord_Howe")).strftime("%H:%M") == "02:30"


# --- intervals ---------------------------------------------------------------------------


def test_interval_without_anchor_aligns_to_the_epoch() -> None:
    schedule = IntervalSchedule(3600)
    assert upcoming_fire_times([schedule], utc(2026, 5, 1, 10, 20), 2) == [
        utc(2026, 5, 1, 11),
        utc(2026, 5, 1, 12),
    ]


def test_interval_fires_strictly_after_the_given_instant() -> None:
    schedule = IntervalSchedule(60)
    assert next_fire_time([schedule], utc(2026, 5, 1, 10, 0)) == utc(2026, 5, 1, 10, 1)


def test_interval_with_anchor_in_the_past_keeps_its_phase() -> None:
    schedule = IntervalSchedule(90, utc(2026, 1, 1, 0, 0, 10))
    fires = upcoming_fire_times([schedule], utc(2026, 1, 1, 0, 2), 3)
    assert fires == [
        utc(2026, 1, 1, 0, 3, 10),
        utc(2026, 1, 1, 0, 4, 40),
        utc(2026, 1, 1, 0, 6, 10),
    ]


def test_interval_with_anchor_in_the_future_starts_at_the_anchor() -> None:
    schedule = IntervalSchedule(60, utc(2030, 1, 1))
    assert upcoming_fire_times([schedule], utc(2026, 1, 1), 2) == [
        utc(2030, 1, 1),
        utc(2030, 1, 1, 0, 1),
    ]
    assert latest_fire_time([schedule], utc(2029, 12, 31)) is None


def test_interval_ignores_daylight_saving() -> None:
    schedule = IntervalSchedule(3600)
    fires = upcoming_fire_times([schedule], utc(2026, 11, 1, 4), 4)
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(fires))


def test_interval_backwards() -> None:
    schedule = IntervalSchedule(60, utc(2026, 1, 1))
    assert list(fire_times_before(schedule, utc(2026, 1, 1, 0, 2, 30))) == [
        utc(2026, 1, 1, 0, 2),
        utc(2026, 1, 1, 0, 1),
        utc(2026, 1, 1),
    ]


# --- several schedules -------------------------------------------------------------------


def test_several_schedules_merge_in_order_and_shared_instants_fire_once() -> None:
    schedules: list[CronSchedule | IntervalSchedule] = [
        CronSchedule("0 * * * *"),
        IntervalSchedule(1800),
        CronSchedule("15 10 * * *"),
    ]
    assert upcoming_fire_times(schedules, utc(2026, 1, 1, 10), 4) == [
        utc(2026, 1, 1, 10, 15),
        utc(2026, 1, 1, 10, 30),
        utc(2026, 1, 1, 11),
        utc(2026, 1, 1, 11, 30),
    ]


def test_no_schedules_never_fire() -> None:
    assert upcoming_fire_times([], utc(2026, 1, 1), 3) == []
    assert next_fire_time([], utc(2026, 1, 1)) is None


def test_window_returns_the_latest_and_an_exact_count() -> None:
    window = fire_times_in_window([IntervalSchedule(60)], utc(2026, 1, 1), utc(2026, 1, 1, 1), 2)
    assert window.latest == (utc(2026, 1, 1, 0, 59), utc(2026, 1, 1, 1))
    assert (window.count, window.count_is_exact) == (60, True)


def test_window_count_is_bounded_for_long_downtime() -> None:
    window = fire_times_in_window(
        [IntervalSchedule(1)], utc(2026, 1, 1), utc(2026, 2, 1), keep_latest=1, count_limit=100
    )
    assert window.latest == (utc(2026, 2, 1),)
    assert (window.count, window.count_is_exact) == (100, False)


def test_empty_window() -> None:
    window = fire_times_in_window(
        [CronSchedule("0 9 * * *")], utc(2026, 1, 1, 9), utc(2026, 1, 2), 3
    )
    assert (window.latest, window.count, window.count_is_exact) == ((), 0, True)


# --- parsing -----------------------------------------------------------------------------


def test_parse_schedules_from_a_spec() -> None:
    parsed = parse_schedules(
        [
            {"cron": "0  9 * * *", "timezone": "Europe/Berlin"},
            {"interval": 300, "anchorTime": "2026-01-01T00:00:00.5Z"},
            {"cron": "0 0 * * *", "active": False},
        ]
    )
    assert parsed == [
        CronSchedule("0 9 * * *", "Europe/Berlin"),
        IntervalSchedule(300, utc(2026, 1, 1)),
    ]
    assert (
        describe_schedules(parsed) == "0 9 * * * Europe/Berlin, every 5m from 2026-01-01T00:00:00Z"
    )
    assert parse_schedules(None) == []
    assert IntervalSchedule(45).describe() == "every 45s"
    assert IntervalSchedule(86400, EPOCH).describe() == "every 1d"


@pytest.mark.parametrize(
    ("item", "field", "hint"),
    [
        ({"cron": "61 * * * *"}, "spec.schedules[0].cron", "minute 0-59"),
        ({"cron": "0 9 * *"}, "spec.schedules[0].cron", "5 fields"),
        ({"cron": "0 0 30 2 *"}, "spec.schedules[0].cron", "never matches"),
        ({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}, "spec.schedules[0].timezone", "IANA"),
        ({"interval": 0}, "spec.schedules[0].interval", ">= 1"),
        ({"interval": 60, "anchorTime": "tomorrow"}, "spec.schedules[0].anchorTime", "RFC 3339"),
        (
            {"interval": 60, "anchorTime": "2026-01-01T00:00:00"},
            "spec.schedules[0].anchorTime",
            "offset",
        ),
        ({}, "spec.schedules[0]", "exactly one"),
    ],
)
def test_parse_errors_name_the_field_and_what_is_allowed(
    item: dict[str, object], field: str, hint: str
) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedules([item])
    assert caught.value.field == field
    assert hint in str(caught.value)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_fire_time([IntervalSchedule(60)], datetime(2026, 1, 1))


# --- run names ---------------------------------------------------------------------------


def test_run_name_is_deterministic_readable_and_a_dns_label() -> None:
    name = scheduled_run_name("example-deployment", "uid-1", utc(2026, 1, 2, 9))
    assert name == scheduled_run_name("example-deployment", "uid-1", utc(2026, 1, 2, 9))
    assert name.startswith("example-deployment-20260102-090000-")
    assert DNS_1123_LABEL.match(name)


def test_run_name_is_the_same_for_the_same_instant_in_another_zone() -> None:
    instant = utc(2026, 1, 2, 9)
    assert scheduled_run_name("d", "u", instant) == scheduled_run_name(
        "d", "u", instant.astimezone(ZoneInfo("Asia/Tokyo"))
    )


def test_run_name_differs_by_uid_and_time() -> None:
    names = {
        scheduled_run_name("d", "uid-1", utc(2026, 1, 2, 9)),
        scheduled_run_name("d", "uid-2", utc(2026, 1, 2, 9)),
        scheduled_run_name("d", "uid-1", utc(2026, 1, 2, 9, 0, 1)),
    }
    assert len(names) == 3


@pytest.mark.parametrize(
    "deployment_name",
    ["a" * 253, "my.deployment.with.dots", "x-" * 40, "UPPER", "-", "a" + "-" * 37 + "b"],
)
def test_run_name_fits_63_characters_for_any_deployment_name(deployment_name: str) -> None:
    name = scheduled_run_name(deployment_name, "uid", utc(2026, 1, 2, 9))
    assert len(name) <= MAX_RUN_NAME_LENGTH
    assert DNS_1123_LABEL.match(name), name


def _take(iterator: Iterator[datetime], count: int) -> list[datetime]:
    return list(itertools.islice(iterator, count))


def test_the_short_iteration_margin_gives_what_the_full_margin_gives() -> None:
    """Away from DST changes cron iteration starts one minute off instead of three hours off
    (the operator's hot path); every answer must be the same as with the full margin."""
    expressions = ["* * * * *", "*/7 * * * *", "30 2 * * *", "0 * * * *", "15 1,2,3 * * 0"]
    zones = ["UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata"]
    rng = random.Random(20261122)
    # Around the 2026 DST changes of those zones, and at random through the year.
    starts = [datetime(2026, 3, 8, 6, tzinfo=UTC), datetime(2026, 11, 1, 5, tzinfo=UTC)]
    starts += [datetime(2026, 3, 29, 0, tzinfo=UTC), datetime(2026, 4, 4, 15, tzinfo=UTC)]
    instants = [s + timedelta(minutes=rng.randint(-240, 240), seconds=rng.random()) for s in starts]
    instants += [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 31_536_000))]
    instants += [datetime(2026, 6, 1, 12, 0, tzinfo=UTC)]  # exactly on a fire time

    def answers(schedule: list[maths.Schedule], at: datetime) -> tuple[object, ...]:
        return (
            maths.upcoming_fire_times(schedule, at, 3),
            maths.latest_fire_time(schedule, at),
            maths.fire_times_in_window(schedule, at - timedelta(hours=5), at, 4),
        )

    for expression in expressions:
        for zone in zones:
            schedule = maths.parse_schedules([{"cron": expression, "timezone": zone}])
            for at in instants:
                quick = answers(schedule, at)
                with pytest.MonkeyPatch.context() as patch:
                    patch.setattr(maths, "_STEADY_MARGIN", maths._WALL_CLOCK_MARGIN)
                    full = answers(schedule, at)
                assert quick == full, (expression, zone, at)
