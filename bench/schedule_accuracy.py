"""Schedule accuracy benchmark (issue 6).

Measures, against the real local cluster with the operator as a child process:
delay between a run's scheduled time and its start (p50/p99) over a few hundred
interval runs, and 200 Deployments with per-minute schedules on one operator.
"""

import sys

MEASURED = (
    "interval runs: scheduled time -> start delay, p50/p99",
    "200 Deployments with per-minute schedules: start delay and drift over minutes",
)


def main() -> int:
    """Print what this benchmark measures (the measurements follow in later commits)."""
    for item in MEASURED:
        print(f"schedule_accuracy will measure: {item}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
