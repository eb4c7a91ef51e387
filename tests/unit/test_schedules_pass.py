"""The pure parts of a scheduling pass: labels, run bodies, the missed-run window."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from kflow.states import StateType
from kflow_operator.scheduling.deployment_pass import _window_start
from kflow_operator.scheduling.run_bodies import (
    DEPLOYMENT_LABEL,
    SCHEDULED_LABEL,
    deployment_label_value,
    is_schedule_run_name,
    scheduled_run_body,
)
from kflow_operator.scheduling.views import deployment_run

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def deployment(**status: object) -> dict[str, object]:
    return {
        "apiVersion": "kflow.dev/v1alpha1",
        "kind": "Deployment",
        "metadata": {
            "name": "nightly",
            "namespace": "team",
            "uid": "0000-uid",
            "generation": 2,
            "creationTimestamp": "2026-06-01T00:00:00Z",
        },
        "spec": {},
        "status": status,
    }


def test_label_values_fit_kubernetes_rules() -> None:
    assert deployment_label_value("nightly") == "nightly"
    long = "a." * 100 + "b"
    value = deployment_label_value(long)
    assert len(value) <= 63 and LABEL_VALUE.match(value)
    assert value != deployment_label_value(long + "c")


def test_a_scheduled_run_body_is_labelled_owned_and_named_by_uid_and_time() -> None:
    body = scheduled_run_body(deployment(), NOW)
    meta = body["metadata"]
    assert meta["labels"] == {DEPLOYMENT_LABEL: "nightly", SCHEDULED_LABEL: "true"}
    assert meta["ownerReferences"][0]["uid"] == "0000-uid"
    assert meta["name"].startswith("nightly-20260601-120000-")
    assert body["spec"] == {
        "deploymentRef": {"name": "nightly"},
        "scheduledTime": "2026-06-01T12:00:00.000000Z",
    }
    assert is_schedule_run_name(meta["name"], "nightly", NOW)
    assert not is_schedule_run_name(meta["name"], "nightly", NOW + timedelta(seconds=1))
    assert not is_schedule_run_name("nightly-by-hand", "nightly", NOW)
    assert not is_schedule_run_name(meta["name"], "nightly", None)


def test_run_view_of_a_run_the_operator_has_not_touched_yet() -> None:
    body = scheduled_run_body(deployment(), NOW)
    body["metadata"]["creationTimestamp"] = "2026-06-01T11:00:00Z"
    view = deployment_run(body)
    assert (view.state_type, view.state_name) == (StateType.SCHEDULED, "Scheduled")
    assert view.from_schedule and view.scheduled_time == NOW and view.is_unstarted


def test_missed_runs_count_from_the_last_fire_time_dealt_with() -> None:
    seen = deployment(observedGeneration=2, lastScheduleTime="2026-06-01T10:00:00Z")
    assert _window_start(seen, NOW) == datetime(2026, 6, 1, 10, tzinfo=UTC)


def test_a_new_deployment_counts_from_its_creation() -> None:
    assert _window_start(deployment(), NOW) == datetime(2026, 6, 1, tzinfo=UTC)
    never_fired = deployment(observedGeneration=2)
    assert _window_start(never_fired, NOW) == datetime(2026, 6, 1, tzinfo=UTC)


def test_a_changed_spec_counts_from_now() -> None:
    changed = deployment(observedGeneration=1, lastScheduleTime="2026-01-01T00:00:00Z")
    assert _window_start(changed, NOW) == NOW
