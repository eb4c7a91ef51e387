"""Every instrument the operator records into, registered on one registry of its own (no
process or platform collectors: all names start with `kflow_`). docs/metrics.md describes each.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

# A `_created` series per counter and histogram doubles what is scraped and says nothing a
# restart (process start time) does not.
disable_created_metrics()  # type: ignore[no-untyped-call]

REGISTRY = CollectorRegistry(auto_describe=True)

RUN_SECONDS_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
"""A run's duration: seconds to a day."""
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
"""Creation to launch / to RUNNING, and schedule to start: sub-second to minutes."""
API_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

FINISHED = Counter(
    "kflow_flow_runs_finished",
    "FlowRuns the operator finished with (Finished condition written), by final state type.",
    ("namespace", "deployment", "state"),
    registry=REGISTRY,
)
DURATION = Histogram(
    "kflow_flow_run_duration_seconds",
    "startTime to endTime of finished FlowRuns that started (reached RUNNING).",
    ("namespace", "deployment", "state"),
    buckets=RUN_SECONDS_BUCKETS,
    registry=REGISTRY,
)
TIME_TO_LAUNCH = Histogram(
    "kflow_flow_run_time_to_launch_seconds",
    "FlowRun creation to its first infrastructure being started and recorded (PENDING).",
    ("infrastructure",),
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
TIME_TO_RUNNING = Histogram(
    "kflow_flow_run_time_to_running_seconds",
    "FlowRun creation to its first RUNNING state (status.startTime).",
    ("infrastructure",),
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
START_DELAY = Histogram(
    "kflow_flow_run_start_delay_seconds",
    "spec.scheduledTime to the first RUNNING state, for runs with a scheduled time.",
    ("work_pool",),
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
CRASHES = Counter(
    "kflow_flow_run_crashes",
    "FlowRuns the operator marked CRASHED, by why the infrastructure ended.",
    ("infrastructure", "reason"),
    registry=REGISTRY,
)
CANCEL_KILLS = Counter(
    "kflow_cancellations_killed",
    "Cancellations enforced by killing the infrastructure after the grace period.",
    ("infrastructure",),
    registry=REGISTRY,
)
CANCEL_UNENFORCED = Counter(
    "kflow_cancellations_unenforced",
    "Cancellations that could not be enforced (a CancelFailed condition was written).",
    ("reason",),
    registry=REGISTRY,
)
API_REQUESTS = Counter(
    "kflow_kubernetes_api_requests",
    "Kubernetes API requests the operator made through its API layer, by verb and answer.",
    ("verb", "resource", "code"),
    registry=REGISTRY,
)
API_LATENCY = Histogram(
    "kflow_kubernetes_api_request_duration_seconds",
    "Time to the API server's answer (for watches: to the response headers).",
    ("verb", "resource"),
    buckets=API_BUCKETS,
    registry=REGISTRY,
)
WATCH_RELISTS = Counter(
    "kflow_watch_relists",
    "Watches that could not continue and listed their objects again.",
    ("resource", "reason"),
    registry=REGISTRY,
)
ACTIVE = Gauge(
    "kflow_operator_active",
    "1 while this replica acts (peering let it), 0 while it waits for another replica.",
    registry=REGISTRY,
)
BUILD_INFO = Gauge(
    "kflow_build_info",
    "Always 1; the operator's version in a label.",
    ("version",),
    registry=REGISTRY,
)
