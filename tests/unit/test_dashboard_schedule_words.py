"""Schedules in words on the dashboard's Deployment pages; the expression when unsure."""

from __future__ import annotations

import pytest
from kflow.dashboard.schedule_words import describe_cron, describe_interval, describe_schedule


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("0 9 * * *", "every day at 09:00 Asia/Tokyo"),
        ("* * * * *", "every minute"),
        ("*/5 * * * *", "every 5 minutes"),
        ("*/1 * * * *", "every minute"),
        ("15 * * * *", "every hour at minute 15 Asia/Tokyo"),
        ("0 */6 * * *", "every 6 hours at minute 0 Asia/Tokyo"),
        ("30 8 * * 1-5", "every weekday (Monday to Friday) at 08:30 Asia/Tokyo"),
        ("0 9 * * mon", "every Monday at 09:00 Asia/Tokyo"),
        ("0 9 * * 7", "every Sunday at 09:00 Asia/Tokyo"),
        ("0 9 * * MON,wed,5", "every Monday, Wednesday and Friday at 09:00 Asia/Tokyo"),
        ("0 12 * * 6,0", "every Saturday and Sunday at 12:00 Asia/Tokyo"),
        ("0 9,17 * * *", "every day at 09:00 and 17:00 Asia/Tokyo"),
        ("0 0 1 * *", "every month on the 1st at 00:00 Asia/Tokyo"),
        ("0 6 2,3,11,22 * *", "every month on the 2nd, 3rd, 11th and 22nd at 06:00 Asia/Tokyo"),
        ("0 9 15 3,jun *", "every year on the 15th of March and June at 09:00 Asia/Tokyo"),
        ("@daily", "every day at 00:00 Asia/Tokyo"),
        ("@hourly", "every hour at minute 0 Asia/Tokyo"),
        ("@weekly", "every Sunday at 00:00 Asia/Tokyo"),
        ("  0   9 * * *  ", "every day at 09:00 Asia/Tokyo"),
    ],
)
def test_common_cron_shapes_read_as_sentences(expression: str, words: str) -> None:
    assert describe_cron(expression, "Asia/Tokyo") == words


@pytest.mark.parametrize(
    "expression",
    [
        "*/7 * * * *",  # fires at :56 then :00: not "every 7 minutes"
        "0 */5 * * *",
        "1,2 * * * *",
        "*/15 9-17 * * 1-5",
        "0 9 1-7 * mon",  # day-of-month OR day-of-week: too easy to misstate
        "0 9 L * *",
        "0 9 * * 5#3",
        "0 9 * *",
        "61 9 * * *",
    ],
)
def test_other_shapes_show_their_expression(expression: str) -> None:
    assert describe_cron(expression, "UTC") == f"cron {' '.join(expression.split())} UTC"


def test_intervals_use_the_largest_whole_unit() -> None:
    cases = {
        1: "every second",
        45: "every 45 seconds",
        60: "every minute",
        90: "every 90 seconds",
        300: "every 5 minutes",
        7200: "every 2 hours",
        86400: "every day",
        172800: "every 2 days",
    }
    for seconds, words in cases.items():
        assert describe_interval(seconds) == words


def test_schedule_items_default_to_utc_and_say_when_inactive() -> None:
    assert describe_schedule({"cron": "0 9 * * *"}) == "every day at 09:00 UTC"
    assert describe_schedule({"interval": 600, "active": False}) == "every 10 minutes (inactive)"
    assert describe_schedule({"cron": "0 9 * * *", "timezone": "Europe/Paris"}).endswith("Paris")
