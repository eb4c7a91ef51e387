"""The launch gate answers like every other decision: None launches the due run now, anything
else is an action the supervisor carries out instead (the gate itself writes nothing)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from kflow.resources import DeploymentSpec
from kflow_operator.decisions.actions import HoldForSlot, ReplaceOthers, Skip
from kflow_operator.decisions.events import replaced_event
from kflow_operator.decisions.supervised_run import SupervisedRun
from kflow_operator.scheduling.admission import admit_launch
from kflow_operator.scheduling.store import ScheduleApi

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def body(name: str, state: str | None = None) -> dict[str, Any]:
    status = {"state": {"type": state, "name": state.title()}} if state else {}
    return {
        "metadata": {
            "namespace": "ns",
            "name": name,
            "uid": f"uid-{name}",
            "resourceVersion": "7",
            "creationTimestamp": "2026-06-01T11:59:00Z",
        },
        "spec": {"deploymentRef": {"name": "d"}},
        "status": status,
    }


class Runs(ScheduleApi):
    """A Deployment's runs in memory; any write fails the test."""

    def __init__(self, *bodies: dict[str, Any]) -> None:
        super().__init__()
        self.bodies = {b["metadata"]["name"]: b for b in bodies}
        self.listed = 0

    def list_runs(self, namespace: str, deployment_name: str) -> list[dict[str, Any]]:
        self.listed += 1
        return list(self.bodies.values())

    def get_run(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.bodies.get(name)

    def patch_run_status(self, *args: Any) -> dict[str, Any] | None:
        raise AssertionError("the launch gate wrote a run's status")

    def request_cancel(self, namespace: str, name: str) -> None:
        raise AssertionError("the launch gate cancelled a run")


def spec(**fields: Any) -> DeploymentSpec:
    return DeploymentSpec.model_validate(
        {"entrypoint": "flows.py:main", "infrastructure": {"type": "process"}, **fields}
    )


def test_a_run_of_an_unlimited_deployment_launches_without_looking_at_others() -> None:
    runs = Runs(body("old", "RUNNING"), body("new"))
    due = SupervisedRun.from_body(runs.bodies["new"])
    assert admit_launch(runs, due, spec(), NOW) is None
    assert runs.listed == 0


def test_a_run_without_a_free_slot_is_held_at_the_version_decided_on() -> None:
    runs = Runs(body("old", "RUNNING"), body("new"))
    due = SupervisedRun.from_body(runs.bodies["new"])
    held = admit_launch(runs, due, spec(concurrencyLimit=1), NOW)
    assert isinstance(held, HoldForSlot)
    assert held.body is runs.bodies["new"]
    assert held.message


def test_forbid_skips_a_run_that_finds_its_slot_taken() -> None:
    runs = Runs(body("old", "RUNNING"), body("new"))
    due = SupervisedRun.from_body(runs.bodies["new"])
    skipped = admit_launch(runs, due, spec(concurrencyPolicy="Forbid"), NOW)
    assert isinstance(skipped, Skip)
    assert skipped.body is runs.bodies["new"]
    assert "old" in skipped.message


def test_replace_asks_the_older_run_to_cancel_and_says_so_on_it() -> None:
    runs = Runs(body("old", "RUNNING"), body("new"))
    due = SupervisedRun.from_body(runs.bodies["new"])
    assert admit_launch(runs, due, spec(concurrencyPolicy="Replace"), NOW) == ReplaceOthers(
        ("old",), (replaced_event(runs.bodies["old"], "new"),)
    )


@pytest.mark.parametrize("policy", ["Allow", "Forbid", "Replace"])
def test_a_free_slot_launches_at_once(policy: str) -> None:
    runs = Runs(body("old", "COMPLETED"), body("new"))
    due = SupervisedRun.from_body(runs.bodies["new"])
    assert admit_launch(runs, due, spec(concurrencyPolicy=policy, concurrencyLimit=1), NOW) is None
