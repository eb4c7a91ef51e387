"""The models refuse what the CRD's CEL rules refuse, and round-trip what the API returns."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from kflow.resources import (
    STATE_HISTORY_LIMIT,
    DeploymentSpec,
    FlowRunSpec,
    FlowRunStatus,
    InfrastructureSpec,
    ScheduleSpec,
    StateHistoryEntry,
    StateRecord,
    append_state_history,
    format_timestamp,
    parse_timestamp,
)
from kflow.states import StateType
from pydantic import ValidationError


def test_schedule_needs_exactly_one_kind() -> None:
    with pytest.raises(ValidationError, match="exactly one of `cron` or `interval`"):
        ScheduleSpec()
    with pytest.raises(ValidationError, match="exactly one of `cron` or `interval`"):
        ScheduleSpec(cron="0 9 * * *", interval=60)
    with pytest.raises(ValidationError, match="`timezone` applies to `cron`"):
        ScheduleSpec(interval=60, timezone="UTC")
    with pytest.raises(ValidationError, match="`anchorTime` applies to `interval`"):
        ScheduleSpec(cron="0 9 * * *", anchor_time=datetime(2026, 1, 1, tzinfo=UTC))


def test_infrastructure_rules() -> None:
    assert InfrastructureSpec.model_validate({"type": "docker"}).image is None, (
        "a container run without an image takes the operator's --default-image"
    )
    with pytest.raises(ValidationError, match="`job` options apply to type kubernetes-job"):
        InfrastructureSpec.model_validate({"type": "process", "job": {}})
    spec = InfrastructureSpec.model_validate(
        {"type": "process", "process": {"workingDirectory": "/srv"}, "env": {"A": "1"}}
    )
    assert spec.process is not None and spec.process.working_directory == "/srv"


def test_deployment_defaults_and_unknown_fields() -> None:
    spec = DeploymentSpec.model_validate(
        {"entrypoint": "flows.py:main", "infrastructure": {"type": "process"}}
    )
    assert spec.cancel_grace_period_seconds is None, "None: the operator's default applies"
    assert spec.concurrency_policy == "Allow"
    with pytest.raises(ValidationError, match="extra"):
        DeploymentSpec.model_validate(
            {"entrypoint": "flows.py:main", "infrastructure": {"type": "process"}, "cron": "x"}
        )
    with pytest.raises(ValidationError, match="entrypoint"):
        DeploymentSpec.model_validate(
            {"entrypoint": "flows.py", "infrastructure": {"type": "process"}}
        )


def test_flowrun_needs_something_to_run() -> None:
    with pytest.raises(ValidationError, match=r"needs `deploymentRef\.name`"):
        FlowRunSpec.model_validate({"entrypoint": "f.py:main"})
    spec = FlowRunSpec.model_validate({"deploymentRef": {"name": "d"}, "cancel": True})
    assert spec.cancel and spec.deployment_ref is not None


def test_status_round_trip_uses_kubernetes_names_and_times() -> None:
    raw = {
        "state": {"type": "RUNNING", "name": "Running", "timestamp": "2026-01-02T03:04:05Z"},
        "infrastructure": {"type": "process", "scope": "h/b", "id": "1@2", "pid": "h/b:1@2"},
        "taskRuns": {"total": 2, "counts": {"COMPLETED": 2}},
        "result": {"value": [1, 2]},
        "someFutureField": 1,
    }
    status = FlowRunStatus.model_validate(raw)
    assert status.state is not None and status.state.type is StateType.RUNNING
    dumped = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert dumped["state"]["timestamp"] == "2026-01-02T03:04:05.000000Z"
    assert dumped["taskRuns"]["counts"] == {"COMPLETED": 2}
    assert dumped["result"] == {"value": [1, 2]}
    assert "someFutureField" not in dumped


def test_timestamps() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)
    assert format_timestamp(moment) == "2026-01-02T03:04:05.600000Z"
    assert parse_timestamp("2026-01-02T03:04:05.600000Z") == moment
    assert parse_timestamp("2026-01-02T03:04:05Z").tzinfo is not None


def test_state_history_is_bounded_and_messages_truncated() -> None:
    history: list[StateHistoryEntry] = []
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(STATE_HISTORY_LIMIT + 5):
        record = StateRecord(
            type=StateType.RUNNING, name=f"s{i}", message="x" * 4000, timestamp=moment
        )
        history = append_state_history(history, record)
    assert len(history) == STATE_HISTORY_LIMIT
    assert history[0].name == "s5" and history[-1].name == f"s{STATE_HISTORY_LIMIT + 4}"
    assert history[-1].message is not None and len(history[-1].message) == 1024
