"""Schedules in words ("every day at 09:00 Asia/Tokyo"), for people who do not read cron.

The common shapes get a sentence; anything else is shown as its expression (`cron 0 9 1-7 *
mon`), never as a sentence that might be wrong. Pure, so each shape is a unit test.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from typing import Any

_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_DAY_NUMBERS = {name: i for i, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_DAY_WORDS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTH_NUMBERS = {calendar.month_abbr[i].lower(): i for i in range(1, 13)}


def describe_schedule(schedule: Mapping[str, Any]) -> str:
    """One `spec.schedules[]` item in words, with its time zone for cron schedules."""
    if schedule.get("interval") is not None:
        words = describe_interval(int(schedule["interval"]))
    else:
        words = describe_cron(str(schedule.get("cron") or ""), schedule.get("timezone") or "UTC")
    if schedule.get("active") is False:
        words += " (inactive)"
    return words


def describe_interval(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            return _every(seconds // size, unit)
    return _every(seconds, "second")


def describe_cron(expression: str, timezone: str = "UTC") -> str:
    fields = _ALIASES.get(expression.strip().lower(), expression).split()
    fallback = f"cron {' '.join(fields)} {timezone}"
    if len(fields) != 5:
        return f"cron {expression} {timezone}"
    minute, hour, day, month, weekday = fields
    words = _frequent(minute, hour, day, month, weekday)
    if words is not None:
        return words
    minutes, hours = _numbers(minute, 0, 59), _numbers(hour, 0, 23)
    if minutes is None or len(minutes) != 1:
        return fallback
    if hour == "*" and day == month == weekday == "*":
        return f"every hour at minute {minutes[0]} {timezone}"
    step = _step(hour, 24)
    if step is not None and day == month == weekday == "*":
        return f"{_every(step, 'hour')} at minute {minutes[0]} {timezone}"
    if hours is None:
        return fallback
    times = _and([f"{h:02d}:{minutes[0]:02d}" for h in hours])
    days = _days(day, month, weekday)
    return f"{days} at {times} {timezone}" if days is not None else fallback


def _frequent(minute: str, hour: str, day: str, month: str, weekday: str) -> str | None:
    """Schedules that fire every minute or every N minutes: the same instants in every zone."""
    if hour != "*" or day != "*" or month != "*" or weekday != "*":
        return None
    if minute == "*":
        return "every minute"
    step = _step(minute, 60)
    return _every(step, "minute") if step is not None else None


def _days(day: str, month: str, weekday: str) -> str | None:
    if day == "*" and month == "*" and weekday == "*":
        return "every day"
    if day == "*" and month == "*":
        weekdays = _weekdays(weekday)
        if weekdays is None:
            return None
        if weekdays == [1, 2, 3, 4, 5]:
            return "every weekday (Monday to Friday)"
        if weekdays == [0, 6]:
            return "every Saturday and Sunday"
        return "every " + _and([_DAY_WORDS[d] for d in weekdays])
    if weekday != "*":
        return None
    days = _numbers(day, 1, 31)
    if days is None:
        return None
    ordinals = _and([_ordinal(d) for d in days])
    if month == "*":
        return f"every month on the {ordinals}"
    months = _numbers(month, 1, 12, _MONTH_NUMBERS)
    if months is None:
        return None
    return f"every year on the {ordinals} of " + _and([calendar.month_name[m] for m in months])


def _weekdays(text: str) -> list[int] | None:
    days = _numbers(text, 0, 7, _DAY_NUMBERS)
    return sorted({d % 7 for d in days}) if days is not None else None


def _numbers(
    text: str, low: int, high: int, names: Mapping[str, int] | None = None
) -> list[int] | None:
    """The values of a field made of numbers, names and ranges (`1,3-5`), ascending; None for
    a field that is anything else (`*`, `*/2`, `L`, `5#3`)."""
    values: set[int] = set()
    for part in text.lower().split(","):
        start, dash, end = part.partition("-")
        first, last = _value(start, names), _value(end, names) if dash else _value(start, names)
        if first is None or last is None or not low <= first <= last <= high:
            return None
        values.update(range(first, last + 1))
    return sorted(values)


def _value(text: str, names: Mapping[str, int] | None) -> int | None:
    if text.isdigit():
        return int(text)
    return (names or {}).get(text)


def _step(text: str, cycle: int) -> int | None:
    """N of `*/N` when N divides the cycle evenly (`*/7` minutes fires at :56 then :00, which
    "every 7 minutes" would misstate)."""
    star, slash, number = text.partition("/")
    if star != "*" or not slash or not number.isdigit():
        return None
    step = int(number)
    return step if step > 0 and cycle % step == 0 else None


def _every(count: int, unit: str) -> str:
    return f"every {unit}" if count == 1 else f"every {count} {unit}s"


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10)
    return f"{number}{suffix or 'th'}"
