"""What the flow process reads from its FlowRun (cancel/pause requests) and writes of a pause."""

from __future__ import annotations

from typing import Any

from kflow.cluster.backend import pause_status
from kflow.cluster.control import ControlView, control_view, outside_stop_message


def flow_run(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"resourceVersion": "1"}, "spec": spec, "status": status or {}}


def test_nothing_asked() -> None:
    assert control_view(flow_run({})) == ControlView(cancel=False, paused=False)


def test_spec_cancel_and_an_operators_cancelling_both_cancel() -> None:
    assert control_view(flow_run({"cancel": True})).cancel
    cancelling = {"state": {"type": "CANCELLING", "message": "stopping"}}
    view = control_view(flow_run({}, cancelling))
    assert view.cancel and view.reason == "stopping"


def test_spec_paused_pauses() -> None:
    view = control_view(flow_run({"paused": True}))
    assert view.paused and not view.cancel


def test_pause_status_names_every_field_so_an_old_pause_leaves_nothing_behind() -> None:
    assert pause_status(False, None) == {
        "reschedule": False,
        "timeoutTime": None,
        "key": None,
    }
    with_timeout = pause_status(True, 60)
    assert with_timeout["reschedule"] is True
    assert with_timeout["timeoutTime"].endswith("Z")


def test_the_run_knows_what_infrastructure_it_is_in() -> None:
    view = control_view(flow_run({}, {"infrastructure": {"type": "docker", "id": "c0ffee"}}))
    assert view.infrastructure == "docker"
    assert control_view(flow_run({})).infrastructure == ""


def test_a_stop_from_outside_names_the_causes_of_the_runs_infrastructure() -> None:
    docker = outside_stop_message("SIGTERM", "docker")
    assert docker.startswith(
        "Flow run process was terminated by SIGTERM without a cancellation request"
    )
    assert "Docker daemon shut down or restarted without live-restore" in docker
    assert "pod" not in docker
    assert "its pod or Job deleted" in outside_stop_message("SIGTERM", "kubernetes-job")
    assert "Docker" not in outside_stop_message("SIGTERM", "kubernetes-job")
    assert "killed from outside" in outside_stop_message("SIGTERM", "process")
    assert "stopped from outside" in outside_stop_message("SIGTERM", "")
