"""Operator metrics: API requests by verb and code, worker pools, the active replica, the
metrics address."""

from __future__ import annotations

import argparse
import logging
import socket
import threading
import urllib.request
from typing import Any
from unittest import mock

import pytest
from kflow_operator.acting import PeeringObserver
from kflow_operator.kubeapi.list_watch import ListWatch
from kflow_operator.metrics.api_requests import NO_ANSWER, timed, verb_and_resource
from kflow_operator.metrics.instruments import REGISTRY
from kflow_operator.metrics.server import Address, listen, parse_address
from kflow_operator.metrics.thread_pools import PoolGauges, TrackedThreadPool
from kubernetes.client.exceptions import ApiException
from prometheus_client import CollectorRegistry, generate_latest

from tests.support.list_answers import list_answer

BASE = "https://127.0.0.1:6443"
RUNS = f"{BASE}/apis/kflow.dev/v1alpha1/namespaces/team/flowruns"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize(
    ("method", "url", "expected"),
    [
        ("GET", f"{RUNS}/a", ("get", "flowruns")),
        ("GET", RUNS, ("list", "flowruns")),
        ("GET", f"{RUNS}?watch=True&resourceVersion=5", ("watch", "flowruns")),
        ("GET", f"{BASE}/apis/kflow.dev/v1alpha1/flowruns?watch=true", ("watch", "flowruns")),
        ("PATCH", f"{RUNS}/a/status", ("patch", "flowruns/status")),
        ("POST", RUNS, ("create", "flowruns")),
        ("PUT", f"{RUNS}/a", ("update", "flowruns")),
        ("DELETE", f"{RUNS}/a", ("delete", "flowruns")),
        ("DELETE", RUNS, ("deletecollection", "flowruns")),
        ("GET", f"{BASE}/api/v1/namespaces/kube-system", ("get", "namespaces")),
        (
            "POST",
            f"{BASE}/api/v1/namespaces/t/serviceaccounts/sa/token",
            ("create", "serviceaccounts/token"),
        ),
        (
            "GET",
            f"{BASE}/apis/kopf.dev/v1/clusterkopfpeerings/kflow",
            ("get", "clusterkopfpeerings"),
        ),
    ],
)
def test_requests_are_named_by_kubernetes_verb_and_resource(
    method: str, url: str, expected: tuple[str, str]
) -> None:
    assert verb_and_resource(method, url) == expected


class Answer:
    def __init__(self, status: int) -> None:
        self.status = status


class Refusal(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


def test_every_request_is_counted_by_its_answer_and_timed() -> None:
    url = f"{BASE}/apis/kflow.dev/v1alpha1/namespaces/t/timedthings/x"

    def answer(method: str, url: str, **_: Any) -> Answer:
        return Answer(409 if method == "PATCH" else 200)

    def refuse(method: str, url: str, **_: Any) -> Answer:
        raise Refusal(0)  # what the client raises for a TLS failure: no HTTP answer

    timed(answer)("GET", url)
    timed(answer)("PATCH", url, body={})
    with pytest.raises(Refusal):
        timed(refuse)("GET", url)
    assert (
        sample(
            "kflow_kubernetes_api_requests_total", verb="get", resource="timedthings", code="200"
        )
        == 1
    )
    assert (
        sample(
            "kflow_kubernetes_api_requests_total", verb="patch", resource="timedthings", code="409"
        )
        == 1
    )
    assert (
        sample(
            "kflow_kubernetes_api_requests_total",
            verb="get",
            resource="timedthings",
            code=NO_ANSWER,
        )
        == 1
    )
    assert (
        sample(
            "kflow_kubernetes_api_request_duration_seconds_count",
            verb="get",
            resource="timedthings",
        )
        == 2
    )


def test_a_pool_reports_waiting_and_running_tasks() -> None:
    pool = TrackedThreadPool("unit-test", 1)
    release = threading.Event()
    running = threading.Event()

    def block() -> None:
        running.set()
        release.wait(10)

    first = pool.submit(block)
    assert running.wait(10)
    queued = [pool.submit(block) for _ in range(2)]
    registry = CollectorRegistry()
    registry.register(PoolGauges())
    text = generate_latest(registry).decode()
    assert 'kflow_work_queue_depth{pool="unit-test"} 2.0' in text
    assert 'kflow_busy_workers{pool="unit-test"} 1.0' in text
    assert 'kflow_workers{pool="unit-test"} 1.0' in text
    queued[1].cancel()
    release.set()
    first.result(10)
    queued[0].result(10)
    pool.shutdown(wait=True)
    assert (pool.queued, pool.busy) == (0, 0)


def record(message: str) -> logging.LogRecord:
    return logging.LogRecord("kopf", logging.INFO, __file__, 1, message, None, None)


def test_the_replica_is_active_once_every_peering_resumed_and_until_one_pauses() -> None:
    observer = PeeringObserver(peerings=2)
    assert sample("kflow_operator_active") == 0
    observer.filter(record("Resuming operations after the pause. Conflicting operators gone."))
    assert sample("kflow_operator_active") == 0
    observer.filter(record("Resuming operations after the pause. Conflicting operators gone."))
    assert sample("kflow_operator_active") == 1
    observer.filter(record("Keep-alive in 'kflow' cluster-wide: ok."))
    assert sample("kflow_operator_active") == 1
    observer.filter(record("Pausing operations in favour of [<Peer other>]."))
    assert sample("kflow_operator_active") == 0


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("0.0.0.0:8080", Address("0.0.0.0", 8080)),
        ("127.0.0.1:9090", Address("127.0.0.1", 9090)),
        (":8080", Address("0.0.0.0", 8080)),
        ("[::1]:8080", Address("::1", 8080)),
    ],
)
def test_metrics_addresses(text: str, address: Address) -> None:
    assert parse_address(text) == address


@pytest.mark.parametrize("text", ["8080", "host:", "host:http", "host:70000", "host:0"])
def test_a_bad_metrics_address_says_what_is_expected(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="expected HOST:PORT"):
        parse_address(text)


def test_a_taken_metrics_address_ends_the_operator_naming_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as exit_info:
            listen(Address("127.0.0.1", port))
    message = str(exit_info.value.code)
    assert f"cannot serve metrics on 127.0.0.1:{port}" in message
    assert "Address already in use" in message
    assert "choose another --metrics-address HOST:PORT" in message


def test_the_endpoint_serves_the_registry_as_prometheus_text() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    listen(Address("127.0.0.1", port))
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    assert "# TYPE kflow_kubernetes_api_requests_total counter" in text
    assert all(
        line.startswith(("# HELP kflow_", "# TYPE kflow_", "kflow_"))
        for line in text.splitlines()
        if line
    )


def test_a_watch_that_cannot_continue_counts_one_relist_per_listing_again() -> None:
    """410 Gone and a server error each make the watch list again (counted); a dropped
    connection, a 429 and a watch ahead of the server's cache are asked for again from the same
    position without listing (not counted)."""
    closed = threading.Event()
    calls: list[str] = []
    answers = [
        ApiException(status=410, reason="Gone"),
        ConnectionResetError("dropped"),
        ApiException(status=429, reason="Too Many Requests"),
        ApiException(status=500, reason="Internal Server Error"),
        ApiException(status=504, reason="Too large resource version"),
    ]

    def lister(**kwargs: Any) -> Any:
        if not kwargs.get("watch"):
            calls.append("list")
            return list_answer([])
        calls.append("watch")
        if not answers:
            closed.set()
            raise ApiException(status=504, reason="Too large resource version")
        raise answers.pop(0)

    relists = "kflow_watch_relists_total"
    with (
        mock.patch("kflow_operator.kubeapi.list_watch.BEHIND_RETRY_SECONDS", 0.01),
        mock.patch("kflow_operator.kubeapi.list_watch.RETRY_SECONDS", (0.01,)),
    ):
        ListWatch("relisted things", lister, "", lambda change: None, closed, "relisted").run()
    assert calls == ["list", "watch", "list", "watch", "watch", "watch", "list", "watch", "watch"]
    assert sample(relists, resource="relisted", reason="expired") == 1
    assert sample(relists, resource="relisted", reason="error") == 1
