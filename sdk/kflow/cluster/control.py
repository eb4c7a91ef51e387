"""Watching the run's own FlowRun for what users ask through its spec.

`spec.cancel`, an operator's CANCELLING, and `spec.paused` reach the engine through the
backend's `RunControl` flags, which the engine reads at every task boundary. A watch (opened a
second into the run, with bookmarks, restarted from the last seen resourceVersion, re-read
after 410 Gone) keeps the latency to one event, at no cost while nothing changes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kflow.cluster.flowrun_api import (
    GONE,
    NOT_FOUND,
    TRANSIENT_ERRORS,
    FlowRunApi,
    short_error,
)
from kflow.cluster.rest import ApiError
from kflow.states import StateType

logger = logging.getLogger("kflow.cluster")

WATCH_TIMEOUT_SECONDS = 60
RECONNECT_DELAY_SECONDS = 1.0
WATCH_DELAY_SECONDS = 1.0
"""How long after the run starts its watch is opened. A run that ends sooner (most do, on a
warm process) never opens one: its own TLS connection and watch cost the API server and the
run's start-up CPU, which on a busy host is what the next run's start waits for. Nothing
is missed meanwhile: the watch starts from the version the run was read at, so a change made
in that second is seen when it opens; a stop signal re-reads the FlowRun at once
(FlowRunBackend.stop_signal)."""


@dataclass(frozen=True)
class ControlView:
    """What the FlowRun currently asks of the running flow."""

    cancel: bool
    paused: bool
    gone: bool = False
    reason: str | None = None
    infrastructure: str = ""
    """status.infrastructure.type: what the run is in, so a stop from outside names its causes."""


def control_view(obj: Mapping[str, Any]) -> ControlView:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    state = status.get("state") or {}
    paused = bool(spec.get("paused"))
    infrastructure = str((status.get("infrastructure") or {}).get("type") or "")
    if spec.get("cancel"):
        reason = "cancel requested (spec.cancel)"
        return ControlView(True, paused, reason=reason, infrastructure=infrastructure)
    if state.get("type") in (StateType.CANCELLING.value, StateType.CANCELLED.value):
        message = state.get("message") or f"the FlowRun is {state['type']}"
        return ControlView(True, paused, reason=str(message), infrastructure=infrastructure)
    return ControlView(cancel=False, paused=paused, infrastructure=infrastructure)


OUTSIDE_STOPS = {
    "kubernetes-job": "evicted, its pod or Job deleted, or its node shut down",
    "docker": "its container stopped from outside (`docker stop`/`docker kill`), or the Docker "
    "daemon shut down or restarted without live-restore",
    "process": "killed from outside, or the operator's machine shut down",
}
"""What stops a run's process without a cancellation request, by infrastructure type."""


def outside_stop_message(signal_name: str, infrastructure: str) -> str:
    """The CRASHED message of a run stopped by a signal nobody asked for through the FlowRun:
    the likely causes for the infrastructure it ran in."""
    causes = OUTSIDE_STOPS.get(
        infrastructure, "evicted, its pod or Job deleted, or stopped from outside"
    )
    return (
        f"Flow run process was terminated by {signal_name} without a cancellation request "
        f"(spec.cancel not set): {causes}."
    )


GONE_VIEW = ControlView(cancel=True, paused=False, gone=True, reason="the FlowRun was deleted")


class FlowRunWatcher:
    """Calls `on_change` with every new `ControlView`, from its own thread."""

    def __init__(
        self,
        api: FlowRunApi,
        initial: Mapping[str, Any],
        on_change: Callable[[ControlView], None],
    ) -> None:
        self._api = api
        self._on_change = on_change
        self._view = control_view(initial)
        self._resource_version = str(initial["metadata"]["resourceVersion"])
        self._stopped = threading.Event()
        self._failures = 0
        self._thread = threading.Thread(
            target=self._run, name=f"kflow-watch-{api.name}", daemon=True
        )

    @property
    def view(self) -> ControlView:
        return self._view

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop reacting; the thread ends at its next event or watch timeout (a daemon)."""
        self._stopped.set()

    def _run(self) -> None:
        if self._stopped.wait(WATCH_DELAY_SECONDS):
            return
        while not self._stopped.is_set():
            try:
                self._follow()
            except ApiError as error:
                if error.status == GONE:
                    self._reread()
                elif error.status == NOT_FOUND:
                    self._emit(GONE_VIEW)
                    return
                else:
                    self._reconnect_after(error)
            except TRANSIENT_ERRORS as error:
                self._reconnect_after(error)
            if self._view.gone:
                return

    def _follow(self) -> None:
        for kind, obj in self._api.watch(self._resource_version, WATCH_TIMEOUT_SECONDS):
            if self._stopped.is_set():
                return
            self._resource_version = str(obj["metadata"]["resourceVersion"])
            self._failures = 0
            if kind == "BOOKMARK":
                continue
            if kind == "DELETED":
                self._emit(GONE_VIEW)
                return
            self._emit(control_view(obj))

    def _reconnect_after(self, error: Exception) -> None:
        self._failures += 1
        if self._failures % 10 == 1:  # the first failure of an outage, then every tenth
            logger.warning("watching the FlowRun failed (%s); reconnecting", short_error(error))
        self._pause_then_reread()

    def _pause_then_reread(self) -> None:
        if self._stopped.wait(RECONNECT_DELAY_SECONDS):
            return
        try:
            self._reread()
        except ApiError as error:
            if error.status == NOT_FOUND:
                self._emit(GONE_VIEW)
        except TRANSIENT_ERRORS:
            return  # the next watch starts from the last version seen and retries

    def _reread(self) -> None:
        obj = self._api.get()
        self._resource_version = str(obj["metadata"]["resourceVersion"])
        self._emit(control_view(obj))

    def _emit(self, view: ControlView) -> None:
        if view == self._view or self._stopped.is_set():
            return
        self._view = view
        try:
            self._on_change(view)
        except Exception:
            logger.exception("reacting to a FlowRun change failed")
