"""The operator's Prometheus endpoint after a known set of process runs: the exact counts and
histogram buckets those runs imply (computed from their own status timestamps), gauges that
match their states, and no second count from an operator restarted after them."""

from __future__ import annotations

import os
import socket
import subprocess
import urllib.request
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kflow.resources.common import format_timestamp, parse_timestamp
from kflow_operator.metrics.instruments import LATENCY_BUCKETS, RUN_SECONDS_BUCKETS
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import Cluster, OperatorFactory, wait_until
from tests.integration.test_flowrun_flows import deploy
from tests.integration.test_flowrun_lifecycle import shell_deployment
from tests.support.chart import CHART, helm
from tests.support.operator_process import OPERATOR, free_port

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every series of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def seconds(start: str, end: str) -> float:
    return (parse_timestamp(end) - parse_timestamp(start)).total_seconds()


def buckets(observations: Iterable[float], bounds: Iterable[float]) -> dict[str, float]:
    """Cumulative bucket counts, keyed as Prometheus writes `le`."""
    values = list(observations)
    counts = {repr(float(b)): float(sum(v <= b for v in values)) for b in bounds}
    counts["+Inf"] = float(len(values))
    return counts


def exposed_buckets(samples: Samples, name: str, **labels: str) -> dict[str, float]:
    return {
        dict(ls)["le"]: v
        for (n, ls), v in samples.items()
        if n == f"{name}_bucket" and set(labels.items()) <= ls
    }


@pytest.fixture
def marks(tmp_path: Path) -> Path:
    path = tmp_path / "marks"
    path.mkdir()
    return path


def finished(run: Mapping[str, Any]) -> bool:
    conditions = (run.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Finished" and c["status"] == "True" for c in conditions)


def test_a_scrape_shows_what_the_runs_imply(
    cluster: Cluster, operators: OperatorFactory, marks: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    operator = operators.start("--metrics-address", f"127.0.0.1:{port}")
    ns = cluster.namespace
    deploy(cluster, marks, "ok", "flows.py:sums", parameters={"n": 2})
    deploy(cluster, marks, "bad", "flows.py:fails")
    deploy(cluster, marks, "slow", "flows.py:stubborn", cancelGracePeriodSeconds=1)
    shell_deployment(cluster, "crash", "exit 3")
    shell_deployment(cluster, "outside", "exit 0")

    due = format_timestamp(datetime.now(UTC) - timedelta(seconds=1))
    cluster.flowrun("ok-1", {"deploymentRef": {"name": "ok"}})
    cluster.flowrun("ok-2", {"deploymentRef": {"name": "ok"}, "scheduledTime": due})
    cluster.flowrun("bad-1", {"deploymentRef": {"name": "bad"}})
    cluster.flowrun("crash-1", {"deploymentRef": {"name": "crash"}})
    cluster.flowrun("slow-1", {"deploymentRef": {"name": "slow"}})
    cluster.flowrun(
        "later-1", {"deploymentRef": {"name": "ok"}, "scheduledTime": "2099-01-01T00:00:00Z"}
    )
    # A run some other program started and reports on (RUNNING, no infrastructure recorded):
    # its cancellation cannot be enforced.
    cluster.flowrun(
        "outside-1", {"deploymentRef": {"name": "outside"}, "scheduledTime": "2099-01-01T00:00:00Z"}
    )
    cluster.wait_state("outside-1", "SCHEDULED")
    now = format_timestamp(datetime.now(UTC))
    entry = {"type": "RUNNING", "name": "Running", "timestamp": now}
    cluster.patch_flowrun_status("outside-1", {"state": entry, "stateHistory": [entry]})

    cluster.wait_state("slow-1", "RUNNING", timeout=60)
    wait_until("the stubborn flow to start", lambda: (marks / "started").exists(), timeout=60)
    cluster.cancel("slow-1")
    cluster.cancel("outside-1")
    ended = ["ok-1", "ok-2", "bad-1", "crash-1", "slow-1", "outside-1"]
    for name in ended:
        cluster.wait_state(name, "COMPLETED", "FAILED", "CRASHED", "CANCELLED", timeout=60)
    wait_until(
        "the operator to finish with every ended run",
        lambda: total(scrape(url), "kflow_flow_runs_finished_total", namespace=ns) == len(ended),
        timeout=30,
    )
    samples = scrape(url)
    runs = {name: cluster.get_flowrun(name) for name in [*ended, "later-1"]}
    assert all(finished(runs[name]) for name in ended)
    states = {name: run["status"]["state"]["type"] for name, run in runs.items()}
    assert states == {
        "ok-1": "COMPLETED",
        "ok-2": "COMPLETED",
        "bad-1": "FAILED",
        "crash-1": "CRASHED",
        "slow-1": "CANCELLED",
        "outside-1": "CANCELLED",
        "later-1": "SCHEDULED",
    }

    # Finished runs, by Deployment and final state.
    finished_total = "kflow_flow_runs_finished_total"
    for deployment, state in [
        ("ok", "COMPLETED"),
        ("bad", "FAILED"),
        ("crash", "CRASHED"),
        ("slow", "CANCELLED"),
        ("outside", "CANCELLED"),
    ]:
        expected = 2.0 if deployment == "ok" else 1.0
        got = value(samples, finished_total, namespace=ns, deployment=deployment, state=state)
        assert got == expected, (deployment, state)

    # Durations: the runs that ever started (the shell run and the outside run never did).
    duration = "kflow_flow_run_duration_seconds"
    for deployment, state, names in [
        ("ok", "COMPLETED", ["ok-1", "ok-2"]),
        ("bad", "FAILED", ["bad-1"]),
        ("slow", "CANCELLED", ["slow-1"]),
    ]:
        observed = [
            seconds(runs[n]["status"]["startTime"], runs[n]["status"]["endTime"]) for n in names
        ]
        labels = {"namespace": ns, "deployment": deployment, "state": state}
        assert exposed_buckets(samples, duration, **labels) == buckets(
            observed, RUN_SECONDS_BUCKETS
        )
        assert value(samples, f"{duration}_count", **labels) == len(names)
    assert total(samples, f"{duration}_count", deployment="crash") == 0
    assert total(samples, f"{duration}_count", deployment="outside") == 0

    # Creation -> launch: every run the operator launched (first attempts).
    launched = ["ok-1", "ok-2", "bad-1", "crash-1", "slow-1"]
    to_launch = [
        seconds(
            runs[n]["metadata"]["creationTimestamp"],
            runs[n]["status"]["infrastructure"]["launchTime"],
        )
        for n in launched
    ]
    assert exposed_buckets(
        samples, "kflow_flow_run_time_to_launch_seconds", infrastructure="process"
    ) == buckets(to_launch, LATENCY_BUCKETS)
    # Creation -> RUNNING: the flows that reported RUNNING; the outside run has no startTime.
    started = ["ok-1", "ok-2", "bad-1", "slow-1"]
    to_running = [
        seconds(runs[n]["metadata"]["creationTimestamp"], runs[n]["status"]["startTime"])
        for n in started
    ]
    assert exposed_buckets(
        samples, "kflow_flow_run_time_to_running_seconds", infrastructure="process"
    ) == buckets(to_running, LATENCY_BUCKETS)
    # Schedule -> start: the one launched run with a scheduled time.
    delay = seconds(due, runs["ok-2"]["status"]["startTime"])
    assert exposed_buckets(samples, "kflow_flow_run_start_delay_seconds", work_pool="") == buckets(
        [delay], LATENCY_BUCKETS
    )

    # Crashes, kills after the grace period, cancellations that could not be enforced.
    assert runs["crash-1"]["status"]["infrastructure"]["exitCode"] == 3
    assert total(samples, "kflow_flow_run_crashes_total") == 1
    assert (
        value(samples, "kflow_flow_run_crashes_total", infrastructure="process", reason="Error")
        == 1
    )
    assert "killTime" in runs["slow-1"]["status"]["cancellation"]
    assert total(samples, "kflow_cancellations_killed_total") == 1
    assert value(samples, "kflow_cancellations_killed_total", infrastructure="process") == 1
    assert total(samples, "kflow_cancellations_unenforced_total") == 1
    assert (
        value(samples, "kflow_cancellations_unenforced_total", reason="NoInfrastructureIdentifier")
        == 1
    )

    # Gauges: what the index holds now, every state of the (only, empty) pool.
    expected_states = {"COMPLETED": 2, "FAILED": 1, "CRASHED": 1, "CANCELLED": 2, "SCHEDULED": 1}
    for state in ["SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING", "CANCELLED",
                  "COMPLETED", "FAILED", "CRASHED", "NONE"]:  # fmt: skip
        got = value(samples, "kflow_flow_runs", state=state, work_pool="")
        assert got == expected_states.get(state, 0), state
    for deployment in ["ok", "bad", "crash", "slow", "outside"]:
        labels = {"namespace": ns, "deployment": deployment}
        assert value(samples, "kflow_flow_runs_late", **labels) == 0
        assert ("kflow_flow_runs_awaiting_slot", frozenset(labels.items())) in samples

    # The operator itself.
    assert value(samples, "kflow_operator_active") == 1
    assert total(samples, "kflow_build_info") == 1
    assert value(samples, "kflow_workers", pool="io") == 64
    api = "kflow_kubernetes_api_requests_total"
    assert value(samples, api, verb="patch", resource="flowruns/status", code="200") >= len(ended)
    assert value(samples, api, verb="list", resource="flowruns", code="200") >= 1
    assert value(samples, api, verb="watch", resource="flowruns", code="200") >= 1
    assert total(samples, "kflow_kubernetes_api_request_duration_seconds_count") == total(
        samples, api
    )

    # A new operator after this one counts nothing again: the runs are finished already.
    operator.stop()
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    operators.start("--metrics-address", f"127.0.0.1:{port}")
    wait_until(
        "the new operator to act and index the runs",
        lambda: (
            (s := scrape(url))
            and value(s, "kflow_operator_active") == 1
            and total(s, "kflow_flow_runs") == len(runs)
        ),
        timeout=60,
    )
    samples = scrape(url)
    assert total(samples, "kflow_flow_runs_finished_total") == 0
    assert total(samples, "kflow_flow_run_time_to_launch_seconds_count") == 0
    assert value(samples, "kflow_flow_runs", state="COMPLETED", work_pool="") == 2


def test_only_the_active_replica_says_so_and_reports_the_runs(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    """Two replicas: the higher priority acts (kflow_operator_active 1, the run gauges), the
    other waits (0, no run gauges); when the first stops, the second takes over and says so."""
    shell_deployment(cluster, "d", "exit 0")
    cluster.flowrun(
        "later", {"deploymentRef": {"name": "d"}, "scheduledTime": "2099-01-01T00:00:00Z"}
    )
    urls = []
    started = []
    for priority in ("20", "10"):
        port = free_port()
        urls.append(f"http://127.0.0.1:{port}/metrics")
        started.append(
            operators.start("--metrics-address", f"127.0.0.1:{port}", "--priority", priority)
        )
    high, low = urls

    def reports(url: str, active: float, runs: float) -> bool:
        samples = scrape(url)
        return (
            value(samples, "kflow_operator_active") == active
            and total(samples, "kflow_flow_runs") == runs
        )

    wait_until("the high-priority replica to act", lambda: reports(high, 1, 1), timeout=30)
    wait_until("the low-priority replica to wait", lambda: reports(low, 0, 0), timeout=30)
    assert value(scrape(low), "kflow_flow_runs", state="SCHEDULED", work_pool="") == 0
    started[0].stop()
    wait_until("the standby to take over", lambda: reports(low, 1, 1), timeout=60)
    assert value(scrape(low), "kflow_flow_runs", state="SCHEDULED", work_pool="") == 1


def test_a_taken_metrics_address_ends_the_operator_with_a_message(
    cluster: Cluster, kubeconfig: Path, tmp_path: Path
) -> None:
    """Exit 1 with what to do. Started before the operator's try/finally, a failed bind left the
    launchers' threads running into interpreter shutdown, where one could die of SIGABRT (seen
    3 of 3 times in namespace `default`; this empty namespace does not always provoke it)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [
                str(OPERATOR),
                "--namespace",
                cluster.namespace,
                "--standalone",
                "--state-dir",
                str(tmp_path),
                "--metrics-address",
                f"127.0.0.1:{port}",
            ],
            env=dict(os.environ, KUBECONFIG=str(kubeconfig)),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert (
        f"kflow-operator: cannot serve metrics on 127.0.0.1:{port} (Address already in use); "
        "choose another --metrics-address HOST:PORT"
    ) in done.stderr
    assert "Traceback" not in done.stderr


def test_the_install_notes_say_when_no_service_monitor_could_be_made(kubeconfig: Path) -> None:
    """The test cluster has no Prometheus operator: asked for, the ServiceMonitor is left out,
    and the notes `helm install` prints say why and what to do."""

    def notes(*flags: str) -> str:
        out = helm(
            "install",
            "kflow",
            str(CHART),
            "--dry-run=server",
            "--namespace",
            "kflow-system",
            *flags,
            kubeconfig=kubeconfig,
        )
        assert "kind: ServiceMonitor" not in out
        return out[out.index("NOTES:") :]

    asked = notes("--set", "metrics.serviceMonitor.enabled=true")
    assert "service/kflow-metrics, port 8081" in asked
    assert "No ServiceMonitor was created: this cluster does not serve" in asked
    assert "install the Prometheus operator's CRDs, then `helm upgrade` this release" in asked
    assert "No ServiceMonitor" not in notes()
