"""Which finished runs are pruned beyond successful/failedRunsHistoryLimit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kflow.states import StateType
from kflow_operator.decisions.deployment_runs import DeploymentRun
from kflow_operator.decisions.history import runs_to_delete

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def finished(name: str, state: StateType, minute: int | None) -> DeploymentRun:
    end = None if minute is None else T0 + timedelta(minutes=minute)
    return DeploymentRun(name, state, state.value.title(), T0, T0, True, end_time=end)


def test_keeps_the_newest_of_each_kind_and_deletes_the_rest_oldest_first() -> None:
    runs = [
        finished("ok3", StateType.COMPLETED, 3),
        finished("ok1", StateType.COMPLETED, 1),
        finished("ok2", StateType.COMPLETED, 2),
        finished("bad1", StateType.FAILED, 4),
        finished("crash", StateType.CRASHED, 5),
        finished("skipped", StateType.CANCELLED, 6),
    ]
    assert runs_to_delete(runs, successful_limit=1, failed_limit=2) == ["ok1", "ok2", "bad1"]


def test_zero_limits_delete_every_finished_run_and_nothing_else() -> None:
    runs = [
        finished("ok", StateType.COMPLETED, 1),
        finished("bad", StateType.FAILED, 2),
        DeploymentRun("running", StateType.RUNNING, "Running", T0, T0, True),
        DeploymentRun("next", StateType.SCHEDULED, "Scheduled", T0, T0, True),
    ]
    assert runs_to_delete(runs, 0, 0) == ["ok", "bad"]


def test_within_limits_nothing_is_deleted() -> None:
    runs = [finished("ok", StateType.COMPLETED, 1), finished("bad", StateType.FAILED, 2)]
    assert runs_to_delete(runs, 10, 10) == []


def test_runs_without_an_end_time_order_by_their_scheduled_time() -> None:
    runs = [
        finished("never-started", StateType.CANCELLED, None),
        finished("ended", StateType.FAILED, 30),
    ]
    assert runs_to_delete(runs, 0, 1) == ["never-started"]
