"""How the CLI parses `-p key=value` and shows cluster objects."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from kflow.cluster.presentation import (
    ParameterSyntaxError,
    age,
    by_creation,
    flow_run_row,
    parse_parameter_assignments,
    scheduled_label,
    table,
)

NOW = datetime(2026, 1, 2, 0, 0, tzinfo=UTC)


def test_values_are_json_when_they_parse_else_strings() -> None:
    assert parse_parameter_assignments(
        ["n=3", "name=Ann", "xs=[1, 2]", 'quoted="3"', "flag=true", "empty=", "eq=a=b"]
    ) == {
        "n": 3,
        "name": "Ann",
        "xs": [1, 2],
        "quoted": "3",
        "flag": True,
        "empty": "",
        "eq": "a=b",
    }


@pytest.mark.parametrize("bad", ["novalue", "=3"])
def test_assignments_without_key_or_equals_are_refused(bad: str) -> None:
    with pytest.raises(ParameterSyntaxError, match="key=value"):
        parse_parameter_assignments([bad])


def test_age_reads_like_kubectl() -> None:
    assert age("2026-01-01T23:59:18Z", NOW) == "42s"
    assert age("2026-01-01T23:55:00Z", NOW) == "5m"
    assert age("2026-01-01T21:00:00Z", NOW) == "3h"
    assert age("2025-12-30T00:00:00Z", NOW) == "3d"
    assert age(None, NOW) == "<unknown>"


def test_flow_run_row_and_table() -> None:
    obj = {
        "metadata": {"name": "etl-x1", "creationTimestamp": "2026-01-01T23:59:00Z"},
        "spec": {"deploymentRef": {"name": "etl"}},
        "status": {
            "state": {"type": "RUNNING", "name": "Running"},
            "runName": "brave-otter",
            "taskRuns": {"total": 10, "counts": {"COMPLETED": 7}},
        },
    }
    row = flow_run_row(obj, NOW)
    assert row == ["etl-x1", "Running", "etl", "brave-otter", "7/10", "", "1m"]
    text = table(["NAME", "STATE"], [["a", "Running"], ["longer-name", "Failed"]])
    assert text.splitlines() == [
        "NAME          STATE",
        "a             Running",
        "longer-name   Failed",
    ]


def test_an_upcoming_run_shows_its_state_and_when_it_is_due() -> None:
    obj = {
        "metadata": {"name": "etl-ahead", "creationTimestamp": "2026-01-01T23:59:00Z"},
        "spec": {"deploymentRef": {"name": "etl"}, "scheduledTime": "2026-01-02T01:00:00Z"},
        "status": {"state": {"type": "SCHEDULED", "name": "Scheduled"}},
    }
    row = flow_run_row(obj, NOW)
    assert row == ["etl-ahead", "Scheduled", "etl", "", "", "2026-01-02T01:00:00Z (in 1h)", "1m"]


def test_the_scheduled_time_is_to_the_second_and_relative_only_ahead() -> None:
    assert scheduled_label("2026-01-02T00:00:42.5Z", NOW) == "2026-01-02T00:00:42Z (in 42s)"
    assert scheduled_label("2026-01-01T23:00:00.000000Z", NOW) == "2026-01-01T23:00:00Z"
    assert scheduled_label("2026-01-02T09:00:00+09:00", NOW) == "2026-01-02T00:00:00Z"
    assert scheduled_label(None, NOW) == ""


def test_newest_first() -> None:
    objs = [
        {"metadata": {"name": "a", "creationTimestamp": "2026-01-01T00:00:00Z"}},
        {"metadata": {"name": "b", "creationTimestamp": "2026-01-01T00:00:05Z"}},
    ]
    assert [o["metadata"]["name"] for o in by_creation(objs)] == ["b", "a"]


def test_where_container_and_job_logs_come_from() -> None:
    from kflow.cluster.logs import docker_api_url, job_pod_selector

    assert docker_api_url("unix:///var/run/docker.sock#ABCD:EF") == "unix:///var/run/docker.sock"
    assert docker_api_url("tcp://127.0.0.1:2375") == "tcp://127.0.0.1:2375"
    assert job_pod_selector("team/nightly-1@1234-uid") == (
        "team",
        "batch.kubernetes.io/controller-uid=1234-uid",
    )
    assert job_pod_selector("team/nightly-1") == ("team", "job-name=nightly-1")


def test_flow_run_details_read_like_the_local_inspect() -> None:
    from kflow.cluster.presentation import flow_run_details

    obj = {
        "metadata": {"name": "etl-x1", "namespace": "team", "uid": "u-1"},
        "spec": {"deploymentRef": {"name": "etl"}, "parameters": {"n": 2}, "cancel": True},
        "status": {
            "state": {"type": "PAUSED", "name": "Suspended", "message": "until resumed"},
            "stateHistory": [{"type": "RUNNING", "name": "Running", "timestamp": "t1"}],
            "runName": "brave-otter",
            "infrastructure": {"type": "process", "pid": "host:12@34", "exitCode": 0},
            "taskRuns": {
                "total": 3,
                "counts": {"COMPLETED": 2, "FAILED": 1, "RUNNING": 0},
                "recent": [{"id": "a", "name": "t-0", "stateType": "FAILED", "message": "x"}],
            },
            "result": {"reference": "/r/flow.pickle", "summary": "<big>"},
            "pause": {"reschedule": True, "timeoutTime": "2026-01-01T00:00:00Z"},
        },
    }
    text = flow_run_details(obj)
    assert "FlowRun         team/etl-x1 (u-1)" in text
    assert "State           PAUSED (Suspended)" in text
    assert "Requested       cancel" in text
    assert "Infrastructure  process host:12@34, exit code 0" in text
    assert "Result          <big> (stored at /r/flow.pickle)" in text
    assert "suspended, restarts on resume; times out at 2026-01-01T00:00:00Z" in text
    assert "Task runs (3: 2 COMPLETED, 1 FAILED)" in text
    assert "t-0" in text


def test_flow_run_details_show_why_the_run_has_not_started() -> None:
    from kflow.cluster.presentation import flow_run_details

    wait = 'pod etl-x1-abc waits: ErrImagePull: failed to pull image "registry.invalid/x:1"'
    obj = {
        "metadata": {"name": "etl-x1", "namespace": "team", "uid": "u-1"},
        "spec": {"deploymentRef": {"name": "etl"}},
        "status": {
            "state": {"type": "PENDING", "name": "Pending", "message": wait},
            "conditions": [
                {"type": "Launched", "status": "True", "reason": "Launched", "message": "ok"},
                {
                    "type": "InfrastructureReady",
                    "status": "False",
                    "reason": "ErrImagePull",
                    "message": wait,
                },
            ],
        },
    }
    text = flow_run_details(obj)
    assert f"Message         {wait}" in text
    assert "Conditions (2)" in text
    row = next(line.split(None, 3) for line in text.splitlines() if "InfrastructureReady" in line)
    assert row == ["InfrastructureReady", "False", "ErrImagePull", wait]
