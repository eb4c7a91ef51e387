"""The Events the operator posts itself (kubeapi/event_poster.py): what `kubectl describe`
shows of them."""

from __future__ import annotations

from datetime import UTC, datetime

from kflow_operator.kubeapi.event_poster import MESSAGE_LIMIT, PendingEvent, event_body, reference

RUN = {
    "apiVersion": "kflow.dev/v1alpha1",
    "kind": "FlowRun",
    "metadata": {"namespace": "team", "name": "r", "uid": "u-1", "resourceVersion": "7"},
}


def test_an_event_names_its_object_and_the_operator() -> None:
    at = datetime(2026, 12, 4, 23, 0, 0, 123456, tzinfo=UTC)
    body = event_body(
        PendingEvent(reference(RUN), "Warning", "Crashed", "exited with code 3", at), "me"
    )
    assert body["involvedObject"] == {
        "apiVersion": "kflow.dev/v1alpha1",
        "kind": "FlowRun",
        "name": "r",
        "namespace": "team",
        "uid": "u-1",
    }
    assert body["metadata"]["namespace"] == "team"
    assert (body["type"], body["reason"], body["message"]) == (
        "Warning",
        "Crashed",
        "exited with code 3",
    )
    assert body["source"] == {"component": "kflow-operator"}
    assert body["eventTime"] == "2026-12-04T23:00:00.123456Z"


def test_a_long_message_keeps_its_start_and_end_within_the_servers_limit() -> None:
    message = "start " + "x" * 5000 + " end"
    body = event_body(PendingEvent(reference(RUN), "Normal", "R", message, datetime.now(UTC)), "me")
    assert len(body["message"]) <= MESSAGE_LIMIT
    assert body["message"].startswith("start ") and body["message"].endswith(" end")
