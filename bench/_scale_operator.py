"""The scale benchmark's operators seen from outside: how bench.scale and bench.scale_replicas
start one (`kflow-operator --standalone --launchers process`, metrics served), what /proc says
of it and what its /metrics says."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bench._cluster import Api, Operator, start_operator

QUIET_WINDOW_SECONDS = 2.0
QUIET_CPU_FRACTION = 0.10
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")


def start_bench_operator(
    api: Api, namespace: str, workdir: Path, port: int, *extra: str
) -> Operator:
    """The operator the scale benchmark measures, live (its state and log in workdir/operator);
    `extra`: more flags (e.g. --work-pool NAME)."""
    return start_operator(
        api,
        namespace,
        workdir / "operator",
        workdir,
        "--standalone",
        "--launchers",
        "process",
        "--metrics-address",
        f"127.0.0.1:{port}",
        *extra,
    )


def rss_bytes(operator: Operator) -> int:
    for line in Path(f"/proc/{operator.popen.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def wait_quiet(operator: Operator, timeout: float) -> float | None:
    """The moment (time.monotonic) a window of under QUIET_CPU_FRACTION of a CPU began; None
    if none came within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        began, before = time.monotonic(), operator.cpu_seconds()
        time.sleep(QUIET_WINDOW_SECONDS)
        if operator.cpu_seconds() - before < QUIET_CPU_FRACTION * QUIET_WINDOW_SECONDS:
            return began
    return None


# --- /metrics ----------------------------------------------------------------------------------


def scrape(url: str) -> tuple[float, str]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=10) as response:
        body: bytes = response.read()
    return time.perf_counter() - started, body.decode()


def metric_sum(
    text: str, family: str, sample: str, labels: Callable[[Mapping[str, str]], bool]
) -> int:
    """The sum of the samples named `sample` of `family` whose labels `labels` accepts."""
    return int(
        sum(
            found.value
            for families in text_string_to_metric_families(text)
            if families.name == family
            for found in families.samples
            if found.name == sample and labels(found.labels)
        )
    )


def runs_indexed(text: str) -> int:
    """FlowRuns in the operator's index (kflow_flow_runs, every state and pool)."""
    return metric_sum(text, "kflow_flow_runs", "kflow_flow_runs", lambda _: True)


def api_writes(text: str, resources: tuple[str, ...] | None = None) -> int:
    """Write requests the operator's API layer made (kflow_kubernetes_api_requests_total), any
    answer; only to `resources` (e.g. flowruns, flowruns/status) when given."""
    return metric_sum(
        text,
        "kflow_kubernetes_api_requests",
        "kflow_kubernetes_api_requests_total",
        lambda labels: (
            labels.get("verb") in WRITE_VERBS
            and (resources is None or labels.get("resource") in resources)
        ),
    )


def runs_finished(text: str) -> dict[str, int]:
    """Runs the operator finished with (wrote the Finished condition), by their Deployment
    (kflow_flow_runs_finished_total); only Deployments with at least one."""
    found: dict[str, int] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "kflow_flow_runs_finished":
            continue
        for sample in family.samples:
            if sample.name == "kflow_flow_runs_finished_total" and sample.value:
                deployment = sample.labels.get("deployment", "")
                found[deployment] = found.get(deployment, 0) + int(sample.value)
    return found
