"""Whether one `schedules[]` item of a Deployment can be used, and its normalised form.

The one schedule validator: `kflow deploy` reports its problems before anything reaches the
cluster, and the operator refuses a Deployment with the same messages, so a schedule that
deploys is a schedule that runs. It lists every problem of an item (a report for a person
fixing a file) and names each by field, under the prefix the caller passes
(`spec.schedules[0]` for the operator, `schedule` or `schedules[1]` for kflow.yaml).

Cron expressions are what croniter accepts in 5 fields (so `L`, `5#3`, names such as `mon`
keep working); when croniter refuses one, the problem names the field and its range
("hour 25 out of range (0-23)"). An expression that can never fire (`0 0 30 2 *`) is refused
too: the operator would otherwise show a Deployment that silently never runs.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""The default anchor of interval schedules: every operator computes the same instants."""


@dataclass(frozen=True)
class CronField:
    name: str
    low: int
    high: int
    names: frozenset[str] = frozenset()
    extra_high: int | None = None
    """A value above `high` cron also accepts (7 is Sunday, like 0)."""

    def describe(self) -> str:
        return f"{self.name} {self.low}-{self.high}"


_MONTH_NAMES = frozenset(name.lower() for name in calendar.month_abbr if name)
_DAY_NAMES = frozenset(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
CRON_FIELDS = (
    CronField("minute", 0, 59),
    CronField("hour", 0, 23),
    CronField("day-of-month", 1, 31),
    CronField("month", 1, 12, _MONTH_NAMES),
    CronField("day-of-week", 0, 6, _DAY_NAMES, extra_high=7),
)
_CRON_LEGEND = ", ".join(field.describe() for field in CRON_FIELDS)
_CRON_EXAMPLE = "minute hour day-of-month month day-of-week (e.g. '0 9 * * *')"

# The longest month by month number, leap years included: 30 February never comes.
_DAYS_IN_MONTH = {
    month: 29 if month == 2 else calendar.monthrange(2001, month)[1] for month in range(1, 13)
}


class ScheduleError(ValueError):
    """A schedule that cannot be used; names the field and says what is allowed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class CheckedSchedule:
    """One valid schedules[] item, normalised: a cron expression (single-spaced) in an IANA
    zone, or an interval in seconds from a whole-second UTC anchor."""

    cron: str | None = None
    timezone: str = "UTC"
    interval: int | None = None
    anchor: datetime = EPOCH


def check_schedule(
    item: Mapping[str, Any], field: str
) -> tuple[CheckedSchedule | None, list[ScheduleError]]:
    """The item normalised, or None and every problem it has (never both empty)."""
    cron, interval = item.get("cron"), item.get("interval")
    if (cron is None) == (interval is None):
        return None, [ScheduleError(field, "give exactly one of `cron` or `interval`")]
    problems: list[ScheduleError] = []

    def attempt(check: Any, key: str) -> Any:
        try:
            return check(item.get(key), f"{field}.{key}")
        except ScheduleError as error:
            problems.append(error)
            return None

    if cron is not None:
        if item.get("anchorTime") is not None:
            problems.append(
                ScheduleError(f"{field}.anchorTime", "applies to `interval` schedules only")
            )
        checked = CheckedSchedule(
            cron=attempt(parse_cron, "cron"), timezone=attempt(parse_timezone, "timezone")
        )
    else:
        if item.get("timezone") is not None:
            problems.append(
                ScheduleError(
                    f"{field}.timezone",
                    "applies to `cron` schedules only (an interval counts elapsed seconds)",
                )
            )
        checked = CheckedSchedule(
            interval=attempt(parse_interval, "interval"),
            anchor=attempt(parse_anchor, "anchorTime"),
        )
    return (None, problems) if problems else (checked, [])


def parse_cron(expression: object, field: str) -> str:
    """The expression with single spaces; ScheduleError naming the offending cron field."""
    text = str(expression)
    parts = text.split()
    if len(parts) != len(CRON_FIELDS):
        raise ScheduleError(
            field, f"{text!r} is not a cron expression: use 5 fields, {_CRON_EXAMPLE}"
        )
    normalized = " ".join(parts)
    if not croniter.is_valid(normalized):
        found = [p for p in map(_field_problem, CRON_FIELDS, parts) if p is not None]
        reason = "; ".join(found) or "not a valid cron expression"
        raise ScheduleError(field, f"{text!r}: {reason}; the fields are {_CRON_LEGEND}")
    try:
        croniter(normalized, datetime(2000, 1, 1)).get_next(datetime)
    except CroniterError:
        raise ScheduleError(
            field, f"{text!r} never matches a date{_why_never(normalized)}"
        ) from None
    return normalized


def _field_problem(field: CronField, text: str) -> str | None:
    """What is wrong with one field of an expression croniter refused, if it is this one."""
    for element in text.split(","):
        base, slash, step = element.partition("/")
        if slash and not (step.isdigit() and int(step) >= 1):
            return f"{field.name} step {step!r} must be a whole number >= 1"
        if base in ("*", "?"):
            continue
        for bound in base.split("-", 1):
            if bound.lower() in field.names:
                continue
            if not bound.isdigit():
                return f"{field.name} {bound!r} is not a number ({field.low}-{field.high})"
            value = int(bound)
            if not (field.low <= value <= field.high or value == field.extra_high):
                return f"{field.name} {value} out of range ({field.low}-{field.high})"
    return None


def _why_never(expression: str) -> str:
    """`: day-of-month 30 does not occur in February` when the days and months are plain."""
    days, months = croniter.expand(expression)[0][2:4]
    if "*" in months or not all(isinstance(day, int) for day in days):
        return " (e.g. 30 February)"
    month_names = " or ".join(calendar.month_name[int(month)] for month in months)
    listed = ",".join(str(day) for day in days)
    if all(int(day) > _DAYS_IN_MONTH[int(month)] for day in days for month in months):
        return f": day-of-month {listed} does not occur in {month_names}"
    return " (e.g. 30 February)"


def parse_timezone(name: object, field: str) -> str:
    if name is None:
        return "UTC"
    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            field,
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Berlin' or 'UTC'",
        ) from None
    return str(name)


def parse_interval(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ScheduleError(field, f"{value!r} is not a whole number of seconds >= 1")
    return value


def parse_anchor(value: object, field: str) -> datetime:
    if value is None:
        return EPOCH
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ScheduleError(
                field, f"{value!r} is not an RFC 3339 time such as '2026-01-01T09:00:00Z'"
            ) from None
    if parsed.tzinfo is None:
        raise ScheduleError(field, f"{value!r} has no UTC offset; add 'Z' or '+09:00'")
    # Whole seconds: run names carry seconds, and two anchors a microsecond apart must not
    # produce two distinct runs for what a user reads as the same instant.
    return parsed.astimezone(UTC).replace(microsecond=0)
