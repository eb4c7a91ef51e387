"""Operator latency benchmark (issues 4 and 5).

Measures, against the real local cluster with the operator as a child process:
FlowRun created -> flow process started (p50/p99), cancel -> process gone
(grace enforcement), 500 runs created at once -> all terminal, operator peak RSS;
Docker and Kubernetes Job launcher rows beside the process launcher.
"""

import sys

MEASURED = (
    "FlowRun created -> infrastructure started (PENDING) and RUNNING, p50/p99",
    "cancel patch -> process gone (handles SIGTERM / ignores SIGTERM, grace enforcement)",
    "500 FlowRuns created at once -> all terminal (throughput, errors, lost runs)",
    "operator peak RSS",
)


def main() -> int:
    """Print what this benchmark measures (the measurements follow in later commits)."""
    for item in MEASURED:
        print(f"operator_latency will measure: {item}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
