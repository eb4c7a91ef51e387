"""Run metrics: the labels and durations read from a FlowRun, what one supervisor record adds
to the exposed samples, and the gauges a scrape computes from the index."""

from __future__ import annotations

from typing import Any, cast

import pytest
from kflow.resources.common import parse_timestamp
from kflow_operator.infrastructure import Observation, ObservedPhase
from kflow_operator.metrics import run_records
from kflow_operator.metrics.instruments import REGISTRY
from kflow_operator.metrics.run_facts import (
    RunSummary,
    crash_reason,
    pool_of,
    run_summary,
    seconds_between,
)
from kflow_operator.metrics.run_gauges import RunCounts, RunGauges
from kflow_operator.object_index import ObjectIndex
from prometheus_client import CollectorRegistry, generate_latest


def flowrun(
    name: str,
    state: str | None = None,
    state_name: str = "",
    deployment: str | None = "nightly",
    pool: str | None = None,
    **status: Any,
) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if deployment:
        spec["deploymentRef"] = {"name": deployment}
    if pool:
        spec["workPool"] = {"name": pool}
    if state:
        status["state"] = {"type": state, "name": state_name or state.title()}
    return {
        "metadata": {
            "namespace": "team",
            "name": name,
            "resourceVersion": "1",
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": spec,
        "status": status,
    }


def summaries(index: ObjectIndex) -> list[RunSummary]:
    return cast(list[RunSummary], index.summaries())


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- facts ------------------------------------------------------------------------------------


def test_the_pool_of_a_run_is_spec_work_pool_name_or_empty() -> None:
    assert pool_of(flowrun("a", pool="gpu")) == "gpu"
    assert pool_of(flowrun("a")) == ""
    assert pool_of({"spec": {"workPool": None}}) == ""


def test_seconds_between_status_timestamps_never_negative_and_none_when_missing() -> None:
    assert seconds_between("2026-01-01T00:00:00Z", "2026-01-01T00:01:30.5Z") == 90.5
    assert seconds_between("2026-01-01T00:00:02Z", "2026-01-01T00:00:00Z") == 0.0
    assert seconds_between(None, "2026-01-01T00:00:00Z") is None
    assert seconds_between("yesterday", "2026-01-01T00:00:00Z") is None


@pytest.mark.parametrize(
    ("observation", "reason"),
    [
        (Observation(ObservedPhase.EXITED, 137, "SIGKILL", "OOMKilled"), "OOMKilled"),
        (
            Observation(ObservedPhase.EXITED, reason="Evicted: The node was low on memory."),
            "Evicted",
        ),
        (Observation(ObservedPhase.EXITED, 1, reason="Error; DeadlineExceeded: too long"), "Error"),
        (Observation(ObservedPhase.EXITED, 137, "SIGKILL", "Docker: no such file"), "SIGKILL"),
        (Observation(ObservedPhase.EXITED, signal="SIGTERM"), "SIGTERM"),
        (Observation(ObservedPhase.EXITED, 3), "Error"),
        (Observation(ObservedPhase.EXITED, 0), "Completed"),
        (Observation(ObservedPhase.EXITED, 143), "SIGTERM"),
        (Observation(ObservedPhase.MISSING, reason="no process with PID 42"), "Missing"),
        (Observation(ObservedPhase.EXITED, reason="exit status unknown"), "Unknown"),
    ],
)
def test_crash_reasons_are_bounded_words(observation: Observation, reason: str) -> None:
    assert crash_reason(observation) == reason


# --- records ----------------------------------------------------------------------------------


def test_a_finished_run_is_counted_by_deployment_and_final_state_with_its_duration() -> None:
    labels = {"namespace": "team", "deployment": "records-finish", "state": "FAILED"}
    before = sample("kflow_flow_runs_finished_total", **labels)
    before_sum = sample("kflow_flow_run_duration_seconds_sum", **labels)
    body = flowrun(
        "a",
        "FAILED",
        deployment="records-finish",
        startTime="2026-01-01T00:00:10Z",
        endTime="2026-01-01T00:01:10Z",
    )
    run_records.finished(body, None)
    assert sample("kflow_flow_runs_finished_total", **labels) == before + 1
    assert sample("kflow_flow_run_duration_seconds_sum", **labels) == before_sum + 60
    assert sample("kflow_flow_run_duration_seconds_bucket", le="60.0", **labels) >= 1


def test_a_run_that_never_started_is_counted_but_has_no_duration() -> None:
    labels = {"namespace": "team", "deployment": "records-unstarted", "state": "CANCELLED"}
    run_records.finished(flowrun("a", "CANCELLED", deployment="records-unstarted"), None)
    assert sample("kflow_flow_runs_finished_total", **labels) == 1
    assert sample("kflow_flow_run_duration_seconds_count", **labels) == 0


def test_a_crashed_run_is_counted_by_how_its_infrastructure_ended() -> None:
    def crashed(infra: str, **exit: Any) -> dict[str, Any]:
        return flowrun("a", "CRASHED", infrastructure={"type": infra, **exit})

    oom = Observation(ObservedPhase.EXITED, 137, "SIGKILL", "OOMKilled")
    run_records.finished(crashed("records-crash"), oom)
    # The flow's own CRASHED after a SIGTERM: only the exit code is known (143 = 128+15).
    run_records.finished(crashed("records-crash", exitCode=143), None)
    run_records.finished(crashed("records-crash", exitCode=3), None)
    for reason in ("OOMKilled", "SIGTERM", "Error"):
        labels = {"infrastructure": "records-crash", "reason": reason}
        assert sample("kflow_flow_run_crashes_total", **labels) == 1, reason


def test_only_the_first_launch_measures_creation_to_launch() -> None:
    infra = {"type": "records-launch", "launchTime": "2026-01-01T00:00:02Z"}
    run_records.launched(flowrun("a", "PENDING", infrastructure={**infra, "attempt": 1}))
    run_records.launched(flowrun("a", "PENDING", infrastructure={**infra, "attempt": 2}))
    count = "kflow_flow_run_time_to_launch_seconds_count"
    assert sample(count, infrastructure="records-launch") == 1
    assert sample("kflow_flow_run_time_to_launch_seconds_sum", infrastructure="records-launch") == 2


def test_only_the_first_running_measures_time_to_running_and_start_delay() -> None:
    body = flowrun(
        "a",
        "RUNNING",
        pool="records-pool",
        startTime="2026-01-01T00:00:05Z",
        infrastructure={"type": "records-running"},
    )
    body["spec"]["scheduledTime"] = "2026-01-01T00:00:01Z"
    run_records.state_seen(body, "RUNNING", parse_timestamp("2026-01-01T00:00:05Z"))
    # A later RUNNING (a retry, a resumed pause) and another state measure nothing.
    run_records.state_seen(body, "RUNNING", parse_timestamp("2026-01-01T00:09:00Z"))
    run_records.state_seen(body, "PENDING", parse_timestamp("2026-01-01T00:00:05Z"))
    labels = {"infrastructure": "records-running"}
    assert sample("kflow_flow_run_time_to_running_seconds_count", **labels) == 1
    assert sample("kflow_flow_run_time_to_running_seconds_sum", **labels) == 5
    assert sample("kflow_flow_run_start_delay_seconds_sum", work_pool="records-pool") == 4


# --- gauges -----------------------------------------------------------------------------------


def test_counts_by_state_and_pool_with_late_and_awaiting_runs_by_deployment() -> None:
    runs = [
        flowrun("a", "RUNNING", pool="gpu"),
        flowrun("b", "RUNNING"),
        flowrun("c", "SCHEDULED", "Late"),
        flowrun("d", "SCHEDULED", "AwaitingConcurrencySlot"),
        flowrun("e", "SCHEDULED", "AwaitingConcurrencySlot"),
        flowrun("f"),
    ]
    deployments = [{"metadata": {"namespace": "team", "name": "idle"}}]
    counts = RunCounts.of([run_summary(run) for run in runs], deployments)
    assert counts.by_state == {
        ("RUNNING", "gpu"): 1,
        ("RUNNING", ""): 1,
        ("SCHEDULED", ""): 3,
        ("NONE", ""): 1,
    }
    assert counts.late == {("team", "nightly"): 1}
    assert counts.awaiting_slot == {("team", "nightly"): 2}
    assert counts.deployments == {("team", "idle")}


def test_a_scrape_reports_every_state_of_every_pool_and_every_deployment() -> None:
    runs = ObjectIndex(summary_of=run_summary)
    runs.put(flowrun("a", "RUNNING", pool="gpu"))
    runs.put(flowrun("b", "SCHEDULED", "Late"))
    registry = CollectorRegistry()
    registry.register(
        RunGauges(lambda: summaries(runs), lambda: [{"metadata": {"namespace": "x", "name": "y"}}])
    )
    text = generate_latest(registry).decode()
    assert 'kflow_flow_runs{state="RUNNING",work_pool="gpu"} 1.0' in text
    assert 'kflow_flow_runs{state="COMPLETED",work_pool="gpu"} 0.0' in text
    assert 'kflow_flow_runs{state="SCHEDULED",work_pool=""} 1.0' in text
    assert 'kflow_flow_runs_late{deployment="nightly",namespace="team"} 1.0' in text
    assert 'kflow_flow_runs_late{deployment="y",namespace="x"} 0.0' in text
    assert 'kflow_flow_runs_awaiting_slot{deployment="nightly",namespace="team"} 0.0' in text
    runs.drop("team", "a", None)
    text = generate_latest(registry).decode()
    assert 'kflow_flow_runs{state="RUNNING",work_pool=""} 0.0' in text
    assert 'work_pool="gpu"' not in text


def test_a_standby_replica_reports_no_runs() -> None:
    runs = ObjectIndex(summary_of=run_summary)
    runs.put(flowrun("a", "RUNNING"))
    active = False
    registry = CollectorRegistry()
    registry.register(RunGauges(lambda: summaries(runs), lambda: [], lambda: active))
    assert "kflow_flow_runs" not in generate_latest(registry).decode()
    active = True
    assert 'kflow_flow_runs{state="RUNNING",work_pool=""} 1.0' in generate_latest(registry).decode()


def test_a_scheduled_run_not_started_15s_after_its_time_is_late() -> None:
    def due(name: str, seconds_ago: float, state_name: str = "Scheduled") -> dict[str, Any]:
        body = flowrun(name, "SCHEDULED", state_name)
        body["spec"]["scheduledTime"] = f"2026-01-01T00:00:{60 - seconds_ago:06.3f}Z"
        return body

    now = parse_timestamp("2026-01-01T00:01:00Z").timestamp()
    runs = [
        due("late", 16),
        due("on-time", 14),
        due("held", 50, "AwaitingConcurrencySlot"),
        due("marked", 1, "Late"),
        flowrun("running-since-long", "RUNNING"),
    ]
    counts = RunCounts.of([run_summary(run) for run in runs], now=now)
    assert counts.late == {("team", "nightly"): 2}
    assert counts.awaiting_slot == {("team", "nightly"): 1}
    assert RunCounts.of([run_summary(run) for run in runs]).late == {("team", "nightly"): 1}


def test_a_run_that_names_no_pool_is_counted_in_its_deployments_pool() -> None:
    runs = [
        flowrun("a", "RUNNING"),
        flowrun("b", "RUNNING", pool="gpu"),
        flowrun("c", "RUNNING", deployment="elsewhere"),
        flowrun("d", "RUNNING", deployment=None),
    ]
    deployments: list[dict[str, Any]] = [
        {
            "metadata": {"namespace": "team", "name": "nightly"},
            "spec": {"workPool": {"name": "k8s"}},
        },
        {"metadata": {"namespace": "team", "name": "elsewhere"}, "spec": {}},
    ]
    counts = RunCounts.of([run_summary(run) for run in runs], deployments)
    assert counts.by_state == {("RUNNING", "k8s"): 1, ("RUNNING", "gpu"): 1, ("RUNNING", ""): 2}
