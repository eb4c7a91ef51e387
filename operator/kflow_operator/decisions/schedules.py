"""Schedule maths: when a Deployment's schedules fire, and what a scheduled run is called.

Pure functions over aware UTC datetimes; the scheduling pass feeds them the spec and the
clock and writes what they return.

Cron expressions are wall-clock times in an IANA time zone. Daylight saving time makes some
wall-clock times not exist and others happen twice, and the rule here is that every wall-clock
time the expression matches fires exactly once, never zero times and never twice:

- A time that does not exist (02:30 on a spring-forward day in America/New_York, where clocks
  jump from 02:00 to 03:00) fires at the first instant after the gap: 03:00 local time. Several
  matching times inside one gap (`*/15 2 * * *`) fire once together at that instant, merged
  with a run the expression itself puts there. A daily job is never silently skipped.
- A time that happens twice (01:30 on a fall-back day, once in summer time, once in winter
  time) fires once, at its first occurrence (summer time, PEP 495 `fold=0`). The repeated hour
  adds no runs: `0 * * * *` fires at 01:00 summer time and next at 02:00 winter time.

A schedule that must fire every N elapsed seconds regardless of the clock on the wall is an
`interval` schedule: it fires at `anchorTime + k * interval` for every k >= 0. The default
anchor is the Unix epoch, so `interval: 3600` fires on every full UTC hour and every operator,
restarted or not, computes the same instants.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import CroniterError, croniter
from kflow.resources.common import format_timestamp
from kflow.resources.schedules import EPOCH as EPOCH
from kflow.resources.schedules import ScheduleError as ScheduleError
from kflow.resources.schedules import check_schedule

# Larger than any daylight-saving shift in the tz database (2 h, "double summer time"): cron
# iteration starts this far before the wanted instant so no wall-clock time is missed.
_WALL_CLOCK_MARGIN = timedelta(hours=3)
_STEADY_MARGIN = timedelta(minutes=1)

# Kubernetes resource names used as label values and Job names must fit 63 characters.
MAX_RUN_NAME_LENGTH = 63
_TIME_FORMAT = "%Y%m%d-%H%M%S"
_HASH_LENGTH = 8
# "-" + "20261122-090000" + "-" + 8 hex digits
_SUFFIX_LENGTH = 1 + 15 + 1 + _HASH_LENGTH
MAX_RUN_NAME_PREFIX_LENGTH = MAX_RUN_NAME_LENGTH - _SUFFIX_LENGTH


@dataclass(frozen=True)
class CronSchedule:
    expression: str
    timezone: str = "UTC"

    def describe(self) -> str:
        return self.expression if self.timezone == "UTC" else f"{self.expression} {self.timezone}"


@dataclass(frozen=True)
class IntervalSchedule:
    seconds: int
    anchor: datetime = EPOCH

    def describe(self) -> str:
        text = f"every {_describe_seconds(self.seconds)}"
        if self.anchor != EPOCH:
            text += f" from {format_timestamp(self.anchor, timespec='seconds')}"
        return text


Schedule = CronSchedule | IntervalSchedule


def parse_schedules(raw: Sequence[Mapping[str, Any]] | None) -> list[Schedule]:
    """The active schedules of a spec's `schedules[]`, validated.

    The CRD already refuses structurally bad items (both or neither of cron/interval); what
    only Python can check (cron fields and dates, time zones, anchors) is the SDK's schedule
    validator, the same `kflow deploy` runs, so both refuse a schedule with the same message.
    """
    schedules: list[Schedule] = []
    for index, item in enumerate(raw or ()):
        if item.get("active") is False:
            continue
        checked, problems = check_schedule(item, f"spec.schedules[{index}]")
        if checked is None:
            raise problems[0]
        if checked.cron is not None:
            schedules.append(CronSchedule(checked.cron, checked.timezone))
        elif checked.interval is not None:
            schedules.append(IntervalSchedule(checked.interval, checked.anchor))
    return schedules


def parse_instant(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _describe_seconds(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def describe_schedules(schedules: Sequence[Schedule]) -> str:
    """One line for `kubectl get kfd` (status.scheduleSummary)."""
    return ", ".join(schedule.describe() for schedule in schedules) or "none"


# --- fire times --------------------------------------------------------------------------


def fire_times_after(schedule: Schedule, after: datetime) -> Iterator[datetime]:
    """Every instant the schedule fires strictly after `after`, ascending, without end."""
    _require_aware(after)
    if isinstance(schedule, IntervalSchedule):
        return _interval_after(schedule, after)
    return _cron_after(schedule, after)


def fire_times_before(schedule: Schedule, before: datetime) -> Iterator[datetime]:
    """Every instant the schedule fires at or before `before`, descending."""
    _require_aware(before)
    if isinstance(schedule, IntervalSchedule):
        return _interval_before(schedule, before)
    return _cron_before(schedule, before)


def merged_fire_times_after(schedules: Sequence[Schedule], after: datetime) -> Iterator[datetime]:
    """The union of several schedules, ascending; an instant two schedules share fires once."""
    merged = heapq.merge(*(fire_times_after(schedule, after) for schedule in schedules))
    return (instant for instant, _ in itertools.groupby(merged))


def merged_fire_times_before(schedules: Sequence[Schedule], before: datetime) -> Iterator[datetime]:
    merged = heapq.merge(
        *(fire_times_before(schedule, before) for schedule in schedules), reverse=True
    )
    return (instant for instant, _ in itertools.groupby(merged))


def upcoming_fire_times(
    schedules: Sequence[Schedule], after: datetime, count: int
) -> list[datetime]:
    """The next `count` instants strictly after `after`: the runs that exist ahead of time."""
    return list(itertools.islice(merged_fire_times_after(schedules, after), count))


def next_fire_time(schedules: Sequence[Schedule], after: datetime) -> datetime | None:
    return next(merged_fire_times_after(schedules, after), None)


def latest_fire_time(schedules: Sequence[Schedule], at_or_before: datetime) -> datetime | None:
    return next(merged_fire_times_before(schedules, at_or_before), None)


@dataclass(frozen=True)
class MissedWindow:
    """Fire times in a window (start, end]: the most recent few, and how many there were.

    Bounded so that a month of downtime on a per-second schedule costs no more than a few
    iterations: `count` stops at `count_limit` and `count_is_exact` says whether it did.
    """

    latest: tuple[datetime, ...]  # ascending, at most the number asked for
    count: int
    count_is_exact: bool


def fire_times_in_window(
    schedules: Sequence[Schedule],
    start_exclusive: datetime,
    end_inclusive: datetime,
    keep_latest: int,
    count_limit: int = 1000,
) -> MissedWindow:
    kept: list[datetime] = []
    count = 0
    count_limit = max(count_limit, keep_latest)
    for instant in merged_fire_times_before(schedules, end_inclusive):
        if instant <= start_exclusive:
            break
        if count == count_limit:
            return MissedWindow(tuple(reversed(kept)), count, count_is_exact=False)
        count += 1
        if len(kept) < keep_latest:
            kept.append(instant)
    return MissedWindow(tuple(reversed(kept)), count, count_is_exact=True)


def _interval_after(schedule: IntervalSchedule, after: datetime) -> Iterator[datetime]:
    step = timedelta(seconds=schedule.seconds)
    k = 0 if after < schedule.anchor else (after - schedule.anchor) // step + 1
    instant = schedule.anchor + k * step
    while True:
        yield instant
        instant += step


def _interval_before(schedule: IntervalSchedule, before: datetime) -> Iterator[datetime]:
    if before < schedule.anchor:
        return
    step = timedelta(seconds=schedule.seconds)
    k = (before - schedule.anchor) // step
    while k >= 0:
        yield schedule.anchor + k * step
        k -= 1


def _margin(zone: ZoneInfo, instant: datetime) -> timedelta:
    """How far from `instant`'s wall-clock time cron iteration must start.

    Near a daylight-saving change, wall-clock times up to the shift away can map past
    `instant`, so iteration starts the full margin away. Everywhere else (all year in UTC) the
    wall clock is a fixed offset from UTC, and one minute suffices: for `* * * * *` that is
    2 croniter steps instead of 180, the bulk of the operator's CPU at a busy minute.
    """
    before = (instant - _WALL_CLOCK_MARGIN).astimezone(zone).utcoffset()
    after = (instant + _WALL_CLOCK_MARGIN).astimezone(zone).utcoffset()
    return _WALL_CLOCK_MARGIN if before != after else _STEADY_MARGIN


def _cron_after(schedule: CronSchedule, after: datetime) -> Iterator[datetime]:
    zone = ZoneInfo(schedule.timezone)
    start_wall = _wall_clock(after, zone) - _margin(zone, after)
    walls = croniter(schedule.expression, start_wall)
    previous: datetime | None = None
    while True:
        try:
            wall = walls.get_next(datetime)
        except CroniterError:  # no further match within croniter's search horizon
            return
        instant = instant_of_wall_time(wall, zone)
        if instant > after and instant != previous:
            previous = instant
            yield instant


def _cron_before(schedule: CronSchedule, before: datetime) -> Iterator[datetime]:
    zone = ZoneInfo(schedule.timezone)
    start_wall = _wall_clock(before, zone) + _margin(zone, before)
    walls = croniter(schedule.expression, start_wall)
    previous: datetime | None = None
    while True:
        try:
            wall = walls.get_prev(datetime)
        except (CroniterError, ValueError, OverflowError):  # ran off year 1
            return
        instant = instant_of_wall_time(wall, zone)
        if instant <= before and instant != previous:
            previous = instant
            yield instant


def _wall_clock(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def instant_of_wall_time(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant a naive wall-clock time in `zone` fires at, by the module's DST rule."""
    first = wall.replace(tzinfo=zone, fold=0)
    as_utc = first.astimezone(UTC)
    if _wall_clock(as_utc, zone) == wall:
        # Exists; when it happens twice fold=0 is the earlier occurrence.
        return as_utc
    # In a gap: the first instant whose wall-clock time is at or after `wall` is the end of
    # the gap. Both fold readings bracket it; transitions fall on whole seconds.
    low = min(as_utc, wall.replace(tzinfo=zone, fold=1).astimezone(UTC))
    high = max(as_utc, wall.replace(tzinfo=zone, fold=1).astimezone(UTC))
    low_s, high_s = int(low.timestamp()), int(high.timestamp())
    while low_s < high_s:
        middle = (low_s + high_s) // 2
        if _wall_clock(datetime.fromtimestamp(middle, UTC), zone) >= wall:
            high_s = middle
        else:
            low_s = middle + 1
    return datetime.fromtimestamp(low_s, UTC)


def _require_aware(instant: datetime) -> None:
    if instant.tzinfo is None:
        raise ValueError("schedule maths works on aware datetimes; got a naive one")


# --- names -------------------------------------------------------------------------------

_INVALID_NAME_CHARACTERS = re.compile(r"[^a-z0-9-]+")


def scheduled_run_name(deployment_name: str, deployment_uid: str, scheduled_time: datetime) -> str:
    """The FlowRun name of the run a schedule fires at `scheduled_time`.

    The same Deployment (by UID, so a deleted and re-created Deployment of the same name gets
    new runs) and the same instant always give the same name: creating it twice is a 409, which
    is how two operators, or one restarted mid-way, create each scheduled run exactly once.
    A valid DNS-1123 label (63 characters at most) with a readable prefix and the UTC time.
    """
    _require_aware(scheduled_time)
    instant = scheduled_time.astimezone(UTC)
    digest = hashlib.sha256(f"{deployment_uid}/{instant.isoformat()}".encode()).hexdigest()
    return f"{run_name_prefix(deployment_name)}-{instant:{_TIME_FORMAT}}-{digest[:_HASH_LENGTH]}"


def run_name_prefix(deployment_name: str) -> str:
    cleaned = _INVALID_NAME_CHARACTERS.sub("-", deployment_name.lower())
    cleaned = re.sub("-{2,}", "-", cleaned).strip("-")
    cleaned = cleaned[:MAX_RUN_NAME_PREFIX_LENGTH].rstrip("-")
    return cleaned or "run"
