"""A scheduling pass over an in-memory store of FlowRuns: what it creates, deletes and writes.

The store keeps the API server's contract that matters here (AlreadyExists on a second create,
resourceVersion preconditions on writes and deletes); the real server is exercised by
tests/integration/test_schedules_*.py.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from kflow_operator.scheduling.deployment_pass import scheduling_pass
from kflow_operator.scheduling.store import ScheduleApi
from kflow_operator.scheduling.views import deployment_run

T0 = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
_versions = itertools.count(1)


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Store(ScheduleApi):
    """FlowRuns by name and one Deployment's status, in memory. They live in `flowruns`: the
    base's `runs` is the operator's informer index, which a Store has none of (it stays None)."""

    def __init__(self) -> None:
        super().__init__()
        self.flowruns: dict[str, dict[str, Any]] = {}
        self.deployment_status: dict[str, Any] = {}
        self.now = T0
        self.cancelled: list[str] = []

    def list_runs(self, namespace: str, deployment_name: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(run) for run in self.flowruns.values()]

    def get_run(self, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.flowruns.get(name))

    def fresh_run(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.get_run(namespace, name)

    def create_run(self, namespace: str, body: dict[str, Any]) -> bool:
        name = body["metadata"]["name"]
        if name in self.flowruns:
            return False
        run = copy.deepcopy(body)
        run["metadata"]["creationTimestamp"] = stamp(self.now)
        run["metadata"]["resourceVersion"] = str(next(_versions))
        self.flowruns[name] = run
        return True

    def delete_run(self, namespace: str, name: str, resource_version: str | None) -> bool:
        run = self.flowruns.get(name)
        if run is None or run["metadata"]["resourceVersion"] != resource_version:
            return False
        del self.flowruns[name]
        return True

    def patch_run_status(
        self, namespace: str, name: str, status: Mapping[str, Any], resource_version: str
    ) -> dict[str, Any] | None:
        run = self.flowruns.get(name)
        if run is None or run["metadata"]["resourceVersion"] != resource_version:
            return None
        run.setdefault("status", {}).update(copy.deepcopy(dict(status)))
        run["metadata"]["resourceVersion"] = str(next(_versions))
        return copy.deepcopy(run)

    def request_cancel(self, namespace: str, name: str) -> None:
        self.flowruns[name]["spec"]["cancel"] = True
        self.cancelled.append(name)

    def patch_deployment_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        for key, value in status.items():
            if value is None:
                self.deployment_status.pop(key, None)
            else:
                self.deployment_status[key] = copy.deepcopy(value)

    # --- test helpers ------------------------------------------------------------------

    def set_state(self, name: str, state_type: str, state_name: str | None = None) -> None:
        status = self.flowruns[name].setdefault("status", {})
        status["state"] = {
            "type": state_type,
            "name": state_name or state_type.title(),
            "timestamp": stamp(self.now),
        }
        if state_type in ("COMPLETED", "FAILED", "CANCELLED", "CRASHED"):
            status["endTime"] = stamp(self.now)
        self.flowruns[name]["metadata"]["resourceVersion"] = str(next(_versions))

    def states(self) -> dict[str, tuple[str, str]]:
        return {name: (v.state_type.value, v.state_name) for name, v in self.views().items()}

    def views(self) -> dict[str, Any]:
        return {name: deployment_run(run) for name, run in sorted(self.flowruns.items())}

    def scheduled_times(self) -> list[datetime]:
        return sorted(v.scheduled_time for v in self.views().values() if v.scheduled_time)


class Deployment:
    def __init__(self, store: Store, created: datetime = T0, **spec: Any) -> None:
        self.store = store
        self.generation = 1
        self.created = created
        self.spec: dict[str, Any] = {
            "entrypoint": "flows.py:main",
            "infrastructure": {"type": "process"},
            **spec,
        }

    def body(self) -> dict[str, Any]:
        return {
            "apiVersion": "kflow.dev/v1alpha1",
            "kind": "Deployment",
            "metadata": {
                "name": "d",
                "namespace": "ns",
                "uid": "uid-1",
                "generation": self.generation,
                "creationTimestamp": stamp(self.created),
            },
            "spec": copy.deepcopy(self.spec),
            "status": copy.deepcopy(self.store.deployment_status),
        }

    def change(self, **spec: Any) -> None:
        self.spec.update(spec)
        self.generation += 1

    def run_pass(self, at: datetime) -> Any:
        self.store.now = at
        return scheduling_pass(self.store, self.body(), at)


def every(seconds: int, **spec: Any) -> dict[str, Any]:
    return {"schedules": [{"interval": seconds}], **spec}


def test_a_new_deployment_gets_its_upcoming_runs_and_a_status() -> None:
    store = Store()
    deployment = Deployment(store, **every(60, upcomingRuns=3))
    result = deployment.run_pass(T0 + timedelta(seconds=1))
    assert store.scheduled_times() == [T0 + timedelta(minutes=m) for m in (1, 2, 3)]
    assert set(result.created) == set(store.flowruns)
    status = store.deployment_status
    assert status["nextScheduleTime"] == "2026-06-01T12:01:00.000000Z"
    assert status["scheduleSummary"] == "every 1m"
    assert status["observedGeneration"] == 1
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Ready": "True",
        "Scheduling": "True",
    }
    # It wakes to top up the runs ahead just after the next one falls due.
    assert result.wake_at == T0 + timedelta(minutes=1, milliseconds=500)


def test_a_second_pass_or_a_second_operator_creates_nothing_new() -> None:
    store = Store()
    deployment = Deployment(store, **every(60))
    deployment.run_pass(T0 + timedelta(seconds=1))
    before = set(store.flowruns)
    again = deployment.run_pass(T0 + timedelta(seconds=2))
    assert again.created == [] and set(store.flowruns) == before


def test_a_schedule_change_replaces_the_unstarted_runs_ahead() -> None:
    store = Store()
    deployment = Deployment(store, **every(60))
    deployment.run_pass(T0 + timedelta(seconds=1))
    old = set(store.flowruns)
    deployment.change(schedules=[{"interval": 7200}])
    result = deployment.run_pass(T0 + timedelta(seconds=2))
    assert set(result.deleted) == old
    assert store.scheduled_times() == [T0 + timedelta(hours=h) for h in (2, 4, 6)]


def test_pausing_removes_the_runs_ahead_and_skips_a_due_one_visibly() -> None:
    store = Store()
    deployment = Deployment(store, **every(60))
    deployment.run_pass(T0 + timedelta(seconds=1))
    deployment.change(paused=True)
    result = deployment.run_pass(T0 + timedelta(minutes=1, seconds=1))
    due = T0 + timedelta(minutes=1)
    assert store.scheduled_times() == [due]
    ((name, state),) = store.states().items()
    assert state == ("CANCELLED", "Skipped")
    history = [entry["name"] for entry in store.flowruns[name]["status"]["stateHistory"]]
    assert history == ["Late", "Skipped"]
    assert len(result.deleted) == 2
    assert "nextScheduleTime" not in store.deployment_status
    scheduling = {c["type"]: c for c in store.deployment_status["conditions"]}["Scheduling"]
    assert scheduling["reason"] == "Paused"


def test_an_invalid_time_zone_stops_scheduling_and_says_why() -> None:
    store = Store()
    deployment = Deployment(store, **every(60))
    deployment.run_pass(T0 + timedelta(seconds=1))
    deployment.change(schedules=[{"cron": "0 9 * * *", "timezone": "Nowhere/Land"}])
    result = deployment.run_pass(T0 + timedelta(seconds=2))
    assert store.flowruns == {}
    conditions = {c["type"]: c for c in store.deployment_status["conditions"]}
    assert conditions["Ready"]["status"] == "False"
    assert conditions["Scheduling"]["reason"] == "InvalidSchedule"
    assert "spec.schedules[0].timezone" in conditions["Scheduling"]["message"]
    assert [event.reason for event in result.events] == ["InvalidSchedule"]


def downtime(catchup: str, **spec: Any) -> tuple[Store, Any]:
    """Runs every minute, one ahead; the operator is gone from 12:00:01 to 12:10:02."""
    store = Store()
    deployment = Deployment(store, **every(60, upcomingRuns=1, catchup=catchup, **spec))
    deployment.run_pass(T0 + timedelta(seconds=1))
    result = deployment.run_pass(T0 + timedelta(minutes=10, seconds=2))
    return store, result


def test_after_downtime_catchup_none_creates_nothing_and_announces_the_missed_runs() -> None:
    store, result = downtime("None")
    by_time = {v.scheduled_time: (v.state_type.value, v.state_name) for v in store.views().values()}
    # 12:01 existed ahead: skipped visibly. 12:02 to 12:09 never existed: announced. 12:10 is
    # two seconds old, within the on-time tolerance: it starts like any run.
    assert by_time == {
        T0 + timedelta(minutes=1): ("CANCELLED", "Skipped"),
        T0 + timedelta(minutes=10): ("SCHEDULED", "Scheduled"),
        T0 + timedelta(minutes=11): ("SCHEDULED", "Scheduled"),
    }
    (event,) = [e for e in result.events if e.reason == "MissedRuns"]
    assert event.message.startswith("8 scheduled runs fell due")


def test_after_downtime_catchup_latest_keeps_only_the_most_recent() -> None:
    store, _ = downtime("Latest")
    views = store.views().values()
    kept = [v.scheduled_time for v in views if v.state_type.value == "SCHEDULED"]
    assert T0 + timedelta(minutes=10) in kept
    assert T0 + timedelta(minutes=9) not in kept


def test_after_downtime_catchup_all_creates_up_to_the_limit() -> None:
    store, _ = downtime("All", catchupLimit=3)
    waiting = sorted(
        v.scheduled_time
        for v in store.views().values()
        if v.state_type.value == "SCHEDULED" and v.state_name == "Scheduled"
    )
    # The newest three missed (12:01, existing ahead, is the fourth: skipped), then 12:10 on
    # time and 12:11 ahead.
    assert waiting == [T0 + timedelta(minutes=m) for m in (7, 8, 9, 10, 11)]
    skipped = [v.name for v in store.views().values() if v.state_name == "Skipped"]
    assert len(skipped) == 1 and "-120100-" in skipped[0]


def test_a_full_deployment_queues_runs_and_releases_them_in_order() -> None:
    store = Store()
    deployment = Deployment(store, **every(60, concurrencyLimit=1))
    deployment.run_pass(T0 + timedelta(seconds=1))
    first, second, _ = sorted(store.flowruns)
    store.set_state(first, "RUNNING")
    deployment.run_pass(T0 + timedelta(minutes=2, seconds=0.5))
    assert store.states()[second] == ("SCHEDULED", "AwaitingConcurrencySlot")
    store.set_state(first, "COMPLETED")
    deployment.run_pass(T0 + timedelta(minutes=2, seconds=1))
    assert store.states()[second] == ("SCHEDULED", "Scheduled")
    assert store.deployment_status["lastSuccessfulRun"] == first


def test_history_beyond_the_limits_is_deleted_oldest_first() -> None:
    store = Store()
    deployment = Deployment(store, **every(60, failedRunsHistoryLimit=1))
    deployment.run_pass(T0 + timedelta(seconds=1))
    first, second, _ = sorted(store.flowruns)
    store.set_state(first, "CRASHED")
    store.now += timedelta(seconds=1)
    store.set_state(second, "FAILED")
    result = deployment.run_pass(T0 + timedelta(seconds=3))
    assert first in result.deleted and second in store.flowruns
    assert result.wake_at == T0 + timedelta(seconds=4), (
        "a pass that pruned looks again a second later: more runs may have ended meanwhile"
    )


def test_replace_asks_the_running_run_to_cancel() -> None:
    store = Store()
    deployment = Deployment(store, **every(60, concurrencyPolicy="Replace"))
    deployment.run_pass(T0 + timedelta(seconds=1))
    first, _, _ = sorted(store.flowruns)
    store.set_state(first, "RUNNING")
    result = deployment.run_pass(T0 + timedelta(minutes=2, seconds=0.5))
    assert store.cancelled == [first]
    assert [e.reason for e in result.events] == ["Replaced"]


class MovingStore(Store):
    """Each run's supervisor writes once more after the final state (the Finished condition)
    between the pass's read and its delete: the delete's resourceVersion is stale once (or
    `moves` times)."""

    def __init__(self, moves: int = 1) -> None:
        super().__init__()
        self.moves: dict[str, int] = {}
        self.limit = moves

    def delete_run(self, namespace: str, name: str, resource_version: str | None) -> bool:
        if self.moves.get(name, 0) < self.limit and name in self.flowruns:
            self.moves[name] = self.moves.get(name, 0) + 1
            self.flowruns[name]["metadata"]["resourceVersion"] = str(next(_versions))
            return False
        return super().delete_run(namespace, name, resource_version)


def test_a_finished_run_that_moved_before_its_deletion_is_deleted_at_its_new_version() -> None:
    store = MovingStore()
    deployment = Deployment(store, **every(3600, failedRunsHistoryLimit=0, upcomingRuns=1))
    deployment.run_pass(T0 + timedelta(seconds=1))
    (run,) = store.flowruns
    store.set_state(run, "CANCELLED")
    assert run in deployment.run_pass(T0 + timedelta(seconds=2)).deleted
    assert run not in store.flowruns


def test_a_finished_run_that_keeps_moving_is_tried_again_a_second_later() -> None:
    store = MovingStore(moves=2)
    deployment = Deployment(store, **every(3600, failedRunsHistoryLimit=0, upcomingRuns=1))
    deployment.run_pass(T0 + timedelta(seconds=1))
    (run,) = store.flowruns
    store.set_state(run, "CANCELLED")
    at = T0 + timedelta(seconds=2)
    first = deployment.run_pass(at)
    assert first.deleted == [] and first.wake_at == at + timedelta(seconds=1), (
        "the delete lost its races: the pass must look again within a second, not at the next "
        "fire time"
    )
    assert run in deployment.run_pass(first.wake_at).deleted
