"""What the dashboard's actions write, and the run page's rendering of hostile text."""

from __future__ import annotations

from datetime import UTC, datetime

from kflow.dashboard.changes import CANCEL, RESUME, retry_body, run_now_body
from kflow.dashboard.pages.common import Scope
from kflow.dashboard.pages.run import run_page

HOSTILE = '"><img src=x onerror=alert(1)>'


def test_cancel_and_resume_write_only_the_spec_fields_of_the_protocol() -> None:
    assert CANCEL == {"cancel": True}
    assert RESUME == {"paused": False}


def test_run_now_creates_a_flowrun_of_the_deployment_with_the_given_parameters() -> None:
    assert run_now_body("nightly", {"n": 3}) == {
        "apiVersion": "kflow.dev/v1alpha1",
        "kind": "FlowRun",
        "metadata": {"generateName": "nightly-"},
        "spec": {"deploymentRef": {"name": "nightly"}, "parameters": {"n": 3}},
    }
    assert "parameters" not in run_now_body("d", {})["spec"]
    assert run_now_body("x" * 80, {})["metadata"]["generateName"] == "x" * 50 + "-"


def test_retry_keeps_what_to_run_and_drops_schedule_requests_and_parent() -> None:
    run = {
        "metadata": {"name": "first", "namespace": "ns", "uid": "u"},
        "spec": {
            "deploymentRef": {"name": "d"},
            "parameters": {"a": 1},
            "tags": ["t"],
            "cancelGracePeriodSeconds": 5,
            "scheduledTime": "2026-01-01T00:00:00Z",
            "cancel": True,
            "paused": True,
            "parentRef": {"name": "p"},
            "runName": "fixed",
        },
    }
    body = retry_body(run)
    assert body["metadata"] == {
        "generateName": "d-",
        "annotations": {"kflow.dev/retry-of": "first"},
    }
    assert body["spec"] == {
        "deploymentRef": {"name": "d"},
        "parameters": {"a": 1},
        "tags": ["t"],
        "cancelGracePeriodSeconds": 5,
    }


def test_retry_of_an_inline_run_keeps_its_entrypoint_and_infrastructure() -> None:
    run = {
        "metadata": {"name": "adhoc"},
        "spec": {"entrypoint": "f.py:main", "infrastructure": {"type": "process"}},
    }
    assert retry_body(run)["metadata"]["generateName"] == "adhoc-"
    assert retry_body(run)["spec"] == run["spec"]


def test_the_run_page_escapes_names_messages_parameters_results_and_events() -> None:
    run = {
        "metadata": {"name": "r", "namespace": "ns", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"deploymentRef": {"name": "d"}, "parameters": {HOSTILE: HOSTILE}},
        "status": {
            "state": {"type": "FAILED", "name": "Failed", "message": HOSTILE,
                      "timestamp": "2026-01-01T00:00:01Z"},
            "stateHistory": [{"type": "FAILED", "name": HOSTILE, "message": HOSTILE,
                              "timestamp": "2026-01-01T00:00:01Z"}],
            "runName": HOSTILE,
            "result": {"value": HOSTILE},
            "taskRuns": {"total": 1, "recent": [{"id": "1", "name": HOSTILE, "stateType": "FAILED",
                                                  "message": HOSTILE}]},
        },
    }  # fmt: skip
    event = {"type": "Warning", "reason": HOSTILE, "message": HOSTILE, "involvedObject": {}}
    view = run_page(
        run,
        None,
        [],
        ([event], HOSTILE),
        Scope("ns", "ctx", "https://api", "token"),
        datetime(2026, 1, 1, tzinfo=UTC),
        problem=HOSTILE,
    )
    for markup in (view.live, view.before):
        assert "<img" not in markup
    assert view.live.count("&lt;img") >= 8
