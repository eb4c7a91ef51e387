"""HTML escaping in the dashboard: user-controlled text never becomes markup."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

from kflow.dashboard.markup import Markup, escape, html, join, query_string
from kflow.dashboard.pages.common import Scope, badge, short_duration
from kflow.dashboard.pages.runs import run_row

SCRIPT = '<script>alert("x")</script>'
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_substituted_text_is_escaped_quotes_included() -> None:
    assert html("<b>$v</b>", v=SCRIPT) == "<b>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</b>"
    assert html('<a title="$v">', v="\" onmouseover='x'") == (
        '<a title="&quot; onmouseover=&#x27;x&#x27;">'
    )


def test_markup_from_html_is_not_escaped_twice() -> None:
    inner = html("<i>$v</i>", v="a&b")
    assert html("<b>$v</b>", v=inner) == "<b><i>a&amp;b</i></b>"
    assert isinstance(inner, Markup)


def test_a_plain_str_subclass_value_is_still_escaped() -> None:
    class Sneaky(str):
        pass

    assert escape(Sneaky("<b>")) == "&lt;b&gt;"


def test_join_escapes_each_part_and_the_separator() -> None:
    assert join(["<a>", html("<b>$x</b>", x="1")], " & ") == "&lt;a&gt; &amp; <b>1</b>"


def test_dollar_signs_in_values_are_not_substituted_again() -> None:
    assert html("$a", a="$b") == "$b"


def test_query_string_keeps_set_values_only_and_encodes_them() -> None:
    assert (
        query_string({"state": "FAILED", "tag": "", "page": 2, "x": None}) == "?state=FAILED&page=2"
    )
    assert query_string({"tag": "a&b=<c>"}) == "?tag=a%26b%3D%3Cc%3E"
    assert query_string({}) == ""


def test_a_run_row_escapes_every_user_controlled_field() -> None:
    run = {
        "metadata": {"name": "r", "namespace": "ns", "creationTimestamp": "2026-01-02T03:00:00Z"},
        "spec": {"deploymentRef": {"name": "d"}, "tags": [SCRIPT]},
        "status": {"runName": SCRIPT, "state": {"type": "FAILED", "name": SCRIPT}},
    }
    row = run_row(run, Scope("ns", "ctx", "https://api", "token"), NOW)
    assert "<script>" not in row
    assert row.count("&lt;script&gt;") == 3


def test_state_badge_says_type_and_a_name_that_adds_something() -> None:
    assert ">COMPLETED<" in badge("COMPLETED", "Completed")
    assert ">SCHEDULED · Late<" in badge("SCHEDULED", "Late")
    assert ">no state yet<" in badge("NONE")


def test_short_durations_use_two_adjacent_units_and_tenths_under_ten_seconds() -> None:
    cases = {
        0: "0s",
        0.44: "0.4s",
        -3: "0s",
        9.5: "9.5s",
        42: "42s",
        65: "1m 5s",
        3600: "1h",
        3661: "1h 1m",
        2 * 86400 + 4 * 3600: "2d 4h",
    }
    for seconds, words in cases.items():
        assert short_duration(timedelta(seconds=seconds)) == words


def test_importing_kflow_or_running_another_command_never_imports_the_dashboard() -> None:
    probe = (
        "import sys\n"
        "import kflow\n"
        "from kflow.cli import build_parser\n"
        "build_parser(['flow-run', 'ls'])\n"
        "print(sorted(m for m in sys.modules if m.startswith(('kflow.dashboard', 'aiohttp'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
