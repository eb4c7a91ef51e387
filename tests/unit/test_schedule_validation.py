"""The one schedule validator (kflow.resources.schedules) that `kflow deploy` and the operator
share: what it accepts, and what each refusal says."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from kflow.resources import CatchupPolicy, ConcurrencyPolicy
from kflow.resources.schedules import EPOCH, CheckedSchedule, check_schedule, parse_cron
from kflow_operator.decisions import deployment_runs
from kflow_operator.decisions.schedules import ScheduleError

LEGEND = "minute 0-59, hour 0-23, day-of-month 1-31, month 1-12, day-of-week 0-6"


@pytest.mark.parametrize(
    ("cron", "reason"),
    [
        ("0 25 * * *", "hour 25 out of range (0-23)"),
        ("61 * * * *", "minute 61 out of range (0-59)"),
        ("0 9 0 * *", "day-of-month 0 out of range (1-31)"),
        ("0 9 1-40 * *", "day-of-month 40 out of range (1-31)"),
        ("0 9 * 13 *", "month 13 out of range (1-12)"),
        ("0 9 * * 8", "day-of-week 8 out of range (0-6)"),
        ("*/0 * * * *", "minute step '0' must be a whole number >= 1"),
        ("x 9 * * *", "minute 'x' is not a number (0-59)"),
        ("61 25 * * *", "minute 61 out of range (0-59); hour 25 out of range (0-23)"),
    ],
)
def test_a_refused_cron_names_the_field_and_its_range(cron: str, reason: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_cron(cron, "schedule.cron")
    assert caught.value.field == "schedule.cron"
    assert caught.value.message == f"{cron!r}: {reason}; the fields are {LEGEND}"


@pytest.mark.parametrize(
    ("cron", "why"),
    [
        ("0 0 30 2 *", ": day-of-month 30 does not occur in February"),
        ("0 0 30,31 2 *", ": day-of-month 30,31 does not occur in February"),
        ("0 0 31 4,6 *", ": day-of-month 31 does not occur in April or June"),
    ],
)
def test_a_cron_that_never_fires_is_refused(cron: str, why: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_cron(cron, "c")
    assert caught.value.message == f"{cron!r} never matches a date{why}"


@pytest.mark.parametrize(
    "cron",
    ["0 9 * * 7", "0 0 L 2 *", "0 0 29 2 *", "0 9 * * mon-fri", "0 9 * jan-mar *", "0 0 30 2 1"],
)
def test_what_croniter_accepts_and_can_fire_stays_accepted(cron: str) -> None:
    assert parse_cron(f" {cron}  ", "c") == cron


def test_an_item_is_normalised() -> None:
    assert check_schedule({"cron": "0  9 * * *", "timezone": "Asia/Tokyo"}, "s") == (
        CheckedSchedule(cron="0 9 * * *", timezone="Asia/Tokyo"),
        [],
    )
    anchored = {"interval": 60, "anchorTime": "2026-01-01T09:00:00.5+09:00"}
    assert check_schedule(anchored, "s") == (
        CheckedSchedule(interval=60, anchor=datetime(2026, 1, 1, 0, tzinfo=UTC)),
        [],
    )
    assert check_schedule({"interval": 60}, "s")[0] == CheckedSchedule(interval=60, anchor=EPOCH)


def test_an_item_lists_every_problem_it_has() -> None:
    checked, problems = check_schedule(
        {"cron": "0 25 * * *", "timezone": "Mars/Base", "anchorTime": "2026-01-01T00:00:00Z"},
        "spec.schedules[3]",
    )
    assert checked is None
    assert [problem.field for problem in problems] == [
        "spec.schedules[3].anchorTime",
        "spec.schedules[3].cron",
        "spec.schedules[3].timezone",
    ]


def test_the_operator_uses_the_resources_enums() -> None:
    """One definition of the run policies: the scheduler passes the spec's values through."""
    assert deployment_runs.ConcurrencyPolicy is ConcurrencyPolicy
    assert deployment_runs.RunPolicy().catchup is CatchupPolicy.LATEST
