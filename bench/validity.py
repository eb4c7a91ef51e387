"""Figures a benchmark must not present as measurements.

A latency is the time from a cause (a create call, a scheduled instant, a cancel patch) to its
effect; one below zero means the benchmark's clocks disagree — a bug of the benchmark, not a
fast kflow (the /proc start times converted with whole-second `btime` did exactly that). Only
the kernel's start-time tick is tolerated: a process start time is rounded down to 10 ms. A
part of a benchmark that was not measured must say so by failing, not by printing "skipped"
under a green exit code: such paths rot unnoticed.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench._cluster import format_value
from bench.processes import START_TICK_SECONDS

INVALID_EXIT_CODE = 3
"""The exit code of a benchmark whose figures are not valid (0: targets met, 1: a target
missed, 2: no cluster)."""
NEGATIVE_TOLERANCE_SECONDS = START_TICK_SECONDS
"""How far below zero a latency may read: one tick of a process's start time, 10 ms."""
EXIT_CODES = (
    f"exit codes: 0 every target met; 1 a target missed; 2 no cluster; {INVALID_EXIT_CODE} "
    "invalid figures (a latency below -10 ms, a part not measured: see the lines under the table)"
)


def negative_latencies(row: str, values: Sequence[float]) -> list[str]:
    """A line naming `row` if any of its values is below zero by more than the tolerance."""
    below = [value for value in values if value < -NEGATIVE_TOLERANCE_SECONDS]
    if not below:
        return []
    return [
        f"{row}: {len(below)} of {len(values)} values negative, down to "
        f"{format_value(min(below), 's')} (a latency may read at most "
        f"{format_value(NEGATIVE_TOLERANCE_SECONDS, 's')} below zero, the tick of a process's "
        "start time): the benchmark's clocks disagree"
    ]


def report(benchmark: str, problems: Sequence[str], shown: int = 20) -> str:
    """The lines printed under the table when the figures are not valid (the first `shown`)."""
    lines = [
        f"{benchmark}: INVALID FIGURES (exit code {INVALID_EXIT_CODE}): a bug of the benchmark "
        "or a part it could not measure, not a result of kflow:"
    ]
    lines += [f"  {problem}" for problem in problems[:shown]]
    if len(problems) > shown:
        lines.append(f"  ... and {len(problems) - shown} more")
    return "\n".join(lines)
