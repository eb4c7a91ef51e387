"""A FlowRun has a state from the moment it exists: one not yet due — created by hand with a
future spec.scheduledTime, or ahead by a Deployment's schedule — is SCHEDULED `Scheduled` at
once (it used to have no status at all until launched: an empty STATE column in `kubectl get
fr`, a blank in `kflow flow-run ls`), stays so until it is due or cancelled, and is launched
once, on time, across an operator restart. Cancelling a SCHEDULED run:
test_flowrun_cancel.py."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Cluster, OperatorFactory, OperatorProcess, wait_until
from tests.integration.schedules_support import (
    PROCESS_ONLY,
    launch_time,
    names,
    runs_of,
    scheduled_time,
    shell_schedule_deployment,
    state_of,
)
from tests.integration.test_execute_cli import kflow
from tests.integration.test_flowrun_flows import deploy, output
from tests.integration.test_flowrun_lifecycle import shell_deployment

pytestmark = pytest.mark.integration

SCHEDULED_WITHIN = 5.0
"""Seconds from creation to SCHEDULED the tests allow (the operator takes milliseconds; the
margin is for a loaded machine)."""


def rfc3339(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def history(run: dict[str, Any]) -> list[str]:
    return [entry["type"] for entry in (run.get("status") or {}).get("stateHistory") or []]


def kubectl_state_column(cluster: Cluster, name: str) -> str:
    """The STATE cell of `kubectl get fr NAME` (the second column; names have no spaces)."""
    header, row = cluster.kubectl.run("get", "fr", name).splitlines()
    assert header.split()[:2] == ["NAME", "STATE"], header
    return row.split()[1]


def test_a_run_created_for_later_is_scheduled_at_once_and_shown_so(
    cluster: Cluster, operator: OperatorProcess, kubeconfig: Path, tmp_path: Path
) -> None:
    shell_deployment(cluster, "d", "exit 0")
    due = rfc3339(datetime.now(UTC) + timedelta(hours=1))
    cluster.flowrun("later", {"deploymentRef": {"name": "d"}, "scheduledTime": due})
    created_at = time.monotonic()
    run = cluster.wait_state("later", "SCHEDULED", timeout=SCHEDULED_WITHIN)
    waited = time.monotonic() - created_at
    status = run["status"]
    assert status["state"]["name"] == "Scheduled"
    assert status["state"]["message"] == f"Scheduled for {due}."
    assert history(run) == ["SCHEDULED"]
    assert "infrastructure" not in status
    assert waited < SCHEDULED_WITHIN

    assert kubectl_state_column(cluster, "later") == "Scheduled"
    wide = cluster.kubectl.run("get", "fr", "later", "-o", "wide")
    assert f"Scheduled for {due}." in wide

    home = tmp_path / "home"
    home.mkdir()
    listed = kflow("flow-run", "ls", "-n", cluster.namespace, kubeconfig=kubeconfig, home=home)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith("later "))
    assert row.split()[:3] == ["later", "Scheduled", "d"]
    assert f"{due} (in " in row, row
    wait_until(
        "a Scheduled Event",
        lambda: ("Normal", "Scheduled") in {(e.type, e.reason) for e in cluster.events("later")},
    )


def test_runs_a_schedule_creates_ahead_are_scheduled(
    cluster: Cluster, operators: OperatorFactory
) -> None:
    operators.start(*PROCESS_ONLY)
    # Hourly: the two runs ahead are due within two hours, none during the test.
    shell_schedule_deployment(cluster, "hourly", "exit 0", [{"interval": 3600}], upcomingRuns=2)

    def two_scheduled() -> list[dict[str, Any]] | None:
        runs = runs_of(cluster, "hourly")
        scheduled = [r for r in runs if state_of(r) == ("SCHEDULED", "Scheduled")]
        return scheduled if len(runs) == 2 and len(scheduled) == 2 else None

    runs = wait_until("both runs ahead SCHEDULED", two_scheduled, timeout=20)
    for run in runs:
        assert run["status"]["state"]["message"] == f"Scheduled for {rfc3339(scheduled_time(run))}."
        assert history(run) == ["SCHEDULED"]
        assert "infrastructure" not in run["status"]
        assert kubectl_state_column(cluster, run["metadata"]["name"]) == "Scheduled"
    printed = cluster.kubectl.run("get", "fr", "-l", "kflow.dev/deployment=hourly")
    assert all(name in printed for name in names(runs))


def test_a_run_due_in_seconds_is_scheduled_then_launched_on_time_and_completes(
    cluster: Cluster, operator: OperatorProcess, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    deploy(cluster, marks, "d", "flows.py:sums")
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
    cluster.flowrun(
        "soon",
        {"deploymentRef": {"name": "d"}, "parameters": {"n": 3}, "scheduledTime": rfc3339(due)},
    )
    run = cluster.wait_state("soon", "COMPLETED", "FAILED", "CRASHED", timeout=60)
    assert run["status"]["state"]["type"] == "COMPLETED", output(run)
    assert history(run) == ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"]
    first = run["status"]["stateHistory"][0]
    assert datetime.fromisoformat(first["timestamp"]) < due, "SCHEDULED before it was due"
    assert due <= launch_time(run), "never launched early"
    assert run["status"]["result"]["value"] == {"total": 6, "label": "default"}


def test_scheduled_across_an_operator_restart_and_launched_once(
    cluster: Cluster, operators: OperatorFactory, tmp_path: Path
) -> None:
    """A run created while no operator ran is SCHEDULED when one comes up; one SCHEDULED by an
    operator that is then killed is launched by the next, once, not before its time."""
    marks = tmp_path / "marks"
    marks.mkdir()
    shell_deployment(cluster, "d", f'echo ran >> {marks}/"$KFLOW_FLOW_RUN_NAME"; exit 3')
    later = rfc3339(datetime.now(UTC) + timedelta(hours=1))
    cluster.flowrun("later", {"deploymentRef": {"name": "d"}, "scheduledTime": later})
    cluster.flowrun(
        "cancelled", {"deploymentRef": {"name": "d"}, "scheduledTime": later, "cancel": True}
    )
    assert "status" not in cluster.get_flowrun("later"), "no operator runs yet"

    first = operators.start()
    cluster.wait_state("later", "SCHEDULED", timeout=SCHEDULED_WITHIN)
    cancelled = cluster.wait_state("cancelled", "CANCELLED")
    assert history(cancelled) == ["CANCELLED"], "a cancelled run is never shown upcoming"
    assert "infrastructure" not in cancelled["status"]

    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=5)
    cluster.flowrun("soon", {"deploymentRef": {"name": "d"}, "scheduledTime": rfc3339(due)})
    cluster.wait_state("soon", "SCHEDULED", timeout=SCHEDULED_WITHIN)
    first.sigkill()
    operators.start()

    run = cluster.wait_state("soon", "CRASHED", timeout=60)
    assert history(run) == ["SCHEDULED", "PENDING", "CRASHED"]
    assert due <= launch_time(run), "never launched early"
    assert run["status"]["infrastructure"]["attempt"] == 1
    assert (marks / "soon").read_text() == "ran\n", "ran exactly once"
    still = cluster.get_flowrun("later")
    assert history(still) == ["SCHEDULED"], "the restarted operator leaves it as it was"
    assert not (marks / "later").exists()
