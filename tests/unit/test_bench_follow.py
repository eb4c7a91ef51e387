"""The benchmarks' observers against an API server whose watch cache is behind: they keep their
position and wait for the cache, instead of relisting until they give up (a `bench.scale --quick`
ended with "the watch deployments-counts failed: (504) Too large resource version: 5723,
current: 5688" after a minute of that)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from kubernetes.client.exceptions import ApiException

from bench._cluster import PodWatch
from bench._object_counts import ObjectCounts
from tests.support.list_answers import list_answer

BEHIND_FOR_SECONDS = 0.5
FAILING_LIMIT_SECONDS = 0.2


def flowrun(name: str, version: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": version}, "status": {}}


class OneEvent:
    """A watch response that carries one ADDED event, then ends."""

    status = 200

    def stream(self, amt: Any = None, decode_content: Any = None) -> Iterator[bytes]:
        yield json.dumps({"type": "ADDED", "object": flowrun("b", "11")}).encode() + b"\n"

    def release_conn(self) -> None:
        pass

    def close(self) -> None:
        pass


class BehindServer:
    """Lists at revision 10; answers every watch with 504 "Too large resource version" for
    BEHIND_FOR_SECONDS (no object of the kind written meanwhile), then sends one change."""

    def __init__(self) -> None:
        self.caught_up_at = time.monotonic() + BEHIND_FOR_SECONDS
        self.calls: list[tuple[str, str | None]] = []
        self.served = threading.Event()

    def list_namespaced_custom_object(self, *args: str, **kwargs: Any) -> Any:
        if not kwargs.get("watch"):
            self.calls.append(("list", None))
            return list_answer([flowrun("a", "5")])
        self.calls.append(("watch", kwargs.get("resource_version")))
        if time.monotonic() < self.caught_up_at or self.served.is_set():
            raise ApiException(status=504, reason="Too large resource version: 10, current: 9")
        self.served.set()
        return OneEvent()


def test_a_watch_ahead_of_the_servers_cache_waits_for_it_and_keeps_its_position() -> None:
    server = BehindServer()
    api: Any = SimpleNamespace(objects=server)
    with (
        mock.patch("bench._follow.FAILING_LIMIT_SECONDS", FAILING_LIMIT_SECONDS),
        mock.patch("kflow_operator.kubeapi.list_watch.BEHIND_RETRY_SECONDS", 0.01),
        ObjectCounts(api, "bench", "flowruns") as counts,
    ):
        assert counts.wait_seen(2, timeout=10), server.calls
    assert server.calls.count(("list", None)) == 1, server.calls
    watches = [version for call, version in server.calls if call == "watch"]
    assert watches[0] == "10" and len(set(watches)) <= 2, "asked from the list's revision on"


def test_a_watch_that_cannot_reach_the_server_fails_the_waits_past_the_limit() -> None:
    """Figures from a deaf watch would be wrong: the benchmark stops with the reason."""

    def refused(*args: str, **kwargs: Any) -> Any:
        raise ConnectionRefusedError("no API server at 127.0.0.1:1")

    api: Any = SimpleNamespace(objects=SimpleNamespace(list_namespaced_custom_object=refused))
    with (
        mock.patch("bench._follow.FAILING_LIMIT_SECONDS", FAILING_LIMIT_SECONDS),
        mock.patch("kflow_operator.kubeapi.list_watch.RETRY_SECONDS", (0.01,)),
        ObjectCounts(api, "bench", "flowruns") as counts,
        pytest.raises(RuntimeError, match=r"flowruns-counts failed for .* no API server"),
    ):
        counts.wait_seen(1, timeout=10)


def pod(name: str, run: str, *states: dict[str, Any]) -> dict[str, Any]:
    statuses = [{"name": "flow", "state": state} for state in states]
    return {
        "metadata": {"name": name, "labels": {"kflow.dev/run": run}},
        "status": {"containerStatuses": statuses},
    }


def test_a_pod_watch_times_the_first_started_container_and_the_last_pod_gone() -> None:
    """Pods come as the API server's JSON (ListWatch does not build client models)."""

    def not_listed(*args: str, **kwargs: Any) -> Any:
        raise AssertionError("the watch is not started: events are given to it directly")

    api: Any = SimpleNamespace(core=SimpleNamespace(list_namespaced_pod=not_listed))
    pods = PodWatch(api, "bench", "kflow.dev/run")
    pods.on_event("ADDED", pod("p1", "r", {"waiting": {"reason": "ContainerCreating"}}), 1.0)
    assert pods.started_at("r") is None
    pods.on_event("MODIFIED", pod("p1", "r", {"terminated": {"exitCode": 0}}), 2.0)
    pods.on_event("MODIFIED", pod("p1", "r", {"running": {"startedAt": "x"}}), 3.0)
    assert pods.started_at("r") == 2.0, "a container already ended was started"
    pods.on_event("ADDED", pod("p2", "r", {"running": {}}), 4.0)
    pods.on_event("DELETED", pod("p1", "r"), 5.0)
    assert pods.all_gone_at("r") is None, "p2 is left"
    pods.on_event("DELETED", pod("p2", "r"), 6.0)
    assert pods.all_gone_at("r") == 6.0
    pods.on_event("ADDED", {"metadata": {"name": "other"}}, 7.0)
    assert pods.started_at("other") is None
