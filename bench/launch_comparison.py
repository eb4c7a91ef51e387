"""Process runs started by the fork server next to runs started by exec, in the same benchmark
run against the same operator: created -> RUNNING visible (reported by the flow's own process).

The exec column's Deployment names the operator's own Python as `process.pythonExecutable`,
which the fork server never runs in its warm interpreter: the child execs a fresh Python that
imports kflow, as every process run started before the fork server (issue 16).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

from bench._cluster import format_value, percentile, render_table, verdict

RUNNING_P50_TARGET = 0.150
"""Issue 16's goal for process runs started by the fork server."""
EXEC_LABEL = "process-exec"


def exec_infrastructure(workdir: str) -> dict[str, object]:
    """A process run the fork server execs: a fresh interpreter, as before it existed."""
    return {
        "type": "process",
        "process": {"workingDirectory": workdir, "pythonExecutable": sys.executable},
    }


def speedup(forked: float, execd: float) -> str:
    if math.isnan(forked) or math.isnan(execd) or forked <= 0:
        return "-"
    return f"{execd / forked:.1f}x faster"


def render(forked: Sequence[float], execd: Sequence[float]) -> str:
    rows = []
    for label, fraction in (("p50", 0.5), ("p95", 0.95)):
        fork_value, exec_value = percentile(forked, fraction), percentile(execd, fraction)
        passed = None
        target = ""
        if fraction == 0.5:
            passed = fork_value < RUNNING_P50_TARGET
            target = f"< {format_value(RUNNING_P50_TARGET, 's')} (fork server)"
        rows.append(
            [
                f"created -> RUNNING visible, {label} (n={len(forked)}/{len(execd)})",
                format_value(fork_value, "s"),
                format_value(exec_value, "s"),
                speedup(fork_value, exec_value),
                target,
                verdict(passed),
            ]
        )
    return render_table(
        ["process runs", "fork server", "exec", "ratio", "kflow target", "result"], rows
    )


def passed(forked: Sequence[float]) -> bool:
    return percentile(forked, 0.5) < RUNNING_P50_TARGET
