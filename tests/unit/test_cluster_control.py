"""What the flow process reads from its FlowRun (cancel/pause requests) and writes of a pause."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kflow.cluster.backend import pause_status
from kflow.cluster.control import (
    ControlView,
    FlowRunWatcher,
    control_view,
    outside_stop_message,
)


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


class WatchedRun:
    """A FlowRun API whose watch replays the changes made since the version asked for."""

    name = "r"

    def __init__(self) -> None:
        self.watched_from: list[str] = []
        self.changed = threading.Event()

    def watch(self, resource_version: str, timeout_seconds: int) -> Iterator[tuple[str, Any]]:
        self.watched_from.append(resource_version)
        yield "MODIFIED", {"metadata": {"resourceVersion": "2"}, "spec": {"paused": True}}
        self.changed.wait(timeout_seconds)

    def get(self, timeout: float | None = None) -> dict[str, Any]:
        return flow_run({})


def test_a_run_that_ends_within_the_watch_delay_never_opens_a_watch() -> None:
    api = WatchedRun()
    watcher = FlowRunWatcher(api, flow_run({}), lambda view: None)  # type: ignore[arg-type]
    watcher.start()
    watcher.stop()
    watcher._thread.join(5)
    assert not watcher._thread.is_alive()
    assert api.watched_from == []


def test_a_change_made_before_the_watch_opened_is_seen_when_it_opens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("kflow.cluster.control.WATCH_DELAY_SECONDS", 0.05)
    api = WatchedRun()
    seen = queue.Queue[ControlView]()
    watcher = FlowRunWatcher(api, flow_run({}), seen.put)  # type: ignore[arg-type]
    watcher.start()
    try:
        assert seen.get(timeout=5).paused
        assert api.watched_from == ["1"], "from the version the run was read at"
    finally:
        watcher.stop()
        api.changed.set()
